"""Non-local block: every position is a weighted sum over all positions, for 1D, 2D and 3D inputs.

Paper: Non-local Neural Networks (Xiaolong Wang, Ross Girshick, Abhinav Gupta, Kaiming He,
CVPR 2018) https://arxiv.org/abs/1711.07971

A conv mixes only a local window, so relating two distant positions needs many layers. A
non-local operation relates them in one step (Eq. 1):

    y_i = 1 / C(x) * sum_j f(x_i, x_j) g(x_j)

``g(x_j) = W_g x_j`` is a 1x1 conv (the "value"), ``f`` a pairwise affinity and ``C(x)`` a
normaliser. The paper studies four choices of ``f`` (Sec. 3.2), all implemented here:

- ``"gaussian"``: ``f = exp(x_i^T x_j)``, ``C = sum_j f``, i.e. a softmax over ``j`` of the
  raw dot products;
- ``"embedded_gaussian"`` (the default): ``f = exp(theta(x_i)^T phi(x_j))`` with
  ``theta``, ``phi`` 1x1 convs, normalised by a softmax (the self-attention form);
- ``"dot_product"``: ``f = theta(x_i)^T phi(x_j)``, ``C = N`` (the number of keys);
- ``"concatenation"``: ``f = ReLU(w_f^T [theta(x_i), phi(x_j)])``, ``C = N``. Since
  ``w_f^T [a, b] = w_a^T a + w_b^T b``, the ``N x M`` affinity is a broadcast sum of two
  vectors and the concatenated tensor is never built.

The block wraps the operation in a residual (Eq. 6): ``z_i = BN(W_z y_i) + x_i``. The
embedding width is ``channels / 2`` by default (Sec. 3.3), and the output BN's scale and
shift start at zero, so a fresh block is exactly the identity and can be inserted into a
pre-trained network without changing it. With ``sub_sample`` a max pool after ``phi`` and
``g`` (Sec. 3.3, "subsampling") cuts the number of keys ``M`` to a quarter of ``N`` (a
2x2 pool; in 3D ``1x2x2``, pooling space and not time).

Cost, with ``N`` query and ``M`` key positions, ``C`` channels and ``C_i`` the embedding
width (embedded Gaussian and dot product; biases not counted):
``MACs = N C C_i (theta) + 2 M' C C_i (phi, g, before pooling: M' = N) + N C_i C (W_z)
+ 2 N M C_i (affinity and aggregation)``.

Deviations:
    * The 1x1 convs carry biases (as in the authors' and the common reference code);
      ``w_f`` of the concatenation form has none. The output BN is optional
      (``use_bn=False`` zero-initialises ``W_z`` instead).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NonLocalBlock", "PAIRWISE_FUNCTIONS"]

PairwiseFunction = Literal["embedded_gaussian", "gaussian", "dot_product", "concatenation"]
PAIRWISE_FUNCTIONS: tuple[str, ...] = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_POOL_KERNEL = {1: 2, 2: 2, 3: (1, 2, 2)}  # video: pool space, keep time


class NonLocalBlock(nn.Module):
    """Residual non-local block, ``z = BN(W_z y) + x`` with ``y`` of Eq. (1).

    Args:
        channels: channels of the input (and output).
        inter_channels: embedding width ``C_i`` of ``theta``, ``phi`` and ``g``;
            ``channels // 2`` (at least 1) when ``None``.
        mode: the pairwise function ``f``: ``"embedded_gaussian"``, ``"gaussian"``,
            ``"dot_product"`` or ``"concatenation"``.
        dims: spatial dimensions of the input: 1, 2 or 3.
        sub_sample: max-pool the keys and values (``phi`` and ``g``) to cut their count.
        use_bn: put a zero-initialised BatchNorm after ``W_z`` (else ``W_z`` itself
            starts at zero).

    Shape:
        - Input: ``(B, channels, *spatial)`` with ``len(spatial) == dims``
        - Output: ``(B, channels, *spatial)``
    """

    def __init__(
        self,
        channels: int,
        inter_channels: int | None = None,
        mode: PairwiseFunction = "embedded_gaussian",
        dims: int = 2,
        sub_sample: bool = False,
        use_bn: bool = True,
    ) -> None:
        super().__init__()
        if mode not in PAIRWISE_FUNCTIONS:
            raise ValueError(f"mode must be one of {PAIRWISE_FUNCTIONS}, got {mode!r}")
        if dims not in _CONV:
            raise ValueError(f"dims must be 1, 2 or 3, got {dims}")
        inter_channels = max(1, channels // 2) if inter_channels is None else inter_channels
        if inter_channels < 1:
            raise ValueError(f"inter_channels must be at least 1, got {inter_channels}")
        conv = _CONV[dims]
        self.mode = mode
        self.dims = dims
        self.inter_channels = inter_channels
        self.g = conv(channels, inter_channels, kernel_size=1)
        self.theta = conv(channels, inter_channels, kernel_size=1) if mode != "gaussian" else None
        self.phi = conv(channels, inter_channels, kernel_size=1) if mode != "gaussian" else None
        # w_f of the concatenation form, split as [w_theta, w_phi].
        self.concat_weight = nn.Parameter(torch.empty(2 * inter_channels)) if mode == "concatenation" else None
        self.softmax = nn.Softmax(dim=-1) if mode in ("gaussian", "embedded_gaussian") else nn.Identity()
        self.pool = _POOL[dims](kernel_size=_POOL_KERNEL[dims]) if sub_sample else nn.Identity()
        self.conv_out = conv(inter_channels, channels, kernel_size=1)
        self.norm_out = _NORM[dims](channels) if use_bn else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero the last affine layer, so that the block starts as the identity."""
        last = self.norm_out if isinstance(self.norm_out, nn.modules.batchnorm._BatchNorm) else self.conv_out
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        if self.concat_weight is not None:
            nn.init.normal_(self.concat_weight, std=(2 * self.inter_channels) ** -0.5)

    def affinity(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised pairwise term ``f(x_i, x_j) / C(x)`` of Eq. (1), shape ``(B, N, M)``."""
        if self.theta is None or self.phi is None:  # Gaussian: raw features
            query, key = x.flatten(2), self.pool(x).flatten(2)  # (B, C, N), (B, C, M)
        else:
            query, key = self.theta(x).flatten(2), self.pool(self.phi(x)).flatten(2)  # (B, C_i, N), (B, C_i, M)
        if self.mode == "concatenation":
            w_query, w_key = self.concat_weight.chunk(2)
            a = torch.einsum("c,bcn->bn", w_query, query)  # (B, N)
            b = torch.einsum("c,bcm->bm", w_key, key)  # (B, M)
            return F.relu(a.unsqueeze(2) + b.unsqueeze(1)) / key.shape[-1]  # (B, N, M), C(x) = M
        energy = torch.einsum("bcn,bcm->bnm", query, key)  # (B, N, M)
        if self.mode == "dot_product":
            return energy / key.shape[-1]  # C(x) = M
        return self.softmax(energy)  # (embedded) Gaussian: exp / sum exp over the keys

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self.pool(self.g(x)).flatten(2)  # (B, C_i, M)
        y = torch.einsum("bnm,bcm->bcn", self.affinity(x), value)  # (B, C_i, N), Eq. (1)
        y = y.unflatten(2, x.shape[2:])  # (B, C_i, *spatial)
        return x + self.norm_out(self.conv_out(y))  # Eq. (6)
