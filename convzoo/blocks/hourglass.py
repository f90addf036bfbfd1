"""The hourglass module: a residual U-Net whose concatenation is an addition.

Paper: Stacked Hourglass Networks for Human Pose Estimation (A. Newell, K. Yang, J. Deng,
ECCV 2016) https://arxiv.org/abs/1603.06937

Where a joint is depends on the pixels near it (the local appearance of a wrist) and on
the whole body (which arm it belongs to, where the elbow is). The hourglass (Section 3.1,
Fig. 3) sees both in one pass: it pools the features down to a very coarse map (4x4 for a
64x64 input), where one position covers the whole person, and comes back up to the input
resolution, adding at each scale the features it had branched off there on the way down::

    level n (H x W):  x ---------- skip residuals -------------------------+
                      |                                                    + --> out
                      +-> 2x2 max-pool -> residuals -> level n-1 -> residuals -> nearest x2
                                       (H/2 x W/2)  (or, at the bottom, residuals)

That is U-Net's shape with two changes: every conv is a residual module, so the skip
branch transforms its features too, and the two paths meet by an element-wise *sum*
where U-Net concatenates. The channel count stays the same at every scale (256 in the
paper), so the sum needs no projection and the module can be stacked end to end.

The residual module (Fig. 4, left) is a pre-activation bottleneck (He et al., "Identity
Mappings in Deep Residual Networks", 2016): BN-ReLU-conv 1x1 to half the output width,
BN-ReLU-conv 3x3, BN-ReLU-conv 1x1 back to the output width, added to the input; a 1x1
conv projects the shortcut when the width changes. No filter is larger than 3x3 (Section
3.2), which keeps memory low at the high resolutions.

Submodules follow the layout of bearpaw's pytorch-pose (``pose/models/hourglass.py``), the
common PyTorch port of the authors' Torch code, so its checkpoints load unmapped:
``hg[k]`` holds the residual stacks of the level with ``k + 1`` pools below it (``hg[0]``
the innermost), in the order ``skip``, ``down``, ``up`` and, at the innermost level only,
``bottom``; a bottleneck's layers are ``bn1``, ``conv1``, ..., ``conv3`` and its shortcut
projection ``downsample.0``.

Deviations:
    The convs have biases, as in the authors' Torch code and bearpaw's port, although a
    batch norm follows most of them; the paper does not say.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from convzoo.ops.conv_norm_act import LayerFactory

__all__ = ["Hourglass", "PreActBottleneck", "residual_stack"]

# Positions of the residual stacks in one level of ``Hourglass.hg``.
SKIP, DOWN, UP, BOTTOM = 0, 1, 2, 3


class PreActBottleneck(nn.Module):
    """The hourglass's residual module: three BN-ReLU-conv layers (1x1, 3x3, 1x1) and a shortcut.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output; the inner convs have ``out_channels // 2``.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    expansion = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if out_channels % self.expansion:
            raise ValueError(f"out_channels must be a multiple of {self.expansion}, got {out_channels}")
        mid_channels = out_channels // self.expansion
        self.bn1 = norm_layer(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1)
        self.bn2 = norm_layer(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, padding=1)
        self.bn3 = norm_layer(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1)
        self.act = act_layer()
        # A Sequential so that the projection's keys are ``downsample.0.*``, as in bearpaw's port.
        projection = in_channels != out_channels
        self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1)) if projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.act(self.bn1(x)))  # (B, out / 2, H, W)
        out = self.conv2(self.act(self.bn2(out)))  # (B, out / 2, H, W)
        out = self.conv3(self.act(self.bn3(out)))  # (B, out, H, W)
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


def residual_stack(
    channels: int,
    num_blocks: int,
    norm_layer: LayerFactory = nn.BatchNorm2d,
    act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
) -> nn.Sequential:
    """``num_blocks`` residual modules of constant width ``channels``, one after another."""
    return nn.Sequential(*[PreActBottleneck(channels, channels, norm_layer, act_layer) for _ in range(num_blocks)])


class Hourglass(nn.Module):
    """One hourglass: ``depth`` halvings by max-pooling and back, with residual skip branches added.

    Args:
        channels: channels of the input, of every intermediate map and of the output.
        depth: number of 2x2 max-pools on the way down (4 in the paper: 64x64 down to 4x4).
        num_blocks: residual modules in each stack (1 in the paper's final network).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        (B, channels, H, W) -> (B, channels, H, W), H and W multiples of ``2 ** depth``.
    """

    def __init__(
        self,
        channels: int,
        depth: int = 4,
        num_blocks: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"an hourglass needs a depth of at least 1 pool, got {depth}")
        self.channels = channels
        self.depth = depth
        self.pool = nn.MaxPool2d(2, stride=2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

        def stacks(count: int) -> nn.ModuleList:
            return nn.ModuleList(residual_stack(channels, num_blocks, norm_layer, act_layer) for _ in range(count))

        # hg[0] is the innermost level: skip, down, up and the bottom stack; the others skip, down, up.
        self.hg = nn.ModuleList(stacks(4 if level == 0 else 3) for level in range(depth))

    def level_forward(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """The hourglass below and including ``hg[level]`` applied to ``x``: (B, C, h, w) -> (B, C, h, w)."""
        stacks = self.hg[level]
        skip = stacks[SKIP](x)  # (B, C, h, w)
        low = stacks[DOWN](self.pool(x))  # (B, C, h / 2, w / 2)
        low = self.level_forward(level - 1, low) if level > 0 else stacks[BOTTOM](low)
        low = stacks[UP](low)  # (B, C, h / 2, w / 2)
        return skip + self.upsample(low)  # (B, C, h, w): the sum where U-Net concatenates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.level_forward(self.depth - 1, x)
