"""The operators of :mod:`convzoo.ops`, each buildable in place of a standard conv of the same shape.

``convzoo ops`` (and :func:`convzoo.analysis.operators.operator_table`) builds every entry
for one ``(in_channels, out_channels, kernel_size)`` and measures its parameters and MACs
beside the dense ``k x k`` conv it stands in for, so the savings each operator claims can
be read off. Every builder keeps the spatial size (stride 1, "same" padding) and maps
``in_channels`` to ``out_channels``; where an operator only changes the channels' spatial
mixing (depthwise kinds), a 1x1 conv after it does the channel mixing, as the networks
that use them do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from convzoo.ops.channel_shuffle import ChannelShuffle
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.ops.mixconv import MixConv2d

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


OPERATORS: tuple[OperatorEntry, ...] = (
    OperatorEntry("Conv2d", "the dense k x k conv every row is compared with", standard_conv),
    OperatorEntry("Conv2d 1x1", "pointwise: channel mixing only, no spatial context",
                  lambda i, o, k: _pointwise(i, o)),
    OperatorEntry("grouped + channel_shuffle", "k x k conv in 4 groups, then a channel shuffle (ShuffleNet)",
                  _grouped_shuffled),
    OperatorEntry("DepthwiseSeparableConv2d", "depthwise k x k, then pointwise 1x1 (Xception, MobileNet)",
                  lambda i, o, k: DepthwiseSeparableConv2d(i, o, k)),
    OperatorEntry("MixConv2d", "depthwise 3x3 .. k x k on equal channel groups, then 1x1 (MixNet)", _mixconv),
)
