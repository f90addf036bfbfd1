"""ResNeXt: residual networks whose bottleneck is a set of parallel, identical transformations.

Paper: Aggregated Residual Transformations for Deep Neural Networks (Saining Xie, Ross
Girshick, Piotr Dollár, Zhuowen Tu, Kaiming He, CVPR 2017) https://arxiv.org/abs/1611.05431

Inception modules split, transform and merge, but each branch is hand-designed. ResNeXt
keeps the split-transform-merge idea and drops the design: a block sums C identical
low-width paths,

    F(x) = sum_{i=1..C} T_i(x)                                               (Eq. 2)

each path a 1x1 -> 3x3 -> 1x1 bottleneck of width d. The *cardinality* C is a new
dimension beside depth and width; at the same parameter and FLOP budget, raising C
lowers the error more than going deeper or wider (Table 3, 4).

The paper shows three equivalent forms of the block (Fig. 3): C separate paths summed;
C paths whose 3x3 outputs are concatenated before one shared 1x1; and a single grouped
3x3 conv with C groups. The last is the fast one, so a ResNeXt is a ResNet whose
bottleneck 3x3 conv is grouped: ``ResNet(Bottleneck, ..., groups=C, width_per_group=d)``.
In the name ``32x4d``, C = 32 and d = 4: the first stage's 3x3 conv runs 32 groups of 4
channels (128 in all) where ResNet-50 runs 64 ungrouped channels.

Deviations:
    As for :mod:`convzoo.models.resnet` (stride on the 3x3 conv, as torchvision and timm).
    ResNeXt-101 32x8d is not in the paper; it is the model Facebook released later and
    torchvision ships.
"""

from __future__ import annotations

from typing import Any

from convzoo.models.resnet import DEVIATIONS as RESNET_DEVIATIONS
from convzoo.models.resnet import ResNet, _resnet
from convzoo.registry import Paper, register_model

__all__ = ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d"]

PAPER = Paper(
    title="Aggregated Residual Transformations for Deep Neural Networks",
    authors="Saining Xie, Ross Girshick, Piotr Dollár, Zhuowen Tu, Kaiming He",
    venue="CVPR",
    year=2017,
    url="https://arxiv.org/abs/1611.05431",
)

DEVIATIONS = RESNET_DEVIATIONS + " ResNeXt-101 32x8d is Facebook's later release, not a model of the paper."


def _resnext(depth: int, cardinality: int, bottleneck_width: int, **kwargs: Any) -> ResNet:
    return _resnet(depth, groups=cardinality, width_per_group=bottleneck_width, **kwargs)


@register_model(
    family="resnext", paper=PAPER, torchvision="resnext50_32x4d", timm="resnext50_32x4d", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "22.2% (Table 3, 224 crop; ResNet-50: 23.9%) at 4.2 GFLOPs (multiply-adds)"},
)
def resnext50_32x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-50 (32x4d): ResNet-50's stages with 32 groups of 4 channels per 64, 25.0M parameters."""
    return _resnext(50, 32, 4, **kwargs)


@register_model(
    family="resnext", paper=PAPER, torchvision="resnext101_32x8d", timm="resnext101_32x8d", deviations=DEVIATIONS,
)
def resnext101_32x8d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (32x8d): 32 groups of 8 channels per 64, 88.8M parameters."""
    return _resnext(101, 32, 8, **kwargs)


@register_model(
    family="resnext", paper=PAPER, torchvision="resnext101_64x4d", timm="resnext101_64x4d", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "20.4% (Table 5, 224 crop; ResNet-101: 22.0%)"},
)
def resnext101_64x4d(**kwargs: Any) -> ResNet:
    """ResNeXt-101 (64x4d): 64 groups of 4 channels per 64, 83.5M parameters."""
    return _resnext(101, 64, 4, **kwargs)
