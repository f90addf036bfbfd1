"""Residual blocks: ResNet's basic and bottleneck blocks, with the options its descendants use.

Paper: Deep Residual Learning for Image Recognition (Kaiming He, Xiangyu Zhang, Shaoqing
Ren, Jian Sun, CVPR 2016) https://arxiv.org/abs/1512.03385

A plain stack of layers must learn a mapping H(x) directly; a residual block learns only
the residual F(x) = H(x) - x and adds its input back,

    y = F(x, {W_i}) + x                                                      (Eq. 1)

so a block that has nothing to add can drive F towards zero instead of having to learn an
identity through several non-linear layers, and the gradient reaches early layers through
the additions undamped. Where the block changes the width or the resolution, the shortcut
becomes a projection W_s x (Eq. 2): here a strided 1x1 conv and a norm, passed in as
``downsample``.

Two residual functions F build every ResNet:

- the basic block (ResNet-18/34): two 3x3 convs;
- the bottleneck (ResNet-50/101/152): a 1x1 conv reduces the channels four-fold, a 3x3
  conv works at that narrow width, a 1x1 conv expands them back (``expansion = 4``), which
  makes deep networks affordable.

Every conv is followed by a norm, and the last activation comes after the addition.

The options below let later architectures reuse these blocks:

- ``groups`` and ``base_width`` (ResNeXt, Wide ResNet): the 3x3 conv runs as ``groups``
  groups of ``base_width`` channels each, scaled with the stage; ``groups=1,
  base_width=64`` is the plain ResNet.
- ``attn_layer`` (SE-ResNet, ECA-ResNet, CBAM, ...): a module applied to the residual
  branch just before the addition, built as ``attn_layer(out_channels)``. The attribute is
  named ``se`` whatever the attention, as in timm, so timm's checkpoints load unmapped.
- ``dilation``: atrous 3x3 convs that grow the receptive field without downsampling,
  for dense prediction (DeepLab).

Deviations:
    The bottleneck puts its stride on the 3x3 conv, as torchvision's and timm's ResNets
    do ("ResNet v1.5"); the paper strides the first 1x1 conv, which skips three quarters
    of the input positions. The weights have the same shapes either way, so checkpoints
    of either layout load, but only this one reproduces torchvision's outputs.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "conv1x1", "conv3x3"]

LayerFactory = Callable[..., nn.Module]


def conv3x3(
    in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """A 3x3 conv without bias (a norm follows); padding equal to the dilation keeps the size at stride 1."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size=3, stride=stride, padding=dilation,
        dilation=dilation, groups=groups, bias=False,
    )


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """A 1x1 conv without bias: mixes channels, or projects a shortcut when strided."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def _inner_width(out_channels: int, expansion: int, groups: int, base_width: int) -> int:
    """Channels of a block's 3x3 conv: ``groups`` groups of ``base_width`` per 64 stage channels."""
    if out_channels % expansion:
        raise ValueError(f"out_channels={out_channels} is not a multiple of the block's expansion {expansion}")
    return int(out_channels // expansion * (base_width / 64)) * groups


def _check_shortcut(in_channels: int, out_channels: int, stride: int, downsample: nn.Module | None) -> None:
    if downsample is None and (stride != 1 or in_channels != out_channels):
        raise ValueError(
            f"a block from {in_channels} to {out_channels} channels with stride {stride} needs a "
            f"`downsample` module for its shortcut (e.g. a strided 1x1 conv and a norm)"
        )


class BasicBlock(nn.Module):
    """Two 3x3 convs and a shortcut: the block of ResNet-18 and ResNet-34 (paper Fig. 2).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (``expansion`` is 1).
        stride: stride of the first 3x3 conv; 2 halves the resolution.
        downsample: the shortcut's projection; ``None`` for an identity shortcut, which
            needs ``in_channels == out_channels`` and ``stride == 1``.
        groups: groups of both 3x3 convs.
        base_width: channels per group per 64 output channels of the first 3x3 conv;
            64 with ``groups=1`` keeps it at ``out_channels``.
        dilation: dilation (and padding) of both 3x3 convs.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module from a channel count, applied to the
            residual branch before the addition; ``None`` for none.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        _check_shortcut(in_channels, out_channels, stride, downsample)
        width = _inner_width(out_channels, self.expansion, groups, base_width)
        self.conv1 = conv3x3(in_channels, width, stride, groups, dilation)
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.conv2 = conv3x3(width, out_channels, 1, groups, dilation)
        self.bn2 = norm_layer(out_channels)
        self.se = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.act2 = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale, so the block starts as an identity (Goyal et al. 2017)."""
        if getattr(self.bn2, "weight", None) is not None:
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)  # (B, out_channels, H', W')
        out = self.act1(self.bn1(self.conv1(x)))  # (B, width, H', W')
        out = self.bn2(self.conv2(out))  # (B, out_channels, H', W')
        out = self.se(out)
        out += shortcut  # Eq. (1) / (2); in place, saving an allocation the size of the block's output
        return self.act2(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand, and a shortcut: the block of ResNet-50/101/152 (paper Fig. 5).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output, ``expansion`` (4) times the bottleneck's
            width in a plain ResNet.
        stride: stride of the 3x3 conv; 2 halves the resolution.
        downsample: the shortcut's projection; ``None`` for an identity shortcut, which
            needs ``in_channels == out_channels`` and ``stride == 1``.
        groups: groups of the 3x3 conv (ResNeXt's cardinality).
        base_width: channels per group per 64 bottleneck channels (ResNeXt's ``d``;
            Wide ResNet-50-2 uses 128); the 3x3 conv has
            ``int(out_channels / expansion * base_width / 64) * groups`` channels.
        dilation: dilation (and padding) of the 3x3 conv.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module from a channel count, applied to the
            residual branch before the addition; ``None`` for none.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        _check_shortcut(in_channels, out_channels, stride, downsample)
        width = _inner_width(out_channels, self.expansion, groups, base_width)
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.conv2 = conv3x3(width, width, stride, groups, dilation)  # v1.5: the stride is here
        self.bn2 = norm_layer(width)
        self.act2 = act_layer()
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = norm_layer(out_channels)
        self.se = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.act3 = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale, so the block starts as an identity (Goyal et al. 2017)."""
        if getattr(self.bn3, "weight", None) is not None:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.downsample(x)  # (B, out_channels, H', W')
        out = self.act1(self.bn1(self.conv1(x)))  # (B, width, H, W)
        out = self.act2(self.bn2(self.conv2(out)))  # (B, width, H', W')
        out = self.bn3(self.conv3(out))  # (B, out_channels, H', W')
        out = self.se(out)
        out += shortcut  # Eq. (1) / (2); in place, saving an allocation the size of the block's output
        return self.act3(out)
