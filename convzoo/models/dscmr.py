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

With ``image_encoder`` (a zoo classifier's name, e.g. ``"resnet18"``) the network owns that
CNN, built with its classifier removed (``reset_classifier(0)``: its pooled features), and
its image branch takes pixels shaped ``image_size`` (C, H, W): ``encode_image(pixels)`` is
the image layers over ``image_encoder(pixels)``, ``image_dim`` is the CNN's
``num_features``, and DSCMR's losses train the CNN too (the paper's image subnetwork is the
fc7 of a VGG-19 fixed beforehand; this is the end-to-end variant). A pair as one tensor is
then the flattened pixels, ``C * H * W`` values, followed by the text features. The CNN's
state-dict keys sit under ``image_encoder.``; the other keys are those of the plain network.

Deviations:
    None in the network: the sizes are those of the released code (penghu-cs/DSCMR). The
    layer widths are arguments (``hidden_dim``, ``common_dim``) so that small feature sets
    can use a small network. The optional ``image_encoder`` (a CNN trained with the
    losses) is convzoo's addition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import Paper, create_model, get_entry, register_model

__all__ = ["DSCMR", "DSCMROutput", "PAPER", "dscmr", "pooled_classifier"]

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


def pooled_classifier(name: str, image_size: Sequence[int] | None = None) -> tuple[nn.Module, tuple[int, int, int]]:
    """Zoo classifier ``name`` without its classifier (``(B, num_features)`` out) and the (C, H, W) it takes.

    ``image_size`` defaults to the classifier's registry input size; its channels are the
    network's ``in_chans``.
    """
    entry = get_entry(name)
    if entry.task != "classification":
        raise ConvzooError(f"image_encoder {name} is a {entry.task} model; give a classifier, e.g. resnet18")
    size = tuple(int(side) for side in (entry.input_size if image_size is None else image_size))
    if len(size) != 3 or min(size) < 1:
        raise ConvzooError(f"image_size must be (channels, height, width) for image_encoder {name}, got {size}")
    encoder = create_model(name, in_chans=size[0])
    encoder.reset_classifier(0)
    return encoder, size


class DSCMR(nn.Module):
    """Two modality subnetworks whose last layer and classifier are shared.

    Args:
        image_dim: width of the image features (4096: VGG-19 fc7). With ``image_encoder`` it
            is the encoder's ``num_features`` and may be left out.
        text_dim: width of the text features (300: Doc2Vec).
        num_classes: the classes of the shared classifier (Pascal Sentence 20, Wikipedia 10).
        hidden_dim: width of each modality's own layer (1024).
        common_dim: width of the common space (1024).
        image_encoder: a zoo classifier's name: the network then takes pixels and trains that
            CNN (randomly initialised; load weights into ``model.image_encoder``).
        image_size: with ``image_encoder``, the (C, H, W) of its input; default its registry
            input size.

    Shape:
        - ``forward(image, text)``: (B, image_dim), (B, text_dim) -> :class:`DSCMROutput`.
        - ``forward(pairs)``: (B, image_dim + text_dim) -> the same.
        - ``encode_image(image)``: (B, image_dim) -> (B, common_dim); ``encode_text`` likewise.
        - With ``image_encoder``: ``image`` is (B, C, H, W) pixels and ``pairs`` is
          (B, C * H * W + text_dim).
    """

    def __init__(self, image_dim: int | None = None, text_dim: int = 300, num_classes: int = 20,
                 hidden_dim: int = 1024, common_dim: int = 1024, image_encoder: str | None = None,
                 image_size: Sequence[int] | None = None) -> None:
        super().__init__()
        encoder, size = None, None
        if image_encoder is not None:
            encoder, size = pooled_classifier(image_encoder, image_size)
            if image_dim is not None and image_dim != encoder.num_features:
                raise ConvzooError(f"image_encoder {image_encoder} gives {encoder.num_features} features, not "
                                   f"image_dim={image_dim}; leave image_dim out")
            image_dim = encoder.num_features
        elif image_size is not None:
            raise ConvzooError(f"image_size={tuple(image_size)} is the input of an image encoder; give "
                               "image_encoder too")
        image_dim = 4096 if image_dim is None else image_dim
        for name, value in (("image_dim", image_dim), ("text_dim", text_dim), ("num_classes", num_classes),
                            ("hidden_dim", hidden_dim), ("common_dim", common_dim)):
            if value < 1:
                raise ConvzooError(f"DSCMR's {name} must be at least 1, got {value}")
        self.image_dim, self.text_dim, self.num_classes = image_dim, text_dim, num_classes
        self.common_dim = common_dim
        self.image_size: tuple[int, int, int] | None = size
        self.image_encoder = encoder  # None: the image branch takes features
        self.image_net = nn.Sequential(nn.Linear(image_dim, hidden_dim), nn.ReLU(inplace=True))
        self.text_net = nn.Sequential(nn.Linear(text_dim, hidden_dim), nn.ReLU(inplace=True))
        self.common = nn.Linear(hidden_dim, common_dim)  # shared by both modalities
        self.classifier = nn.Linear(common_dim, num_classes)  # P, shared by both modalities

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image as the image branch takes it: ``(image_dim,)`` features, or ``(C, H, W)`` pixels."""
        return self.image_size if self.image_size is not None else (self.image_dim,)

    @property
    def pair_width(self) -> int:
        """The width of a pair as one tensor: the image's values then the text's."""
        return math.prod(self.image_shape) + self.text_dim

    def _check(self, features: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
        if tuple(features.shape[1:]) != shape or features.dim() != len(shape) + 1:
            expected = ", ".join(str(side) for side in ("batch", *shape))
            raise InputShapeError(f"DSCMR expects {what} shaped ({expected}), got {tuple(features.shape)}")

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """u: the images' representations in the common space (from features, or pixels with an encoder)."""
        if self.image_encoder is None:
            self._check(image, self.image_shape, "image features")
            return self.common(self.image_net(image))  # (B, common_dim)
        self._check(image, self.image_shape, "image pixels")
        features = self.image_encoder(image).flatten(1)  # (B, C, H, W) -> (B, image_dim)
        return self.common(self.image_net(features))  # (B, common_dim)

    def encode_text(self, text_features: torch.Tensor) -> torch.Tensor:
        """v: the texts' representations in the common space."""
        self._check(text_features, (self.text_dim,), "text features")
        return self.common(self.text_net(text_features))  # (B, common_dim)

    def forward(self, image: torch.Tensor, text_features: torch.Tensor | None = None) -> DSCMROutput:
        if text_features is None:
            self._check(image, (self.pair_width,), "concatenated image and text")
            image, text_features = image.split([self.pair_width - self.text_dim, self.text_dim], dim=1)
            image = image.reshape(len(image), *self.image_shape)  # (B, C*H*W) -> (B, C, H, W) with an encoder
        image_common = self.encode_image(image)
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
    be ``image_dim + text_dim`` (``C * H * W + text_dim`` with an ``image_encoder``).
    """
    model = DSCMR(**kwargs)
    if in_chans is not None and in_chans != model.pair_width:
        image = "x".join(map(str, model.image_shape))
        raise ConvzooError(f"dscmr takes pairs of {image} image and {model.text_dim} text values "
                           f"({model.pair_width} in all), not in_chans={in_chans}; set image_dim "
                           "and text_dim")
    return model
