"""MixConv: several kernel sizes in one depthwise conv, each on its own slice of the channels.

Paper: MixConv: Mixed Depthwise Convolutional Kernels (Mingxing Tan, Quoc V. Le, BMVC 2019)
https://arxiv.org/abs/1907.09595

A depthwise conv picks one kernel size for all channels; large kernels see more context
but cost more and, alone, stop helping beyond 7x7 or so (the paper's Fig. 1). MixConv
splits the channels into g groups and gives group i its own kernel size k_i (3x3, 5x5,
7x7, ...), then concatenates the outputs:

    Y = concat(Conv_{k_1}(X_1), ..., Conv_{k_g}(X_g))                       (Eq. 2-3)

so one layer mixes fine and coarse receptive fields at a cost between its smallest and
largest kernel. The channels are split equally (what MixNet uses) or exponentially, group
i holding 2^-(i+1) of them and the last the rest. With one kernel size MixConv is a plain
(depthwise) conv; with 1x1 kernels only it is a grouped pointwise conv, which MixNet uses
for its expansion and projection layers.

The groups are submodules ``0``, ``1``, ... in kernel order, as in timm's MixNet checkpoints.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from convzoo.ops.conv_norm_act import same_padding

__all__ = ["MixConv2d", "split_channels"]

Split = Literal["equal", "exponential"]


def split_channels(channels: int, groups: int, split: Split = "equal") -> list[int]:
    """Channels of each group: equal shares with the remainder in the first group, or halving shares.

    >>> split_channels(34, 3), split_channels(32, 4, "exponential")
    ([12, 11, 11], [16, 8, 4, 4])
    """
    if split == "equal":
        sizes = [channels // groups] * groups
        sizes[0] += channels - sum(sizes)
    elif split == "exponential":
        sizes = [channels >> (i + 1) for i in range(groups - 1)]
        sizes.append(channels - sum(sizes))
    else:
        raise ValueError(f"split must be 'equal' or 'exponential', got {split!r}")
    if min(sizes) < 1:
        raise ValueError(f"cannot split {channels} channels into {groups} non-empty {split} groups: {sizes}")
    return sizes


class MixConv2d(nn.ModuleList):
    """Convs of different kernel sizes on consecutive channel groups, outputs concatenated.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_sizes: one odd kernel size per group.
        stride: stride of every group's conv.
        dilation: dilation of every group's conv.
        depthwise: each group's conv is depthwise (needs ``in_channels == out_channels``);
            otherwise each is a dense conv within its group.
        split: how the channels are shared among the groups, ``"equal"`` or ``"exponential"``.
        bias: whether the convs have biases.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, ceil(H / stride), ceil(W / stride))``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int],
        stride: int = 1,
        dilation: int = 1,
        depthwise: bool = True,
        split: Split = "equal",
        bias: bool = False,
    ) -> None:
        if depthwise and in_channels != out_channels:
            raise ValueError(f"a depthwise MixConv keeps the width, got {in_channels} -> {out_channels} channels")
        groups = len(kernel_sizes)
        self.in_splits = split_channels(in_channels, groups, split)
        self.out_splits = split_channels(out_channels, groups, split)
        super().__init__(
            nn.Conv2d(
                group_in, group_out, k, stride=stride, padding=same_padding(k, dilation), dilation=dilation,
                groups=group_in if depthwise else 1, bias=bias,
            )
            for k, group_in, group_out in zip(kernel_sizes, self.in_splits, self.out_splits)
        )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_sizes = tuple(kernel_sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self) == 1:
            return self[0](x)
        parts = torch.split(x, self.in_splits, dim=1)  # g tensors (B, C_i, H, W)
        return torch.cat([conv(parts[i]) for i, conv in enumerate(self)], dim=1)  # indexed: fx cannot unpack
