"""Channel shuffle: let the groups of a grouped convolution talk to each other.

Paper: ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices
(Xiangyu Zhang, Xinyu Zhou, Mengxiao Lin, Jian Sun, CVPR 2018) https://arxiv.org/abs/1707.01083

A grouped convolution with ``g`` groups splits its ``C`` input channels into ``g`` blocks
and convolves each block on its own; it costs ``1/g`` of the dense convolution. Stack two
of them and output group ``i`` still sees only input group ``i``: the network falls apart
into ``g`` parallel narrow networks (paper Fig. 1a). Channel shuffle mixes them again at
no cost in parameters or multiplications (Fig. 1b, c): view the channels as a ``(g, C/g)``
matrix, transpose it to ``(C/g, g)`` and read it out row by row. Output channel
``j * g + i`` is input channel ``i * C/g + j``, so every run of ``g`` consecutive outputs
(and therefore every group of the next grouped conv) holds one channel from each input
group.

The shuffle is a permutation. Its inverse is the shuffle with ``C/g`` groups (the transpose
of the transpose), and ShuffleNet V2 uses it with ``g = 2`` to mix its two branches.

Written with ``unflatten``/``transpose``/``flatten``, the op has no Python arithmetic on
shapes, so :mod:`torch.fx` traces it and the receptive-field analysis sees reshapes that
keep the spatial dims.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelShuffle", "channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal blocks: ``(B, g * n, ...) -> (B, n * g, ...)``.

    Args:
        x: a tensor ``(B, C, *spatial)`` with ``C`` divisible by ``groups``.
        groups: number of channel blocks; output channel ``j * groups + i`` is input
            channel ``i * C / groups + j``.
    """
    x = x.unflatten(1, (groups, -1))  # (B, g, C/g, H, W)
    x = x.transpose(1, 2)  # (B, C/g, g, H, W)
    return x.flatten(1, 2)  # (B, C, H, W), channels interleaved across the groups


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a module (no parameters).

    Args:
        groups: number of channel blocks to interleave.

    Shape:
        - Input: ``(B, C, *)`` with ``C`` divisible by ``groups``
        - Output: ``(B, C, *)``, the same channels in shuffled order
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        if groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups}")
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
