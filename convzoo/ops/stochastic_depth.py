"""Stochastic depth: drop a residual branch at random during training.

Paper: Deep Networks with Stochastic Depth (Gao Huang, Yu Sun, Zhuang Liu, Daniel Sedra,
Kilian Q. Weinberger, ECCV 2016) https://arxiv.org/abs/1603.09382

A residual block computes ``y = x + f(x)``. Stochastic depth multiplies the branch by a
Bernoulli variable ``b`` with survival probability ``1 - p`` during training,
``y = x + b f(x)`` (Eq. 2), so each mini-batch trains a shallower network drawn from the
exponentially many sub-networks, and gradients reach early layers through fewer layers.
The paper's linear decay rule (Eq. 4) makes the drop probability grow with depth: the
block ``l`` of ``L`` drops with ``p_l = l / L * p_L``.

At test time the paper scales the branch by its survival probability; like torchvision
and timm we divide the kept branches by ``1 - p`` during training instead ("inverted"
scaling, as in dropout), so evaluation is the plain residual sum.

Two modes, as in torchvision: ``"row"`` draws one variable per sample of the batch (each
sample sees its own sub-network; what EfficientNet uses, also called drop path), ``"batch"``
one for the whole batch (the paper's formulation).
"""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

__all__ = ["StochasticDepth", "stochastic_depth"]

MODES = ("row", "batch")


def stochastic_depth(x: torch.Tensor, p: float, mode: str = "row", training: bool = True) -> torch.Tensor:
    """Zero ``x`` per sample (``"row"``) or entirely (``"batch"``) with probability ``p``; scale the rest by ``1 / (1 - p)``.

    Args:
        x: the residual branch, ``(B, ...)``.
        p: probability of dropping, in ``[0, 1]``.
        mode: ``"row"`` or ``"batch"``.
        training: when false, ``x`` is returned unchanged.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop probability must lie in [0, 1], got {p}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    shape = (x.shape[0],) + (1,) * (x.dim() - 1) if mode == "row" else (1,) * x.dim()
    keep = x.new_empty(shape).bernoulli_(survival)  # (B, 1, 1, 1) in row mode
    if survival > 0.0:
        keep.div_(survival)
    return x * keep


# One node in an fx graph: the shape arithmetic above cannot run on proxies.
torch.fx.wrap("stochastic_depth")


class StochasticDepth(nn.Module):
    """Module form of :func:`stochastic_depth`, active only in training mode.

    Args:
        p: probability of dropping the branch.
        mode: ``"row"`` (per sample) or ``"batch"`` (the whole batch).

    Shape:
        - Input: ``(B, *)``
        - Output: same as the input
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability must lie in [0, 1], got {p}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return stochastic_depth(x, self.p, self.mode)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
