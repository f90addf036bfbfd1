"""CBAM: a channel gate, then a spatial gate, both computed from average- and max-pooled statistics.

Paper: CBAM: Convolutional Block Attention Module (Sanghyun Woo, Jongchan Park, Joon-Young
Lee, In So Kweon, ECCV 2018) https://arxiv.org/abs/1807.06521

Squeeze-and-excitation asks *which channels* matter, from the average of each channel.
CBAM adds two things (Sec. 3):

- channel attention (Eq. 2): both the average- and the max-pooled descriptor go through
  one shared MLP ``C -> C / r -> C``, the two outputs are summed and squashed,
  ``M_c = sigma(MLP(AvgPool(F)) + MLP(MaxPool(F)))``; the paper finds max pooling adds
  information the average misses;
- spatial attention (Eq. 3): the gated map is pooled *across channels* into two planes,
  average and max, concatenated and convolved by one ``7x7`` conv,
  ``M_s = sigma(f^{7x7}([AvgPool(F'); MaxPool(F')]))``, which says *where* to look.

The two gates are applied in sequence, channel first (Eq. 1, the order the paper found
best): ``F' = M_c(F) * F``, ``F'' = M_s(F') * F'``.

Cost (biases not counted), ``N = HW``, ``C_r`` the MLP width, ``k`` the spatial kernel:
``MACs = 4 C C_r + 2 k^2 N`` (the MLP runs on two descriptors; the conv maps 2 planes to 1).

Deviations:
    * The MLP layers carry biases, as the authors' code (``nn.Linear``) does; they are 1x1
      convs here, with the keys ``channel_gate.fc1`` / ``channel_gate.fc2``.
    * The spatial conv has a bias and no BatchNorm, as Eq. (3) writes it; the authors'
      code puts a BatchNorm after it and concatenates the max plane before the average.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["CBAM", "ChannelGate", "SpatialGate"]

LayerFactory = Callable[..., nn.Module]


class ChannelGate(nn.Module):
    """Channel attention of CBAM, Eq. (2); multiplies the input by ``M_c``.

    Args:
        channels: channels of the input (and output).
        reduced_channels: width ``C_r`` of the shared MLP.
        act_layer: builds the MLP's hidden activation from no arguments.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(
        self, channels: int, reduced_channels: int, act_layer: LayerFactory = partial(nn.ReLU, inplace=True)
    ) -> None:
        super().__init__()
        if reduced_channels < 1:
            raise ValueError(f"reduced_channels must be at least 1, got {reduced_channels}")
        self.fc1 = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(reduced_channels, channels, kernel_size=1)
        self.gate = nn.Sigmoid()

    def mlp(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(z)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        mx = x.amax((2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * self.gate(self.mlp(avg) + self.mlp(mx))  # Eq. (2), shared MLP


class SpatialGate(nn.Module):
    """Spatial attention of CBAM, Eq. (3); multiplies the input by ``M_s``.

    Args:
        kernel_size: size ``k`` of the conv over the two pooled planes (odd; 7 in the paper).

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * self.gate(self.conv(pooled))  # Eq. (3), (B, 1, H, W) broadcast over C


class CBAM(nn.Module):
    """Channel gate then spatial gate, Eq. (1).

    Args:
        channels: channels of the input (and output).
        reduced_channels: width of the channel MLP; ``channels // reduction`` (at least 1)
            when ``None``.
        reduction: the ratio ``r`` (16 in the paper) used when ``reduced_channels`` is ``None``.
        spatial_kernel_size: size of the spatial conv (7 in the paper).
        act_layer: builds the MLP's hidden activation from no arguments.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(
        self,
        channels: int,
        reduced_channels: int | None = None,
        reduction: int = 16,
        spatial_kernel_size: int = 7,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        reduced_channels = max(1, channels // reduction) if reduced_channels is None else reduced_channels
        self.channel_gate = ChannelGate(channels, reduced_channels, act_layer)
        self.spatial_gate = SpatialGate(spatial_kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_gate(self.channel_gate(x))  # F'' = M_s(F') F', F' = M_c(F) F
