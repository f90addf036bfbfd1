"""Criss-cross attention: each position attends to its row and its column; twice reaches everywhere.

Paper: CCNet: Criss-Cross Attention for Semantic Segmentation (Zilong Huang, Xinggang Wang,
Lichao Huang, Chang Huang, Yunchao Wei, Wenyu Liu, ICCV 2019)
https://arxiv.org/abs/1811.11721

A non-local block relates every pair of the ``N = HW`` positions: an ``N x N`` attention
map, ``O((HW)^2)`` memory and MACs. Criss-cross attention keeps, for position ``u``, only
the ``H + W - 1`` positions of its cross (its column and its row, itself once) (Sec. 3.1):

- ``Q``, ``K`` (1x1 convs to ``C' = C / 8``) and ``V`` (1x1 conv to ``C``);
- affinity ``d_{i,u} = Q_u^T Omega_{i,u}`` for the keys ``Omega_u`` on the cross (Eq. 1),
  softmax over the ``H + W`` entries; the position ``u`` itself lies on both its column and
  its row, so, as the authors' code does, its column copy is masked to ``-inf`` and it is
  counted once;
- aggregation ``H'_u = sum_i A_{i,u} Phi_{i,u} + H_u`` over the values on the cross
  (Eq. 2), here scaled by a learnt ``gamma`` that starts at zero (the authors' code), so
  a fresh module is the identity.

The column and row affinities are two einsums, ``(B, H, W, H)`` and ``(B, H, W, W)``: the
map has ``HW (H + W)`` entries and the MACs are ``HW (H + W) (C' + C)`` per pass, rather
than ``(HW)^2 (C' + C)`` for full attention.

One pass moves information only along the cross. Applied again with the same weights
(the recurrent criss-cross attention, RCCA, ``R = 2``, Sec. 3.2), position ``u`` reaches
``(x, y)`` through the intersection ``(u_x, y)`` or ``(x, u_y)``: every position sees every
other, still at ``O(HW (H + W))`` cost.

Deviations:
    * This is the attention module with its recurrence; the RCCA head of the paper (a
      3x3 conv + BN before, and a conv, BN and concatenation with the input after) is not
      part of it.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CrissCrossAttention"]


@torch.fx.wrap
def _mask_self(energy_col: torch.Tensor) -> torch.Tensor:
    """Sets ``energy_col[b, i, j, i]`` (position ``(i, j)`` in its own column) to ``-inf``."""
    h = energy_col.shape[1]
    diagonal = torch.eye(h, dtype=torch.bool, device=energy_col.device)  # (H, H) over (i, k)
    return energy_col.masked_fill(diagonal[:, None, :], float("-inf"))


class CrissCrossAttention(nn.Module):
    """Recurrent criss-cross attention with shared weights.

    Args:
        channels: channels of the input (and output).
        reduced_channels: width ``C'`` of the query and key; ``channels // 8`` (at least 1)
            when ``None``.
        recurrence: how many times ``R`` the module is applied (2 in the paper).

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(self, channels: int, reduced_channels: int | None = None, recurrence: int = 2) -> None:
        super().__init__()
        reduced_channels = max(1, channels // 8) if reduced_channels is None else reduced_channels
        if reduced_channels < 1 or recurrence < 1:
            raise ValueError(f"reduced_channels and recurrence must be at least 1, got {reduced_channels}, {recurrence}")
        self.recurrence = recurrence
        self.query = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """One criss-cross pass, ``gamma * sum_{cross} A V + x`` (Eq. 2)."""
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, C', H, W), (B, C', H, W), (B, C, H, W)
        energy_col = _mask_self(torch.einsum("bcij,bckj->bijk", q, k))  # (B, H, W, H): keys (k, j)
        energy_row = torch.einsum("bcij,bcil->bijl", q, k)  # (B, H, W, W): keys (i, l)
        h = energy_col.shape[-1]
        attn = self.softmax(torch.cat([energy_col, energy_row], dim=-1))  # (B, H, W, H + W), Eq. (1)
        attn_col, attn_row = attn[..., :h], attn[..., h:]
        out = torch.einsum("bijk,bckj->bcij", attn_col, v) + torch.einsum("bijl,bcil->bcij", attn_row, v)
        return self.gamma * out + x  # (B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(self.recurrence):  # R passes, shared weights
            x = self.attend(x)
        return x
