"""The operators of :mod:`convzoo.ops`, each buildable in place of a standard conv of the same shape.

``convzoo ops`` (and :func:`convzoo.analysis.operators.operator_table`) builds every entry
for one ``(in_channels, out_channels, kernel_size)`` and measures its parameters and MACs
beside the dense ``k x k`` conv it stands in for, so the savings each operator claims can
be read off. Every builder keeps the spatial size (stride 1, "same" padding) and maps
``in_channels`` to ``out_channels``; where an operator only changes the channels' spatial
mixing (depthwise kinds), a 1x1 conv after it does the channel mixing, as the networks
that use them do. The 3-D operators (:mod:`convzoo.ops.conv3d`) and the point-cloud
spherical conv take other inputs and are not in this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from convzoo.ops.channel_shuffle import ChannelShuffle
from convzoo.ops.channelwise import ChannelWiseConv
from convzoo.ops.deform_conv import DeformConv2d
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.ops.dynamic_conv import CondConv2d, DynamicConv2d
from convzoo.ops.large_kernel import LargeKernelConv2d
from convzoo.ops.learned_group_conv import LearnedGroupConv2d
from convzoo.ops.mixconv import MixConv2d
from convzoo.ops.spatially_separable import FilterwiseSeparableConv2d, SpatiallySeparableConv2d
from convzoo.ops.transposed import ConvTranspose2dAsConv

__all__ = ["OPERATORS", "OperatorEntry", "standard_conv"]

Builder = Callable[[int, int, int], nn.Module]


@dataclass(frozen=True)
class OperatorEntry:
    """One operator as a stand-in for a standard conv.

    Attributes:
        name: the operator's public name in :mod:`convzoo.ops` (or PyTorch's).
        summary: what the stand-in is, in one line.
        build: ``build(in_channels, out_channels, kernel_size)``; raises ``ValueError``
            when the operator cannot take that shape.
    """

    name: str
    summary: str
    build: Builder


def standard_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    """The reference: a dense ``k x k`` conv, stride 1, "same" padding, no bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)


def _pointwise(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, bias=False)


def _grouped_shuffled(in_channels: int, out_channels: int, kernel_size: int, groups: int = 4) -> nn.Module:
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"needs channels divisible by {groups}")
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False)
    return nn.Sequential(conv, ChannelShuffle(groups))


def _mixconv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    kernels = tuple(range(3, max(kernel_size, 3) + 1, 2))  # 3x3 up to k x k over equal channel groups
    return nn.Sequential(MixConv2d(in_channels, in_channels, kernels), _pointwise(in_channels, out_channels))


def _large_kernel(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    strip = min(5, kernel_size)  # SLaK's 5-wide strips and 5x5 small kernel, narrower for small k
    depthwise = LargeKernelConv2d(in_channels, kernel_size=kernel_size, strip_width=strip, small_kernel_size=strip)
    return nn.Sequential(depthwise, _pointwise(in_channels, out_channels))


def _condensed(in_channels: int, out_channels: int, kernel_size: int, groups: int = 4) -> nn.Module:
    """CondenseNet's learned group conv after all its condensing stages, in its test-time form."""
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"needs channels divisible by {groups}")
    with torch.device("cpu"):  # condensing reads the weights' magnitudes, which the meta device has not
        learned = LearnedGroupConv2d(in_channels, out_channels, kernel_size, groups=groups)
        for _ in range(learned.num_stages):
            learned.condense_step()
        return learned.to_grouped()


OPERATORS: tuple[OperatorEntry, ...] = (
    OperatorEntry("Conv2d", "the dense k x k conv every row is compared with", standard_conv),
    OperatorEntry("Conv2d 1x1", "pointwise: channel mixing only, no spatial context",
                  lambda i, o, k: _pointwise(i, o)),
    OperatorEntry("grouped + channel_shuffle", "k x k conv in 4 groups, then a channel shuffle (ShuffleNet)",
                  _grouped_shuffled),
    OperatorEntry("DepthwiseSeparableConv2d", "depthwise k x k, then pointwise 1x1 (Xception, MobileNet)",
                  lambda i, o, k: DepthwiseSeparableConv2d(i, o, k)),
    OperatorEntry("MixConv2d", "depthwise 3x3 .. k x k on equal channel groups, then 1x1 (MixNet)", _mixconv),
    OperatorEntry("SpatiallySeparableConv2d", "k x 1 conv to out_channels maps, then 1 x k (Inception-v3)",
                  lambda i, o, k: SpatiallySeparableConv2d(i, o, k)),
    OperatorEntry("FilterwiseSeparableConv2d", "every k x k filter a rank-1 outer product (grouped k x 1, 1 x k)",
                  lambda i, o, k: FilterwiseSeparableConv2d(i, o, k)),
    OperatorEntry("Conv2d dilation=2", "the same k x k taps spread over 2(k - 1) + 1 pixels: same cost, wider field",
                  lambda i, o, k: nn.Conv2d(i, o, k, padding=k - 1, dilation=2, bias=False)),
    OperatorEntry("ConvTranspose2dAsConv", "stride-1 transposed conv, computed as a conv over the zero-inserted input",
                  lambda i, o, k: ConvTranspose2dAsConv(i, o, k, padding=k // 2, bias=False)),
    OperatorEntry("DeformConv2d", "v1: every tap samples at a learned offset (+ the offset-predicting conv)",
                  lambda i, o, k: DeformConv2d(i, o, k, bias=False)),
    OperatorEntry("DeformConv2d modulated", "v2: learned offsets and modulation masks",
                  lambda i, o, k: DeformConv2d(i, o, k, bias=False, modulated=True)),
    OperatorEntry("CondConv2d", "per-example kernel: sigmoid-routed mix of 4 expert k x k kernels",
                  lambda i, o, k: CondConv2d(i, o, k, num_experts=4, bias=False)),
    OperatorEntry("DynamicConv2d", "per-example kernel: softmax(z / tau) attention over 4 k x k kernels",
                  lambda i, o, k: DynamicConv2d(i, o, k, num_kernels=4, bias=False)),
    OperatorEntry("ChannelWiseConv", "ChannelNets: one 1-D kernel of C_in - C_out + 1 taps slid along the channels",
                  lambda i, o, k: ChannelWiseConv.between(i, o)),
    OperatorEntry("LearnedGroupConv2d", "CondenseNet, condensed: 1/4 of the inputs per group of 4, grouped conv, shuffle",
                  _condensed),
    OperatorEntry("LargeKernelConv2d", "SLaK: depthwise k x s, s x k, s x s branches with BN (s = min(5, k)), then 1x1",
                  _large_kernel),
)
