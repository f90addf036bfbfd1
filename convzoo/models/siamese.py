"""Siamese, pseudo-Siamese and triplet networks: any zoo backbone as a learned embedding.

Paper: Signature Verification using a "Siamese" Time Delay Neural Network (Jane Bromley,
Isabelle Guyon, Yann LeCun, Eduard Saeckinger, Roopak Shah, NIPS 1993)
https://proceedings.neurips.cc/paper/1993/hash/288cc0ff022877bd3df94bc9360b9c5d-Abstract.html

Paper: Dimensionality Reduction by Learning an Invariant Mapping (Raia Hadsell, Sumit
Chopra, Yann LeCun, CVPR 2006) http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf

Paper: FaceNet: A Unified Embedding for Face Recognition and Clustering (Florian Schroff,
Dmitry Kalenichenko, James Philbin, CVPR 2015) https://arxiv.org/abs/1503.03832

A classifier learns a fixed set of classes. A network that *compares* learns a map
``f`` from an image to a point in an embedding space where the distance
``D(x1, x2) = ||f(x1) - f(x2)||`` is small for two images of the same kind and large
otherwise; classes never seen in training can then be verified (is this the same
signer?) or retrieved (which stored image is nearest?).

* Siamese network (Bromley et al.): two *identical* sub-networks, one weight set, one
  per input, joined by a distance. Sharing the weights makes ``D`` symmetric and makes
  both inputs land in the same space by construction. Hadsell et al. train such a pair
  with the contrastive loss: pull matching pairs together, push others
  apart up to a margin.
* Pseudo-Siamese network: the same two-branch layout with *separate* weights, for two
  inputs of different kinds (two modalities, e.g. a sketch and a photo, or optical and
  radar images), each with its own backbone, both projected into one space.
* Triplet network (Schroff et al.): one shared branch over an anchor, a positive of the
  anchor's class and a negative of another; the triplet loss (FaceNet Eq. 1) asks
  ``||f(a) - f(p)||^2 + margin < ||f(a) - f(n)||^2`` on L2-normalised embeddings.

Here each branch is a zoo backbone without its classifier (``create_model(name,
num_classes=0)``, whose forward gives the pooled ``(B, num_features)`` features) and an
:class:`EmbeddingHead`: a linear projection to ``embedding_dim``, then, by default, L2
normalisation onto the unit sphere (FaceNet's ``||f(x)||_2 = 1``). The losses live in the
metric task (:mod:`convzoo.tasks.metric`); the networks only embed.

Deviations:
    Bromley et al.'s branches were time-delay networks over pen trajectories, compared by
    the cosine of the angle between their feature vectors; here the branches are zoo CNNs
    and :meth:`SiameseNetwork.distance` is Euclidean (on L2-normalised embeddings it is a
    monotone function of the cosine: ``d^2 = 2 - 2 cos``). FaceNet's network was a
    GoogLeNet-style or Zeiler-Fergus CNN with a 128-d output; the triplet builders use
    the zoo's ResNet. With shared weights, the inputs of a pair or triplet go through the
    branch as one batch, so batch norm normalises them with the same statistics.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.registry import Paper, create_model, register_model

__all__ = [
    "BROMLEY_1993",
    "HADSELL_2006",
    "SCHROFF_2015",
    "EmbeddingHead",
    "EmbeddingBranch",
    "L2Normalize",
    "SiameseNetwork",
    "TripletNetwork",
    "build_backbone",
    "drop_num_classes",
    "siamese_lenet5",
    "siamese_resnet18",
    "siamese_resnet50",
    "siamese_mobilenet_v2",
    "triplet_resnet18",
]

BROMLEY_1993 = Paper(
    title='Signature Verification using a "Siamese" Time Delay Neural Network',
    authors="Jane Bromley, Isabelle Guyon, Yann LeCun, Eduard Saeckinger, Roopak Shah",
    venue="NIPS",
    year=1993,
    url="https://proceedings.neurips.cc/paper/1993/hash/288cc0ff022877bd3df94bc9360b9c5d-Abstract.html",
)
HADSELL_2006 = Paper(
    title="Dimensionality Reduction by Learning an Invariant Mapping",
    authors="Raia Hadsell, Sumit Chopra, Yann LeCun",
    venue="CVPR",
    year=2006,
    url="http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf",
)
SCHROFF_2015 = Paper(
    title="FaceNet: A Unified Embedding for Face Recognition and Clustering",
    authors="Florian Schroff, Dmitry Kalenichenko, James Philbin",
    venue="CVPR",
    year=2015,
    url="https://arxiv.org/abs/1503.03832",
)

Backbone = str | nn.Module


class L2Normalize(nn.Module):
    """Scales each row to unit Euclidean length: ``x / max(||x||_2, eps)``, as ``F.normalize``.

    Written with ``norm`` and ``torch.div`` (not ``F.normalize``) so that the
    receptive-field tracer, which has rules for those, follows it.

    Shape:
        (B, D) -> (B, D)
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.div(x, x.norm(dim=1, keepdim=True).clamp_min(self.eps))

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class EmbeddingHead(nn.Module):
    """A linear projection of the backbone's pooled features, optionally onto the unit sphere.

    One linear layer, no hidden layer and no batch norm: the backbone already ends in a
    nonlinear, pooled representation, and FaceNet's embedding is a linear layer of its
    CNN followed by L2 normalisation.

    Args:
        in_features: width of the backbone's output (its ``num_features``).
        embedding_dim: width of the embedding.
        normalize: divide each embedding by its L2 norm.

    Shape:
        (B, in_features) -> (B, embedding_dim)
    """

    def __init__(self, in_features: int, embedding_dim: int, normalize: bool = True) -> None:
        super().__init__()
        if embedding_dim < 1:
            raise ConvzooError(f"embedding_dim must be a positive width, got {embedding_dim}")
        self.in_features = in_features
        self.embedding_dim = embedding_dim
        self.normalize = normalize
        self.projection = nn.Linear(in_features, embedding_dim)
        self.norm = L2Normalize() if normalize else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.projection(features))  # (B, embedding_dim)


def build_backbone(backbone: Backbone, in_chans: int | None, backbone_kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """A zoo model name built without its classifier (``num_classes=0``), or a module as it is.

    A module must give ``(B, num_features)``: a zoo classifier built with ``num_classes=0``
    (or after ``reset_classifier(0)``), or any module with a ``num_features`` attribute.
    """
    if isinstance(backbone, str):
        return create_model(backbone, num_classes=0, in_chans=3 if in_chans is None else in_chans, **dict(backbone_kwargs or {}))
    name = type(backbone).__name__
    if getattr(backbone, "num_classes", 0):
        raise ConvzooError(
            f"backbone {name} has a {backbone.num_classes}-class classifier; build it with num_classes=0 "
            "or call reset_classifier(0), so that it gives its pooled features"
        )
    if not isinstance(getattr(backbone, "num_features", None), int):
        raise ConvzooError(f"backbone {name} has no num_features: set it to the width of its (B, F) output")
    module_chans = getattr(backbone, "in_chans", None)
    if in_chans is not None and module_chans is not None and in_chans != module_chans:
        raise ConvzooError(f"backbone {name} takes {module_chans} input channels, not in_chans={in_chans}")
    return backbone


class EmbeddingBranch(nn.Module):
    """One branch of a Siamese network: a backbone, then an :class:`EmbeddingHead`.

    Shape:
        (B, in_chans, H, W) -> (B, embedding_dim)
    """

    def __init__(self, backbone: nn.Module, embedding_dim: int, normalize: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = EmbeddingHead(backbone.num_features, embedding_dim, normalize)
        self.in_chans: int | None = getattr(backbone, "in_chans", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # (B, num_features) -> (B, embedding_dim)


class SiameseNetwork(nn.Module):
    """Two branches into one embedding space: shared weights (Siamese) or separate (pseudo-Siamese).

    Args:
        backbone: a zoo model name (built with ``num_classes=0``) or a module giving
            ``(B, num_features)`` features.
        embedding_dim: width of the embeddings.
        shared: one weight set for both inputs (Siamese); ``False`` gives each input its
            own branch (pseudo-Siamese).
        second_backbone: with ``shared=False``, the second branch's backbone, of any kind;
            when ``None``, a second ``backbone`` (a fresh build of a name, a deep copy of
            a module, which then starts from the same weights).
        normalize: L2-normalise the embeddings.
        in_chans: input channels of the first branch (3 when ``None`` and ``backbone`` is
            a name; a module's own otherwise).
        second_in_chans: input channels of the second branch; ``in_chans`` when ``None``.
        backbone_kwargs: passed to the builder of a backbone given by name
            (``{"attn_layer": "se"}``).

    Attributes:
        branches: one :class:`EmbeddingBranch` when shared, else two.
        feature_info: the first branch's backbone stages, with module paths in this model.

    Shape:
        - ``forward(x)``: (B, C, H, W) -> (B, embedding_dim), the first branch's embeddings.
        - ``forward(x1, x2)``: a pair of (B, embedding_dim) tensors; ``x2`` goes through
          the second branch.
    """

    def __init__(
        self,
        backbone: Backbone,
        embedding_dim: int = 128,
        *,
        shared: bool = True,
        second_backbone: Backbone | None = None,
        normalize: bool = True,
        in_chans: int | None = None,
        second_in_chans: int | None = None,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if shared and second_backbone is not None:
            raise ConvzooError("second_backbone gives the second branch its own weights: pass shared=False too")
        self.shared = shared
        self.embedding_dim = embedding_dim
        self.normalize = normalize
        first = build_backbone(backbone, in_chans, backbone_kwargs)
        branches = [EmbeddingBranch(first, embedding_dim, normalize)]
        if not shared:
            second_chans = in_chans if second_in_chans is None else second_in_chans
            if second_backbone is None:
                second_backbone = copy.deepcopy(backbone) if isinstance(backbone, nn.Module) else backbone
            second = build_backbone(second_backbone, second_chans, backbone_kwargs)
            branches.append(EmbeddingBranch(second, embedding_dim, normalize))
        self.branches = nn.ModuleList(branches)
        self.in_chans = branches[0].in_chans
        self.second_in_chans = branches[-1].in_chans
        self.feature_info = [
            {**stage, "module": f"branches.0.backbone.{stage['module']}"}
            for stage in getattr(first, "feature_info", None) or []
        ]

    def branch(self, index: int) -> EmbeddingBranch:
        """The branch that embeds input ``index`` (0 or 1); the same module for both when shared."""
        if index not in (0, 1):
            raise ConvzooError(f"a Siamese network has branches 0 and 1, got branch={index}")
        return self.branches[min(index, len(self.branches) - 1)]

    def embed(self, x: torch.Tensor, branch: int = 0) -> torch.Tensor:
        """Embeddings of ``x`` by one branch: (B, C, H, W) -> (B, embedding_dim)."""
        return self.branch(branch)(x)

    def embed_together(self, *images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Embeddings of several inputs by the first branch, in one batch when their shapes agree."""
        if any(x.shape[1:] != images[0].shape[1:] for x in images):
            return tuple(self.embed(x) for x in images)
        embeddings = self.embed(torch.cat(images))  # (sum of B, embedding_dim)
        return tuple(embeddings.split([x.shape[0] for x in images]))

    @staticmethod
    def distance(e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Euclidean distance between matching rows: (N, D), (N, D) -> (N,)."""
        return (e1 - e2).norm(dim=1)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if x2 is None:
            return self.embed(x1)  # (B, embedding_dim)
        if self.shared:
            return self.embed_together(x1, x2)
        return self.embed(x1, 0), self.embed(x2, 1)


class TripletNetwork(SiameseNetwork):
    """One shared branch over an anchor, a positive and a negative (Schroff et al. 2015).

    Args:
        backbone, embedding_dim, normalize, in_chans, backbone_kwargs: as for
            :class:`SiameseNetwork`, which this is with ``shared=True``.

    Shape:
        - ``forward(anchor)``: (B, C, H, W) -> (B, embedding_dim).
        - ``forward(anchor, positive, negative)``: three (B, embedding_dim) tensors.
    """

    def __init__(
        self,
        backbone: Backbone,
        embedding_dim: int = 128,
        *,
        normalize: bool = True,
        in_chans: int | None = None,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            backbone, embedding_dim, shared=True, normalize=normalize, in_chans=in_chans, backbone_kwargs=backbone_kwargs
        )

    def forward(  # type: ignore[override]
        self, anchor: torch.Tensor, positive: torch.Tensor | None = None, negative: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if positive is None and negative is None:
            return self.embed(anchor)  # (B, embedding_dim)
        if positive is None or negative is None:
            raise ConvzooError("a triplet network takes an anchor alone, or an anchor, a positive and a negative")
        return self.embed_together(anchor, positive, negative)


def drop_num_classes(name: str, kwargs: dict[str, Any], width: str = "embedding_dim") -> dict[str, Any]:
    """A metric builder's kwargs without ``num_classes``: 0 (no classifier) is dropped, any other refused
    with a message naming the argument ``width`` that sets the embedding's size."""
    num_classes = kwargs.pop("num_classes", 0)
    if num_classes:
        raise ConvzooError(f"{name} gives embeddings, not scores for num_classes={num_classes}; set {width} instead")
    return kwargs


_DEVIATIONS = (
    "Bromley et al. compared time-delay nets over pen trajectories by cosine; here a zoo CNN backbone without its "
    "classifier, a linear projection to embedding_dim (128) and L2 normalisation, compared by Euclidean distance."
)


def _siamese_entry(backbone: str, input_size: tuple[int, int, int], params: int):
    return register_model(
        family="siamese",
        task="metric",
        paper=BROMLEY_1993,
        input_size=input_size,
        num_classes=0,
        deviations=_DEVIATIONS,
        notes={
            "backbone": f"{backbone} (num_classes=0: its pooled features)",
            "embedding": "128-d by default (embedding_dim), L2-normalised (normalize=False to keep the scale)",
            "contrastive loss": HADSELL_2006.cite(),
            f"parameters at {'x'.join(map(str, input_size))}, embedding_dim=128": params,
        },
    )


@_siamese_entry("lenet5", (1, 32, 32), 71_736)
def siamese_lenet5(**kwargs: Any) -> SiameseNetwork:
    """Siamese LeNet-5 on 1x32x32 digits, the small CNN of the task's default: 71,736 parameters at 128-d.

    LeCun's group built the first Siamese networks (Bromley et al. 1993) of the same kind of
    convolutional layers; the backbone here is ``lenet5``'s 84 F6 features.
    """
    return SiameseNetwork("lenet5", **{"in_chans": 1, **drop_num_classes("siamese_lenet5", kwargs)})


@_siamese_entry("resnet18", (3, 224, 224), 11_242_176)
def siamese_resnet18(**kwargs: Any) -> SiameseNetwork:
    """Siamese ResNet-18: 11,242,176 parameters at 3 channels and 128-d."""
    return SiameseNetwork("resnet18", **drop_num_classes("siamese_resnet18", kwargs))


@_siamese_entry("resnet50", (3, 224, 224), 23_770_304)
def siamese_resnet50(**kwargs: Any) -> SiameseNetwork:
    """Siamese ResNet-50: 23,770,304 parameters at 3 channels and 128-d."""
    return SiameseNetwork("resnet50", **drop_num_classes("siamese_resnet50", kwargs))


@_siamese_entry("mobilenet_v2", (3, 224, 224), 2_387_840)
def siamese_mobilenet_v2(**kwargs: Any) -> SiameseNetwork:
    """Siamese MobileNet V2: 2,387,840 parameters at 3 channels and 128-d."""
    return SiameseNetwork("mobilenet_v2", **drop_num_classes("siamese_mobilenet_v2", kwargs))


@register_model(
    family="siamese",
    task="metric",
    paper=SCHROFF_2015,
    input_size=(3, 224, 224),
    num_classes=0,
    deviations=(
        "FaceNet's CNNs were Zeiler-Fergus and GoogLeNet-style networks trained on 100-200 million face images; "
        "here ResNet-18 without its classifier, a linear projection to 128 and L2 normalisation, as FaceNet's "
        "embedding layer."
    ),
    notes={
        "backbone": "resnet18 (num_classes=0: its pooled features)",
        "embedding": "128-d, L2-normalised, as FaceNet's",
        "parameters at 3x224x224, embedding_dim=128": 11_242_176,
    },
)
def triplet_resnet18(**kwargs: Any) -> TripletNetwork:
    """Triplet network on ResNet-18 (one shared branch): 11,242,176 parameters at 3 channels and 128-d."""
    return TripletNetwork("resnet18", **drop_num_classes("triplet_resnet18", kwargs))
