"""SENet: residual networks whose blocks reweight their channels by squeeze-and-excitation.

Paper: Squeeze-and-Excitation Networks (Jie Hu, Li Shen, Gang Sun, CVPR 2018)
https://arxiv.org/abs/1709.01507

A conv mixes channels only through its learned filters, the same for every image. An SE
block (:mod:`convzoo.blocks.squeeze_excite`) lets the network recalibrate its channels per
image: it squeezes each channel to its global average (Eq. 2), excites through a small
bottleneck ``FC(C / r) -> ReLU -> FC(C) -> sigmoid`` (Eq. 3) and rescales the channels by
the resulting gates (Eq. 4). The reduction ``r = 16`` adds about 10% parameters to
ResNet-50 (2.5M, Sec. 4) and under 1% of its FLOPs (3.87 vs 3.86 GFLOPs, Table 2).

SE is a drop-in unit: the SE networks are the backbones they extend with one SE block per
residual block (Fig. 3, Table 1). In a residual block the SE block rescales the residual
branch, before the addition with the identity,

    y = x + F(x) * s(F(x))

so the shortcut still carries the input undamped (Fig. 3). These networks are therefore
options of :class:`~convzoo.models.resnet.ResNet`: ``attn_layer=se_layer(16)`` gives every
block an SE module named ``se``, timm's key, and timm's SE-ResNet checkpoints load unmapped.

The integration study of the paper's extended version (arXiv v4 / TPAMI 2019: Sec. 6.5,
Fig. 5, Table 14) moves the SE unit around the block; ``placement="post"`` reproduces
its SE-POST variant, with the SE unit after the addition with the identity (and after
the block's last ReLU), where it rescales the shortcut too. The paper finds SE-POST the
one placement that loses accuracy. Its module is ``post_se``, so its weights never load
silently into the standard layout.

Networks without shortcuts take SE on the output of each module: SE-Inception (Fig. 2)
rescales the concatenated branches of every Inception module. :func:`se_inception_v3`
does so for Inception-v3 (the paper builds SE-BN-Inception; no reference implementation
of an SE-Inception-v3 exists to match, so only its parameter count is pinned).

Deviations:
    - ResNet's deviations hold here too: the bottleneck strides on its 3x3 conv ("ResNet
      v1.5"), as timm's SE-ResNets do; the paper's released Caffe SE-ResNets stride
      the first 1x1 conv.
    - se_inception_v3 applies the paper's SE-Inception design (Fig. 2) to Inception-v3,
      which the paper does not evaluate (its Table 2 has SE-BN-Inception).
    - The SE width ``C / 16`` is rounded to a multiple of 8 (timm's rule); that changes
      no width of these networks, whose block outputs are multiples of 128.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch
from torch import nn

from convzoo.blocks.residual import BasicBlock, Bottleneck
from convzoo.blocks.squeeze_excite import SqueezeExcite, se_layer
from convzoo.models.inception import V3_PAPER, Inception3
from convzoo.models.resnet import DEVIATIONS as RESNET_DEVIATIONS
from convzoo.models.resnet import TABLE_1, ResNet
from convzoo.registry import Paper, register_model

__all__ = [
    "PLACEMENTS",
    "PostSEBasicBlock",
    "PostSEBottleneck",
    "SEInception3",
    "WithSqueezeExcite",
    "se_resnet",
    "seresnet50",
    "seresnet101",
    "seresnet152",
    "seresnext50_32x4d",
    "seresnext101_32x4d",
    "se_inception_v3",
]

PAPER = Paper(
    title="Squeeze-and-Excitation Networks",
    authors="Jie Hu, Li Shen, Gang Sun",
    venue="CVPR",
    year=2018,
    url="https://arxiv.org/abs/1709.01507",
)

DEVIATIONS = RESNET_DEVIATIONS + " SE width C/16 rounded to a multiple of 8 as in timm (no change for these widths)."

# Where a residual block applies its SE unit (Sec. 6.5): on the residual branch before the
# addition (the paper's design), or on the block's output after the addition (SE-POST).
PLACEMENTS = ("residual", "post")


class _PostAdditionSE:
    """Mixin for a residual block: move its ``se`` module from the residual branch to the block's output."""

    se: nn.Module

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Registered last, after the block's last activation, as it runs.
        self.post_se, self.se = self.se, nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_se(super().forward(x))  # (B, out_channels, H', W'), SE-POST (Fig. 5)


class PostSEBasicBlock(_PostAdditionSE, BasicBlock):
    """:class:`BasicBlock` with its attention (``post_se``) after the addition and the last activation."""


class PostSEBottleneck(_PostAdditionSE, Bottleneck):
    """:class:`Bottleneck` with its attention (``post_se``) after the addition and the last activation.

    Args and Shape: as :class:`~convzoo.blocks.residual.Bottleneck`.
    """


_POST_SE_BLOCKS = {BasicBlock: PostSEBasicBlock, Bottleneck: PostSEBottleneck}


def se_resnet(
    depth: int,
    *,
    groups: int = 1,
    width_per_group: int = 64,
    reduction: float = 16,
    placement: str = "residual",
    **kwargs: Any,
) -> ResNet:
    """An SE-ResNet (or SE-ResNeXt with ``groups > 1``) of a depth of ResNet's Table 1.

    Args:
        depth: 18, 34, 50, 101 or 152.
        groups: ResNeXt's cardinality.
        width_per_group: ResNeXt's bottleneck width ``d`` per 64 channels.
        reduction: SE's reduction ratio ``r``.
        placement: ``"residual"`` (SE on the residual branch, the paper's design) or
            ``"post"`` (after the addition, the SE-POST block of Sec. 6.5).
        **kwargs: further options of :class:`~convzoo.models.resnet.ResNet`.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    if "attn_layer" in kwargs:
        raise ValueError(
            "an SE-ResNet's attention is SE; for another attention give attn_layer to a plain ResNet, "
            "e.g. create_model('resnet50', attn_layer='cbam')"
        )
    block, layers = TABLE_1[depth]
    if placement == "post":
        block = _POST_SE_BLOCKS[block]
    return ResNet(
        block, layers, groups=groups, width_per_group=width_per_group,
        attn_layer=se_layer(reduction, divisor=8), **kwargs,
    )


@register_model(
    family="senet", paper=PAPER, timm="seresnet50", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "23.29% (Table 2, 224 crop, single crop; ResNet-50 re-implemented: 24.80%) "
           "at 3.87 GFLOPs (ResNet-50: 3.86)"},
)
def seresnet50(**kwargs: Any) -> ResNet:
    """SE-ResNet-50: ResNet-50 with SE (r = 16) in every bottleneck, 28.1M parameters."""
    return se_resnet(50, **kwargs)


@register_model(
    family="senet", paper=PAPER, timm="seresnet101", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "22.38% (Table 2, 224 crop, single crop)"},
)
def seresnet101(**kwargs: Any) -> ResNet:
    """SE-ResNet-101: ResNet-101 with SE (r = 16) in every bottleneck, 49.3M parameters."""
    return se_resnet(101, **kwargs)


@register_model(
    family="senet", paper=PAPER, timm="seresnet152", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "21.57% (Table 2, 224 crop, single crop)"},
)
def seresnet152(**kwargs: Any) -> ResNet:
    """SE-ResNet-152: ResNet-152 with SE (r = 16) in every bottleneck, 66.8M parameters."""
    return se_resnet(152, **kwargs)


@register_model(
    family="senet", paper=PAPER, timm="seresnext50_32x4d", deviations=DEVIATIONS,
    notes={"imagenet_top1_error": "21.10% (Table 2, 224 crop, single crop)"},
)
def seresnext50_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-50 (32x4d): ResNeXt-50 with SE (r = 16) in every bottleneck, 27.6M parameters."""
    return se_resnet(50, groups=32, width_per_group=4, **kwargs)


@register_model(family="senet", paper=PAPER, timm="seresnext101_32x4d", deviations=DEVIATIONS)
def seresnext101_32x4d(**kwargs: Any) -> ResNet:
    """SE-ResNeXt-101 (32x4d): ResNeXt-101 with SE (r = 16) in every bottleneck, 49.0M parameters."""
    return se_resnet(101, groups=32, width_per_group=4, **kwargs)


class WithSqueezeExcite(nn.Module):
    """A module followed by an SE block on its output (SE-Inception, paper Fig. 2).

    Args:
        block: the wrapped module (an Inception module); needs an ``out_channels`` attribute.
        se: the SE block on its output.

    Shape:
        - Input: as ``block``'s
        - Output: as ``block``'s
    """

    def __init__(self, block: nn.Module, se: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.se = se
        self.out_channels = block.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.block(x))  # (B, out_channels, H', W')


# The mixed blocks of Inception-v3, the paper's "Inception modules" (reductions included).
_V3_MIXED = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
             "Mixed_7a", "Mixed_7b", "Mixed_7c")
_MIXED_PREFIX = re.compile(r"^(Mixed_[0-9][a-z])\.(?!block\.|se\.)")


class SEInception3(Inception3):
    """Inception-v3 with an SE block (reduction ``r``) after each of its 11 mixed modules.

    Args:
        reduction: SE's reduction ratio ``r``.
        **kwargs: the options of :class:`~convzoo.models.inception.Inception3`.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 75``
        - Output: ``(B, num_classes)`` (in training mode with ``aux_logits``, an ``AuxLogits``)
    """

    def __init__(self, *, reduction: float = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name in _V3_MIXED:
            block = getattr(self, name)
            # Replaces the module in place, so the registration order stays the forward order.
            setattr(self, name, WithSqueezeExcite(block, SqueezeExcite.with_reduction(block.out_channels, reduction)))

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map an Inception-v3 checkpoint (torchvision's, timm's or ours) to this layout, SE blocks left out.

        ``Mixed_5b.branch1x1.conv.weight`` -> ``Mixed_5b.block.branch1x1.conv.weight``; load it
        with ``strict=False`` to start SE-Inception-v3 from a trained Inception-v3.
        """
        plain = Inception3.remap_state_dict(state_dict)
        return {_MIXED_PREFIX.sub(r"\1.block.", key): value for key, value in plain.items()}


@register_model(
    family="senet", paper=PAPER, input_size=(3, 299, 299), deviations=DEVIATIONS,
    notes={"base_model": f"inception_v3 ({V3_PAPER.title})"},
)
def se_inception_v3(**kwargs: Any) -> SEInception3:
    """SE-Inception-v3: Inception-v3 with SE (r = 16) after every mixed module, 28.8M parameters (25.5M without aux)."""
    return SEInception3(**kwargs)
