"""Split attention: a conv whose channel groups compete for each output channel (ResNeSt).

Paper: ResNeSt: Split-Attention Networks (Hang Zhang, Chongruo Wu, Zhongyue Zhang, Yi Zhu,
Haibin Lin, Zhi Zhang, Yue Sun, Tong He, Jonas Mueller, R. Manmatha, Mu Li, Alexander
Smola, arXiv 2020) https://arxiv.org/abs/2004.08955

A split-attention conv combines ResNeXt's cardinality with SKNet's selective kernels. Its
``C`` output channels form ``K`` cardinal groups (the ``groups`` argument), and each group
is computed ``R`` times (the radix) by different filters: one grouped conv with
``K * R`` groups gives ``R`` splits ``U_1 .. U_R`` of ``C`` channels each (Sec. 3.1). Then,
per cardinal group ``k``:

- squeeze: the splits are summed and globally pooled, ``s^k = GAP(sum_r U_r^k)`` (Eq. 1);
- excitation: two grouped 1x1 convs (a bottleneck with a norm and a ReLU between, one
  group per cardinal group) map ``s`` to ``R`` logits per channel;
- r-softmax: a softmax across the ``R`` splits turns them into weights ``a_r^k(c)`` that sum
  to 1 for every channel (Eq. 3); with ``R = 1`` there is nothing to compete with and a
  sigmoid gate is used instead;
- the output is the weighted sum ``V^k = sum_r a_r^k U_r^k`` (Eq. 2).

With ``R = 1, K = 1`` the block is a conv-norm-ReLU followed by a squeeze-and-excitation
gate whose first layer has a norm after it: in eval mode that norm folds into the layer,
and the block equals :class:`~convzoo.blocks.squeeze_excite.SqueezeExcite` applied to a
:class:`~convzoo.ops.conv_norm_act.ConvNormAct` (tests/blocks/test_split_attention.py
checks it).

The exact grouping, which pretrained weights depend on: the conv's ``K * R`` groups are
radix-major, so output channel ``r * C + c`` is channel ``c`` of split ``r``; the logits of
the second 1x1 conv are cardinal-major, ``k * R * C/K + r * C/K + c'``, and the r-softmax
reorders them to the radix-major layout of the splits. This is the layout of the authors'
code and of timm, whose checkpoints therefore load unmapped (keys ``conv``, ``bn0``,
``fc1``, ``bn1``, ``fc2``).

:class:`ResNeStBottleneck` puts a split-attention conv in the middle of a ResNet
bottleneck, and strides it with an average pool ("avd") instead of a strided conv.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from convzoo.blocks.inverted_residual import make_divisible

__all__ = ["RadixSoftmax", "ResNeStBottleneck", "SplitAttention"]

LayerFactory = Callable[..., nn.Module]


class RadixSoftmax(nn.Module):
    """Softmax across the ``radix`` splits of each channel and cardinal group (Eq. 3); a sigmoid for radix 1.

    Args:
        radix: number of splits R competing for each channel.
        groups: number of cardinal groups K.

    Shape:
        - Input: ``(B, K * R * C', 1, 1)`` logits, cardinal-major: ``(K, R, C')``
        - Output: ``(B, R * K * C', 1, 1)`` weights, radix-major: ``(R, K, C')``
    """

    def __init__(self, radix: int, groups: int) -> None:
        super().__init__()
        self.radix = radix
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.radix == 1:
            return torch.sigmoid(x)
        batch = x.shape[0]
        x = x.reshape(batch, self.groups, self.radix, -1).transpose(1, 2)  # (B, R, K, C')
        return x.softmax(dim=1).reshape(batch, -1, 1, 1)  # (B, R * C, 1, 1)


class SplitAttention(nn.Module):
    """A grouped conv computing ``radix`` splits per cardinal group, recombined by split attention.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (C); a multiple of ``groups``.
        kernel_size: side of the conv's kernel.
        stride: stride of the conv.
        dilation: dilation (and padding) of the conv.
        groups: cardinal groups K (ResNeXt's cardinality).
        radix: splits R per cardinal group.
        reduced_channels: width of the attention bottleneck; ``None`` for timm's rule,
            ``make_divisible(in_channels * radix / 4, 8)`` and at least 32.
        norm_layer: builds a norm from a channel count (after the conv and after ``fc1``).
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduced_channels: int | None = None,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if radix < 1 or out_channels % groups or in_channels % groups:
            raise ValueError(
                f"split attention needs radix >= 1 and channels divisible by groups={groups}, "
                f"got radix={radix}, in_channels={in_channels}, out_channels={out_channels}"
            )
        if reduced_channels is None:
            reduced_channels = make_divisible(in_channels * radix * 0.25, 8, min_value=32)
        self.radix = radix
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels * radix, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=groups * radix, bias=False,
        )
        self.bn0 = norm_layer(out_channels * radix)
        self.act0 = act_layer()
        self.fc1 = nn.Conv2d(out_channels, reduced_channels, kernel_size=1, groups=groups)
        self.bn1 = norm_layer(reduced_channels)
        self.act1 = act_layer()
        self.fc2 = nn.Conv2d(reduced_channels, out_channels * radix, kernel_size=1, groups=groups)
        self.rsoftmax = RadixSoftmax(radix, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))  # (B, R * C, H', W')
        splits = x.unflatten(1, (self.radix, -1))  # (B, R, C, H', W'), radix-major
        s = splits.sum(dim=1).mean((2, 3), keepdim=True)  # (B, C, 1, 1), Eq. (1)
        logits = self.fc2(self.act1(self.bn1(self.fc1(s))))  # (B, K * R * C/K, 1, 1)
        weights = self.rsoftmax(logits).unflatten(1, (self.radix, -1))  # (B, R, C, 1, 1), Eq. (3)
        return (splits * weights).sum(dim=1)  # (B, C, H', W'), Eq. (2)


class ResNeStBottleneck(nn.Module):
    """1x1 reduce, split-attention 3x3, 1x1 expand, and a shortcut: the ResNeSt block (paper Fig. 2).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output, ``expansion`` (4) times the bottleneck's width.
        stride: the block's stride; 2 halves the resolution.
        downsample: the shortcut's projection; ``None`` for an identity shortcut.
        groups: cardinal groups K of the split-attention conv.
        base_width: channels per cardinal group per 64 bottleneck channels; the split
            attention has ``int(out_channels / 4 * base_width / 64) * groups`` channels.
        radix: splits R of the split-attention conv.
        avd: stride with a 3x3 average pool (stride ``stride``) instead of a strided conv.
        avd_first: put that pool before the split-attention conv rather than after it.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module from a channel count, applied to the
            residual branch before the addition (as ResNet's ``attn_layer``, attribute
            ``se``); ``None`` for none, as in the paper.

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
        radix: int = 2,
        avd: bool = True,
        avd_first: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        if downsample is None and (stride != 1 or in_channels != out_channels):
            raise ValueError(
                f"a block from {in_channels} to {out_channels} channels with stride {stride} needs a "
                f"`downsample` module for its shortcut"
            )
        width = int(out_channels // self.expansion * (base_width / 64)) * groups
        pool_stride = stride if avd and stride > 1 else 0
        conv_stride = 1 if pool_stride else stride
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = norm_layer(width)
        self.act1 = act_layer()
        self.avd_first = _avd_pool(pool_stride) if avd_first else nn.Identity()
        self.conv2 = SplitAttention(
            width, width, kernel_size=3, stride=conv_stride, groups=groups, radix=radix,
            norm_layer=norm_layer, act_layer=act_layer,
        )
        self.avd_last = nn.Identity() if avd_first else _avd_pool(pool_stride)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = norm_layer(out_channels)
        self.se = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.act3 = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale, so the block starts as an identity (Goyal et al. 2017)."""
        if getattr(self.bn3, "weight", None) is not None:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))  # (B, width, H, W)
        out = self.avd_first(out)
        out = self.conv2(out)  # (B, width, H or H', W or W')
        out = self.avd_last(out)  # (B, width, H', W')
        out = self.se(self.bn3(self.conv3(out)))  # (B, out_channels, H', W')
        out += self.downsample(x)
        return self.act3(out)


def _avd_pool(stride: int) -> nn.Module:
    """The 3x3 average pool that strides a ResNeSt block ("avd"); identity when it does not stride."""
    return nn.AvgPool2d(kernel_size=3, stride=stride, padding=1) if stride > 1 else nn.Identity()
