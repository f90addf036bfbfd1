"""Global context block: one query-independent attention map, then an SE-like transform, added back.

Paper: GCNet: Non-local Networks Meet Squeeze-Excitation Networks and Beyond (Yue Cao,
Jiarui Xu, Stephen Lin, Fangyun Wei, Han Hu, ICCV Workshops 2019)
https://arxiv.org/abs/1904.11492

The authors observed that the attention maps a trained non-local block computes are nearly
the same for every query position. Sharing one map for all queries turns the ``O(N^2)``
non-local block into an ``O(N)`` one (Eq. 2 -> Eq. 3), which they then write in three
steps (Sec. 4.1, Fig. 4d):

- context modelling: a 1x1 conv ``W_k`` maps ``x`` to one logit per position, a softmax
  over the ``N = HW`` positions makes them weights, and the context is the weighted sum
  of the features, ``c = sum_j softmax_j(W_k x_j) x_j`` (one ``C``-vector per image);
- transform: a bottleneck ``W_v2 ReLU(LN(W_v1 c))``, 1x1 convs ``C -> C / r -> C`` with a
  LayerNorm in the middle (which the paper found eases optimisation);
- fusion: the transformed context is *added* to every position, ``z_i = x_i + delta``.

Cost (biases not counted): ``MACs = 2 N C + 2 C C_r`` for ``N`` positions and ``C_r`` the
bottleneck width: ``N C`` for ``W_k``, ``N C`` for the weighted sum, ``2 C C_r`` for the
transform. The paper's default ratio is ``r = 16``.

The submodule names are those of timm's ``GlobalContext`` (``conv_attn``, ``mlp_add.fc1``,
``mlp_add.norm``, ``mlp_add.fc2``), built there with ``fuse_add=True, fuse_scale=False``.

Deviations:
    * The last conv of the transform is zero-initialised so that a fresh block is the
      identity. This follows the authors' released code (mmdetection's ``ContextBlock``,
      ``last_zero_init``) as remembered, not a statement of the paper.
    * The LayerNorm normalises the ``C_r`` channels of the context vector, as the
      authors' ``LayerNorm([C_r, 1, 1])`` does on a ``1x1`` map.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["GlobalContextBlock"]

LayerFactory = Callable[..., nn.Module]


class _ContextTransform(nn.Module):
    """``W_v2 act(LN(W_v1 c))`` on a ``(B, C, 1, 1)`` context."""

    def __init__(self, channels: int, reduced_channels: int, act_layer: LayerFactory) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced_channels, kernel_size=1)
        self.norm = nn.LayerNorm(reduced_channels)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(reduced_channels, channels, kernel_size=1)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        h = self.fc1(context).flatten(1)  # (B, C_r)
        h = self.act(self.norm(h))[:, :, None, None]  # (B, C_r, 1, 1)
        return self.fc2(h)  # (B, C, 1, 1)


class GlobalContextBlock(nn.Module):
    """Context modelling, bottleneck transform, fusion by addition.

    Args:
        channels: channels of the input (and output).
        reduced_channels: bottleneck width ``C_r``; ``channels // reduction`` (at least 1)
            when ``None``.
        reduction: the ratio ``r`` used when ``reduced_channels`` is ``None``.
        act_layer: builds the activation of the transform from no arguments.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(
        self,
        channels: int,
        reduced_channels: int | None = None,
        reduction: int = 16,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        reduced_channels = max(1, channels // reduction) if reduced_channels is None else reduced_channels
        if reduced_channels < 1:
            raise ValueError(f"reduced_channels must be at least 1, got {reduced_channels}")
        self.conv_attn = nn.Conv2d(channels, 1, kernel_size=1)  # W_k
        self.softmax = nn.Softmax(dim=-1)
        self.mlp_add = _ContextTransform(channels, reduced_channels, act_layer)
        nn.init.zeros_(self.mlp_add.fc2.weight)  # a fresh block is the identity
        nn.init.zeros_(self.mlp_add.fc2.bias)

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """The global context ``sum_j softmax_j(W_k x_j) x_j``, shape ``(B, C, 1, 1)``."""
        weights = self.softmax(self.conv_attn(x).flatten(1))  # (B, N), one map for all queries
        context = torch.einsum("bcn,bn->bc", x.flatten(2), weights)  # (B, C)
        return context[:, :, None, None]  # (B, C, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp_add(self.context(x))  # fusion: broadcast add to every position
