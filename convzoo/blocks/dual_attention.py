"""Dual attention: self-attention over positions and over channels, both added to the input.

Paper: Dual Attention Network for Scene Segmentation (Jun Fu, Jing Liu, Haijie Tian, Yong
Li, Yongjun Bao, Zhiwei Fang, Hanqing Lu, CVPR 2019) https://arxiv.org/abs/1809.02983

DANet models two kinds of long-range dependency (Sec. 3):

- the position attention module (PAM, Sec. 3.2): 1x1 convs give a query ``B`` and key
  ``C`` of ``C / 8`` channels and a value ``D`` of ``C`` channels; the spatial attention
  map ``s_ji = softmax_i(B_i^T C_j)`` over the ``N = HW`` positions (Eq. 1) weighs the
  values, ``E_j = alpha sum_i s_ji D_i + A_j`` (Eq. 2);
- the channel attention module (CAM, Sec. 3.3): the channel affinity ``A A^T`` of the
  input itself, no projections, softmax over channels ``x_ji`` (Eq. 3), and
  ``E_j = beta sum_i x_ji A_i + A_j`` (Eq. 4). The authors' code feeds the softmax
  ``max_i(energy_j) - energy_ji`` rather than the energy: the softmax then favours the
  *least* similar channels (as remembered from their released ``CAM_Module``; it is
  followed here).

``alpha`` and ``beta`` start at zero (the paper: "initialized as 0 and gradually learns to
assign more weight"), so fresh modules are the identity.

Cost (biases not counted), ``N = HW``, ``C' = C / 8``:
PAM ``MACs = N C (2 C' + C) + N^2 (C' + C)``; CAM ``MACs = 2 N C^2``.

Deviations:
    * :class:`DualAttention` applies both modules to the same input and sums their
      contributions, ``x + alpha PAM_att(x) + beta CAM_att(x)``, so that it maps ``C``
      channels to ``C`` as an ``attn_layer``. The DANet head instead reduces the channels
      by a 3x3 conv + BN + ReLU before each module, convolves after, and sums the two
      branches; that head is not implemented.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelAttention", "DualAttention", "PositionAttention"]


class PositionAttention(nn.Module):
    """DANet's position attention module (PAM), Eqs. (1)-(2).

    Args:
        channels: channels of the input (and output).
        reduced_channels: width of the query and key; ``channels // 8`` (at least 1) when ``None``.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, channels: int, reduced_channels: int | None = None) -> None:
        super().__init__()
        reduced_channels = max(1, channels // 8) if reduced_channels is None else reduced_channels
        if reduced_channels < 1:
            raise ValueError(f"reduced_channels must be at least 1, got {reduced_channels}")
        self.query = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))  # alpha

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The position attention map ``s_ji`` of Eq. (1), shape ``(B, N, N)`` (row: query ``j``)."""
        q, k = self.query(x).flatten(2), self.key(x).flatten(2)  # (B, C', N)
        return self.softmax(torch.einsum("bcj,bci->bji", q, k))  # (B, N, N)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``alpha sum_i s_ji D_i``, the term Eq. (2) adds to the input."""
        attn = self.attention(x)  # (B, N, N): s_ji, Eq. (1)
        out = torch.einsum("bji,bci->bcj", attn, self.value(x).flatten(2))  # (B, C, N)
        return self.gamma * out.unflatten(2, x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)  # Eq. (2)


class ChannelAttention(nn.Module):
    """DANet's channel attention module (CAM), Eqs. (3)-(4).

    Args:
        channels: channels of the input (and output); CAM has no projection, only ``beta``.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))  # beta

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``beta sum_i x_ji A_i``, the term Eq. (4) adds to the input."""
        a = x.flatten(2)  # (B, C, N)
        energy = torch.einsum("bjn,bin->bji", a, a)  # (B, C, C)
        energy = energy.amax(dim=-1, keepdim=True) - energy  # the authors' code: max - energy
        out = torch.einsum("bji,bin->bjn", self.softmax(energy), a)  # (B, C, N), Eq. (3)-(4)
        return self.gamma * out.unflatten(2, x.shape[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)  # Eq. (4)


class DualAttention(nn.Module):
    """PAM and CAM on the same input, their contributions summed: ``x + PAM_att(x) + CAM_att(x)``.

    Args:
        channels: channels of the input (and output).
        reduced_channels: width of PAM's query and key; ``channels // 8`` when ``None``.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, channels: int, reduced_channels: int | None = None) -> None:
        super().__init__()
        self.pam = PositionAttention(channels, reduced_channels)
        self.cam = ChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pam.residual(x) + self.cam.residual(x)
