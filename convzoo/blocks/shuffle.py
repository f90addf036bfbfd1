"""ShuffleNet units: grouped pointwise convs with channel shuffle (V1), channel split (V2).

Papers:
    ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices
    (Xiangyu Zhang, Xinyu Zhou, Mengxiao Lin, Jian Sun, CVPR 2018) https://arxiv.org/abs/1707.01083

    ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (Ningning Ma,
    Xiangyu Zhang, Hai-Tao Zheng, Jian Sun, ECCV 2018) https://arxiv.org/abs/1807.11164

**V1 unit** (paper Fig. 2b, c). In a bottleneck block with a depthwise 3x3 conv, the two
dense 1x1 convs cost almost all the multiplications. ShuffleNet makes them *grouped*
(``g`` groups cost ``1/g``), and puts a channel shuffle (:mod:`convzoo.ops.channel_shuffle`)
after the first, so that every group of the second 1x1 conv reads channels from every
group of the first: 1x1 GConv, BN, ReLU -> shuffle -> 3x3 depthwise conv, BN (no ReLU) ->
1x1 GConv, BN -> add the input, ReLU. The bottleneck is a quarter of the output width.
A stride-2 unit halves the resolution in the depthwise conv, takes a 3x3 average pool
(stride 2) of the input as its shortcut and *concatenates* it instead of adding, so the
width grows at almost no cost. The first unit of the network reads only 24 channels; its
first 1x1 conv is dense there (Sec. 3.3).

**V2 unit** (paper Fig. 3c, d). V2 measures speed rather than FLOPs and concludes that
grouped convs, unequal input/output widths, branch fragmentation and element-wise ops all
cost time. Its unit therefore splits the channels into two halves: one half passes
untouched, the other goes through 1x1 conv, BN, ReLU -> 3x3 depthwise, BN -> 1x1 conv, BN,
ReLU at constant width, dense convs only; the halves are concatenated (no addition) and
shuffled with 2 groups, which mixes the halves for the next unit's split. The stride-2
unit has no split: both branches read the whole input, the left one through a strided
depthwise conv and a 1x1 conv, and the concatenation doubles the width.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from convzoo.ops.channel_shuffle import ChannelShuffle
from convzoo.ops.conv_norm_act import ConvNormAct

__all__ = ["ShuffleV1Unit", "ShuffleV2Unit"]

LayerFactory = Callable[..., nn.Module]


def _check_divisible(what: str, channels: int, groups: int) -> None:
    if channels % groups:
        raise ValueError(f"{what} ({channels} channels) must be divisible into {groups} groups")


class ShuffleV1Unit(nn.Module):
    """The ShuffleNet (V1) unit: GConv 1x1, shuffle, DWConv 3x3, GConv 1x1, add or concatenate.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output; with ``stride=2`` the shortcut's
            ``in_channels`` are part of them (the residual branch makes the rest).
        stride: 1 (identity shortcut, added) or 2 (average-pooled shortcut, concatenated).
        groups: groups of the pointwise convs (``g``).
        first_groups: groups of the first pointwise conv; ``None`` for ``groups``. The
            network's first unit uses 1 (a dense conv), and then needs no shuffle, which
            after a dense conv would only reorder its filters.
        bottleneck_ratio: width of the bottleneck as a fraction of ``out_channels``
            (1/4 in the paper).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        groups: int = 3,
        first_groups: int | None = None,
        bottleneck_ratio: float = 0.25,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 unit adds its input: in_channels ({in_channels}) must equal out_channels ({out_channels})")
        first_groups = groups if first_groups is None else first_groups
        width = int(out_channels * bottleneck_ratio)
        branch_channels = out_channels - in_channels if stride == 2 else out_channels
        if branch_channels <= 0:
            raise ValueError(f"a stride-2 unit concatenates its input: out_channels ({out_channels}) must exceed in_channels ({in_channels})")
        _check_divisible("the input of the first pointwise conv", in_channels, first_groups)
        _check_divisible("the bottleneck", width, first_groups)
        _check_divisible("the bottleneck", width, groups)
        _check_divisible("the residual branch's output", branch_channels, groups)
        self.stride = stride

        self.conv1 = ConvNormAct(in_channels, width, 1, groups=first_groups, norm_layer=norm_layer, act_layer=act_layer)
        self.shuffle = ChannelShuffle(first_groups) if first_groups > 1 else nn.Identity()
        # No ReLU after the depthwise conv (Sec. 3.2, as Xception found best).
        self.conv2 = ConvNormAct(width, width, 3, stride=stride, groups=width, norm_layer=norm_layer, act_layer=None)
        self.conv3 = ConvNormAct(width, branch_channels, 1, groups=groups, norm_layer=norm_layer, act_layer=None)
        self.shortcut = nn.AvgPool2d(kernel_size=3, stride=2, padding=1) if stride == 2 else nn.Identity()
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)  # (B, in_channels, H', W')
        out = self.shuffle(self.conv1(x))  # (B, width, H, W)
        out = self.conv2(out)  # (B, width, H', W')
        out = self.conv3(out)  # (B, branch_channels, H', W')
        if self.stride == 2:
            out = torch.cat((shortcut, out), 1)  # (B, out_channels, H', W'): Fig. 2c
        else:
            out = out + shortcut  # Fig. 2b
        return self.act(out)


class ShuffleV2Unit(nn.Module):
    """The ShuffleNet V2 unit: channel split, one branch of dense convs, concatenate, shuffle.

    The branches are flat ``nn.Sequential`` s (conv, norm, act, ...) named ``branch1``
    (the stride-2 unit's left branch) and ``branch2``, as in torchvision.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output, even; each branch makes half of them.
            A stride-1 unit needs ``in_channels == out_channels``.
        stride: 1 (split the input, transform one half) or 2 (both branches read the
            whole input and downsample).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        _check_divisible("out_channels", out_channels, 2)
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"a stride-1 unit splits its input: in_channels ({in_channels}) must equal out_channels ({out_channels})")
        self.stride = stride
        self.half = half = out_channels // 2
        units = dict(norm_layer=norm_layer)

        self.branch1: nn.Sequential | None = None
        if stride == 2:
            self.branch1 = nn.Sequential(
                *ConvNormAct(in_channels, in_channels, 3, stride=stride, groups=in_channels, act_layer=None, **units),
                *ConvNormAct(in_channels, half, 1, act_layer=act_layer, **units),
            )
        branch2_in = in_channels if stride == 2 else half
        self.branch2 = nn.Sequential(
            *ConvNormAct(branch2_in, half, 1, act_layer=act_layer, **units),
            *ConvNormAct(half, half, 3, stride=stride, groups=half, act_layer=None, **units),
            *ConvNormAct(half, half, 1, act_layer=act_layer, **units),
        )
        self.shuffle = ChannelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            # Channel split, as slices rather than chunk(): the receptive-field analysis follows them.
            kept, x = x[:, : self.half], x[:, self.half :]  # (B, C/2, H, W) each
            out = torch.cat((kept, self.branch2(x)), 1)  # (B, C, H, W)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)  # (B, out_channels, H/2, W/2)
        return self.shuffle(out)
