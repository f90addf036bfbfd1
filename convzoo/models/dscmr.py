"""DSCMR: deep supervised cross-modal retrieval, a common space for image and text features.

Paper: Deep Supervised Cross-modal Retrieval (Liangli Zhen, Peng Hu, Xu Wang, Dezhong Peng,
CVPR 2019) https://openaccess.thecvf.com/content_CVPR_2019/html/Zhen_Deep_Supervised_Cross-Modal_Retrieval_CVPR_2019_paper.html

Cross-modal retrieval ranks the items of one modality (texts) for a query of the other (an
image). DSCMR maps both modalities into one *common space* where an image and the texts of
its class lie close, and scores retrieval by the cosine of their representations. Each
modality has its own subnetwork over precomputed features (4096-d VGG-19 fc7 features of
the images, 300-d Doc2Vec features of the texts in the released code); their last layer is
shared, so that both land in the same space; one linear classifier ``P`` over that space is
shared too (Section 3.1)::

    image features 4096 -> Linear 1024 + ReLU --\\
                                                  shared Linear 1024 -> 1024 (u, v: the common space)
    text features   300 -> Linear 1024 + ReLU --/        shared classifier P: 1024 -> classes

The three losses that train it (discrimination in the label space and in the common space,
modality invariance) are the crossmodal task's
(:func:`convzoo.tasks.crossmodal.losses.dscmr_loss`).

With Pascal Sentence's sizes (4096, 300, 20 classes) the network has 4,195,328 + 308,224
(modality layers) + 1,049,600 (shared layer) + 20,500 (classifier) = 5,573,652 parameters.

Interface: ``forward(image_features, text_features)`` returns a :class:`DSCMROutput` of the
two common representations and the two label predictions. The training engine hands a pair
as one tensor, the image features then the text features along the last axis, and
``forward`` of one tensor splits it at ``image_dim`` (so the registry's ``input_size`` is
``(image_dim + text_dim,)``); :meth:`DSCMR.encode_image` and :meth:`DSCMR.encode_text` embed
one modality alone, for retrieval.

Deviations:
    None in the network: the sizes are those of the released code (penghu-cs/DSCMR). The
    layer widths are arguments (``hidden_dim``, ``common_dim``) so that small feature sets
    can use a small network.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import Paper, register_model

__all__ = ["DSCMR", "DSCMROutput", "PAPER", "dscmr"]

PAPER = Paper(
    title="Deep Supervised Cross-modal Retrieval",
    authors="Liangli Zhen, Peng Hu, Xu Wang, Dezhong Peng",
    venue="CVPR",
    year=2019,
    url="https://openaccess.thecvf.com/content_CVPR_2019/html/"
    "Zhen_Deep_Supervised_Cross-Modal_Retrieval_CVPR_2019_paper.html",
)


class DSCMROutput(NamedTuple):
    """What :class:`DSCMR` gives for a batch of pairs."""

    image_common: torch.Tensor  # (B, common_dim): u, the images in the common space
    text_common: torch.Tensor  # (B, common_dim): v, the texts in the common space
    image_logits: torch.Tensor  # (B, num_classes): P^T u
    text_logits: torch.Tensor  # (B, num_classes): P^T v


class DSCMR(nn.Module):
    """Two modality subnetworks whose last layer and classifier are shared.

    Args:
        image_dim: width of the image features (4096: VGG-19 fc7).
        text_dim: width of the text features (300: Doc2Vec).
        num_classes: the classes of the shared classifier (Pascal Sentence 20, Wikipedia 10).
        hidden_dim: width of each modality's own layer (1024).
        common_dim: width of the common space (1024).

    Shape:
        - ``forward(image, text)``: (B, image_dim), (B, text_dim) -> :class:`DSCMROutput`.
        - ``forward(pairs)``: (B, image_dim + text_dim) -> the same.
        - ``encode_image(image)``: (B, image_dim) -> (B, common_dim); ``encode_text`` likewise.
    """

    def __init__(self, image_dim: int = 4096, text_dim: int = 300, num_classes: int = 20, hidden_dim: int = 1024,
                 common_dim: int = 1024) -> None:
        super().__init__()
        for name, value in (("image_dim", image_dim), ("text_dim", text_dim), ("num_classes", num_classes),
                            ("hidden_dim", hidden_dim), ("common_dim", common_dim)):
            if value < 1:
                raise ConvzooError(f"DSCMR's {name} must be at least 1, got {value}")
        self.image_dim, self.text_dim, self.num_classes = image_dim, text_dim, num_classes
        self.common_dim = common_dim
        self.image_net = nn.Sequential(nn.Linear(image_dim, hidden_dim), nn.ReLU(inplace=True))
        self.text_net = nn.Sequential(nn.Linear(text_dim, hidden_dim), nn.ReLU(inplace=True))
        self.common = nn.Linear(hidden_dim, common_dim)  # shared by both modalities
        self.classifier = nn.Linear(common_dim, num_classes)  # P, shared by both modalities

    def _check(self, features: torch.Tensor, width: int, what: str) -> None:
        if features.dim() != 2 or features.shape[1] != width:
            raise InputShapeError(f"DSCMR expects {what} features shaped (batch, {width}), "
                                  f"got {tuple(features.shape)}")

    def encode_image(self, image_features: torch.Tensor) -> torch.Tensor:
        """u: the images' representations in the common space."""
        self._check(image_features, self.image_dim, "image")
        return self.common(self.image_net(image_features))  # (B, common_dim)

    def encode_text(self, text_features: torch.Tensor) -> torch.Tensor:
        """v: the texts' representations in the common space."""
        self._check(text_features, self.text_dim, "text")
        return self.common(self.text_net(text_features))  # (B, common_dim)

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor | None = None) -> DSCMROutput:
        if text_features is None:
            self._check(image_features, self.image_dim + self.text_dim, "concatenated image and text")
            image_features, text_features = image_features.split([self.image_dim, self.text_dim], dim=1)
        image_common = self.encode_image(image_features)
        text_common = self.encode_text(text_features)
        return DSCMROutput(image_common, text_common, self.classifier(image_common), self.classifier(text_common))


@register_model(
    family="dscmr",
    task="crossmodal",
    paper=PAPER,
    input_size=(4096 + 300,),
    num_classes=20,
    notes={
        "mAP on Pascal Sentence (the paper)": "image-to-text 0.710, text-to-image 0.722, average 0.716 "
        "(CCA: 0.226)",
        "parameters (4096, 300, 20 classes)": "4,195,328 + 308,224 + 1,049,600 + 20,500 = 5,573,652",
        "paper's recipe (released code)": "J1 + 1e-3 J2 + 1e-1 J3, Adam lr 1e-4, betas (0.5, 0.999), batch 100",
        "train": "convzoo train dscmr --task crossmodal (generated digit-sentence pairs); "
        "--dataset dscmr-features --data-dir D (the release's .mat features)",
    },
)
def dscmr(in_chans: int | None = None, **kwargs: Any) -> DSCMR:
    """DSCMR with the released code's sizes: 4096-d image and 300-d text features, 20 classes.

    ``in_chans``, which generic callers pass, is the width of a concatenated pair; it must
    be ``image_dim + text_dim``.
    """
    model = DSCMR(**kwargs)
    if in_chans is not None and in_chans != model.image_dim + model.text_dim:
        raise ConvzooError(f"dscmr takes pairs of {model.image_dim} image and {model.text_dim} text features "
                           f"({model.image_dim + model.text_dim} in all), not in_chans={in_chans}; set image_dim "
                           "and text_dim")
    return model
