"""Spatially separable convolution: a ``k x 1`` conv, then a ``1 x k`` conv, and the SVD that finds one.

Paper: Speeding up Convolutional Neural Networks with Low Rank Expansions (Max Jaderberg,
Andrea Vedaldi, Andrew Zisserman, BMVC 2014) https://arxiv.org/abs/1405.3866

A 2-D filter is *separable* when it is an outer product ``w = v h^T`` of a column ``v``
(``k x 1``) and a row ``h`` (``1 x k``): the Sobel and Gaussian filters are. Convolving with
it is then a vertical 1-D conv followed by a horizontal one, ``2k`` multiplications per
pixel instead of ``k^2``. A filter of rank ``r`` is a sum of ``r`` such outer products
(its SVD ``w = sum_i sigma_i u_i v_i^T``), and the best rank-``r`` approximation in the
Frobenius norm keeps the ``r`` largest singular values; its error is the norm of the
dropped ones (Eckart-Young).

A layer maps ``C`` input channels to ``N`` output channels with ``N C`` such filters.
This file gives the two ways to make it separable:

- :class:`SpatiallySeparableConv2d`, Jaderberg et al.'s Scheme 2 and the asymmetric
  convolutions of Inception-v3 (Szegedy et al., CVPR 2016, https://arxiv.org/abs/1512.00567):
  ``M`` vertical ``k x 1`` filters over all ``C`` inputs (a conv ``C -> M``), then ``N``
  horizontal ``1 x k`` filters over those ``M`` maps (a conv ``M -> N``). The two compose
  to the ``k x k`` conv with kernel

      W[n, c] = sum_m V[m, c] H[n, m]^T        (column V[m, c] times row H[n, m])

  so it is a ``k x k`` conv whose kernel, unfolded to a ``(C k) x (N k)`` matrix
  ``Wmat[(c, a), (n, b)] = W[n, c, a, b]``, has rank at most ``M``. Its cost is
  ``k M (C + N)`` weights and ``k M (C + N) H W`` mult-adds (stride 1, same padding)
  against ``k^2 C N`` and ``k^2 C N H W``.
- :class:`FilterwiseSeparableConv2d`: every one of the ``N C`` filters is a sum of ``r``
  separable filters of its own, the textbook notion. It runs as a vertical conv with
  ``groups=C`` (each input channel makes ``N r`` column-filtered maps), a channel shuffle
  (ShuffleNet's, :func:`~convzoo.ops.channel_shuffle`) that gathers the maps of each output
  channel, and a horizontal conv with ``groups=N`` that filters and sums them. Its cost is
  ``2 k r C N`` weights and mult-adds per pixel: it saves only while ``2r < k``, and its
  middle activation is ``C N r`` channels wide.

:func:`separate` factorises a trained ``k x k`` conv into either form by a truncated SVD:
of the unfolded kernel for Scheme 2 (the closed-form optimum of Tai et al., ICLR 2016,
https://arxiv.org/abs/1511.06067), or of every filter for the filter-wise form. Both are
the best approximation of their rank in the Frobenius norm of the kernel; the function
returns the relative error ``||W - W_r||_F / ||W||_F``, zero (to rounding) when the kernel
already has rank ``<= r``.

The vertical conv carries the stride, padding and dilation along the height, the horizontal
one along the width, so the pair equals the ``k x k`` conv exactly at every border: zero
padding the width of the vertical conv's output is zero padding the input's width.
Rectangular ``kh x kw`` kernels work the same way.

Deviations: Jaderberg et al. fit Scheme 2 by minimising a filter or data reconstruction
loss with gradient descent; :func:`separate` uses the closed-form SVD (filter reconstruction,
no data), which Tai et al. showed is the global optimum of the filter reconstruction loss.
The fine-tuning that follows the approximation in the paper is left to the user.
Only ``groups=1`` zero-padded convs are factorised. Inception-v3 runs the ``1 x k`` conv
first; here the ``k x 1`` conv always comes first (either order composes to the same family
of kernels, with the roles of rows and columns swapped).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Union

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from convzoo.ops.channel_shuffle import channel_shuffle

__all__ = [
    "SpatiallySeparableConv2d", "FilterwiseSeparableConv2d", "Separation", "separate", "separable_params",
]

IntPair = Union[int, tuple[int, int]]


def _same_padding(kernel_size: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    return tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation))


class _VerticalHorizontal(nn.Module):
    """The shared ``k x 1`` then ``1 x k`` skeleton: the vertical conv takes the height's
    stride, padding and dilation, the horizontal conv the width's."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair,
        padding: IntPair | None,
        dilation: IntPair,
        groups_v: int,
        groups_h: int,
        bias: bool,
    ) -> None:
        super().__init__()
        kh, kw = _pair(kernel_size)
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        ph, pw = _same_padding((kh, kw), (dh, dw)) if padding is None else _pair(padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = (kh, kw), (sh, sw), (ph, pw), (dh, dw)
        # No bias in the middle: it would be smeared by the horizontal filters and broken by the zero padding.
        self.conv_v = nn.Conv2d(
            in_channels, mid_channels, (kh, 1), stride=(sh, 1), padding=(ph, 0), dilation=(dh, 1),
            groups=groups_v, bias=False,
        )
        self.conv_h = nn.Conv2d(
            mid_channels, out_channels, (1, kw), stride=(1, sw), padding=(0, pw), dilation=(1, dw),
            groups=groups_h, bias=bias,
        )

    def as_conv2d(self) -> nn.Conv2d:
        """The ``kh x kw`` conv this pair computes, with :meth:`kernel` as its weight."""
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, stride=self.stride, padding=self.padding,
            dilation=self.dilation, bias=self.conv_h.bias is not None,
        ).to(self.conv_h.weight)
        with torch.no_grad():
            conv.weight.copy_(self.kernel())
            if conv.bias is not None:
                conv.bias.copy_(self.conv_h.bias)
        return conv

    def kernel(self) -> torch.Tensor:
        raise NotImplementedError


class SpatiallySeparableConv2d(_VerticalHorizontal):
    """A ``kh x 1`` conv to ``mid_channels`` maps, then a ``1 x kw`` conv to ``out_channels`` (Scheme 2).

    Equal to a ``kh x kw`` conv whose kernel is ``W[n, c] = sum_m V[m, c] H[n, m]^T``
    (:meth:`kernel`). Weights: ``kh M C + kw M N`` (plus ``N`` biases); mult-adds:
    ``H' W M C kh + H' W' N M kw`` for an ``H x W`` input and an ``H' x W'`` output, i.e.
    ``k M (C + N) H W`` at stride 1 with same padding.

    Args:
        in_channels: channels of the input (``C``).
        out_channels: channels of the output (``N``).
        kernel_size: ``k`` or ``(kh, kw)``: the vertical conv is ``kh x 1``, the horizontal ``1 x kw``.
        stride: stride of the composite conv; the vertical conv strides the height, the horizontal the width.
        padding: zero padding of the composite conv, split the same way; ``None`` keeps the size at stride 1
            (``d (k - 1) / 2``, odd kernels).
        dilation: dilation of the composite conv.
        mid_channels: channels between the two convs (``M``, the rank of the unfolded kernel);
            ``None`` for ``out_channels``, Inception-v3's choice.
        bias: whether the horizontal conv has a bias (the vertical one never has).

    Shape:
        - Input: ``(B, C, H, W)``
        - Middle: ``(B, M, H', W)``
        - Output: ``(B, N, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair = 3,
        stride: IntPair = 1,
        padding: IntPair | None = None,
        dilation: IntPair = 1,
        mid_channels: int | None = None,
        bias: bool = False,
    ) -> None:
        mid_channels = out_channels if mid_channels is None else mid_channels
        super().__init__(in_channels, mid_channels, out_channels, kernel_size, stride, padding, dilation, 1, 1, bias)
        self.mid_channels = mid_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_v(x)  # (B, M, H', W): columns filtered
        return self.conv_h(x)  # (B, N, H', W'): rows filtered, M summed

    def kernel(self) -> torch.Tensor:
        """The composite ``(N, C, kh, kw)`` kernel ``W[n, c, a, b] = sum_m V[m, c, a] H[n, m, b]``."""
        return torch.einsum("mca,nmb->ncab", self.conv_v.weight[..., 0], self.conv_h.weight[:, :, 0])


class FilterwiseSeparableConv2d(_VerticalHorizontal):
    """A ``kh x kw`` conv each of whose ``N C`` filters is a sum of ``rank`` separable filters.

    Runs as a vertical ``kh x 1`` conv with ``groups=C`` to ``C N r`` maps (ordered
    ``(c, n, i)``), a channel shuffle with ``C`` groups (to ``(n, i, c)``), and a horizontal
    ``1 x kw`` conv with ``groups=N`` that sums each output's ``r C`` maps. Weights:
    ``C N r (kh + kw)`` (plus ``N`` biases); mult-adds ``H' W C N r kh + H' W' N r C kw``,
    i.e. ``2 k r C N H W`` at stride 1 with same padding.

    Args:
        in_channels: channels of the input (``C``).
        out_channels: channels of the output (``N``).
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: stride of the composite conv (height in the vertical conv, width in the horizontal).
        padding: zero padding of the composite conv; ``None`` keeps the size at stride 1.
        dilation: dilation of the composite conv.
        rank: separable terms per filter (``r``).
        bias: whether the horizontal conv has a bias.

    Shape:
        - Input: ``(B, C, H, W)``
        - Middle: ``(B, C N r, H', W)``
        - Output: ``(B, N, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair = 3,
        stride: IntPair = 1,
        padding: IntPair | None = None,
        dilation: IntPair = 1,
        rank: int = 1,
        bias: bool = False,
    ) -> None:
        if rank < 1:
            raise ValueError(f"rank must be a positive integer, got {rank}")
        mid_channels = in_channels * out_channels * rank
        super().__init__(
            in_channels, mid_channels, out_channels, kernel_size, stride, padding, dilation,
            in_channels, out_channels, bias,
        )
        self.rank = rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_v(x)  # (B, C N r, H', W), channels ordered (c, n, i)
        x = channel_shuffle(x, self.in_channels)  # (B, N r C, H', W), ordered (n, i, c): output n's maps together
        return self.conv_h(x)  # (B, N, H', W'): each group filters its r C maps along rows and sums them

    def kernel(self) -> torch.Tensor:
        """The composite ``(N, C, kh, kw)`` kernel ``W[n, c] = sum_i V[c, n, i] H[n, i, c]^T``."""
        c, n, r = self.in_channels, self.out_channels, self.rank
        v = self.conv_v.weight.reshape(c, n, r, -1)  # (C, N, r, kh)
        h = self.conv_h.weight.reshape(n, r, c, -1)  # (N, r, C, kw)
        return torch.einsum("cnia,nicb->ncab", v, h)


class Separation(NamedTuple):
    """What :func:`separate` returns.

    Attributes:
        module: the separable conv, built like the original (stride, padding, dilation, bias, dtype, device).
        error: relative Frobenius error of its kernel, ``||W - W_r||_F / ||W||_F``
            (``sqrt`` of the dropped squared singular values over ``||W||_F``).
    """

    module: Union[SpatiallySeparableConv2d, FilterwiseSeparableConv2d]
    error: float


def _check_separable(conv: nn.Conv2d) -> tuple[int, int]:
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"separate takes an nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1:
        raise ValueError(f"separate takes convs with groups=1, got groups={conv.groups}")
    if conv.padding_mode != "zeros":
        raise ValueError(f"separate takes zero-padded convs, got padding_mode={conv.padding_mode!r}")
    if conv.padding == "valid":
        return 0, 0
    if conv.padding == "same":
        total = [d * (k - 1) for k, d in zip(conv.kernel_size, conv.dilation)]
        if any(t % 2 for t in total):
            raise ValueError("padding='same' with an even effective kernel pads unevenly; give the padding as integers")
        return total[0] // 2, total[1] // 2
    return conv.padding


def _relative_error(dropped: torch.Tensor, weight: torch.Tensor) -> float:
    norm = torch.linalg.vector_norm(weight).item()
    return torch.linalg.vector_norm(dropped).item() / norm if norm > 0 else 0.0


@torch.no_grad()
def separate(conv: nn.Conv2d, rank: int, mode: Literal["layer", "filter"] = "layer") -> Separation:
    """Factorise a ``kh x kw`` conv into a separable one by truncated SVD.

    ``mode="layer"`` (Scheme 2): the SVD of the unfolded kernel ``Wmat[(c, a), (n, b)] =
    W[n, c, a, b] = U S V^T``; the vertical filters are ``V[m, c, a] = sqrt(s_m) U[(c, a), m]``
    and the horizontal ``H[n, m, b] = sqrt(s_m) V[(n, b), m]`` for the ``rank`` largest
    ``s_m``. Gives a :class:`SpatiallySeparableConv2d` with ``mid_channels=rank``.

    ``mode="filter"``: the SVD of every ``kh x kw`` filter, ``W[n, c] = U S V^T``, keeps
    ``rank`` terms of each. Gives a :class:`FilterwiseSeparableConv2d`.

    Args:
        conv: a trained ``nn.Conv2d`` with ``groups=1`` and zero padding.
        rank: ``M`` for ``"layer"`` (at most ``min(C kh, N kw)``), ``r`` for ``"filter"``
            (at most ``min(kh, kw)``).
        mode: ``"layer"`` or ``"filter"``.

    Returns:
        A :class:`Separation` ``(module, error)``: the module and the relative Frobenius error of
        its kernel (0 up to rounding when the kernel has rank ``<= rank``).
    """
    padding = _check_separable(conv)
    n, c, kh, kw = conv.weight.shape
    weight = conv.weight.detach().to(torch.float64)
    if mode not in ("layer", "filter"):
        raise ValueError(f"mode must be 'layer' or 'filter', got {mode!r}")
    limit = min(c * kh, n * kw) if mode == "layer" else min(kh, kw)
    if not 1 <= rank <= limit:
        raise ValueError(f"rank must be in 1..{limit} for a {tuple(conv.weight.shape)} kernel in {mode!r} mode, "
                         f"got {rank}")
    args = dict(stride=conv.stride, padding=padding, dilation=conv.dilation, bias=conv.bias is not None)
    factory = dict(device=conv.weight.device, dtype=conv.weight.dtype)
    if mode == "layer":
        unfolded = weight.permute(1, 2, 0, 3).reshape(c * kh, n * kw)  # rows (c, a), columns (n, b)
        u, s, vh = torch.linalg.svd(unfolded, full_matrices=False)
        root = s[:rank].sqrt()
        vertical = (u[:, :rank] * root).T.reshape(rank, c, kh, 1)  # (M, C, kh, 1)
        horizontal = (vh[:rank].T * root).reshape(n, kw, rank).permute(0, 2, 1)  # (N, M, kw)
        module = SpatiallySeparableConv2d(c, n, (kh, kw), mid_channels=rank, **args).to(**factory)
        module.conv_v.weight.copy_(vertical)
        module.conv_h.weight.copy_(horizontal.unsqueeze(2))
        dropped = s[rank:]
    else:
        u, s, vh = torch.linalg.svd(weight, full_matrices=False)  # (N, C, kh, q), (N, C, q), (N, C, q, kw)
        root = s[..., :rank].sqrt()
        vertical = (u[..., :rank] * root.unsqueeze(-2)).permute(1, 0, 3, 2)  # (C, N, r, kh)
        horizontal = (vh[..., :rank, :] * root.unsqueeze(-1)).permute(0, 2, 1, 3)  # (N, r, C, kw)
        module = FilterwiseSeparableConv2d(c, n, (kh, kw), rank=rank, **args).to(**factory)
        module.conv_v.weight.copy_(vertical.reshape(c * n * rank, 1, kh, 1))
        module.conv_h.weight.copy_(horizontal.reshape(n, rank * c, 1, kw))
        dropped = s[..., rank:]
    if conv.bias is not None:
        module.conv_h.bias.copy_(conv.bias)
    return Separation(module, _relative_error(dropped, weight))


def separable_params(in_channels: int, out_channels: int, kernel_size: int, rank: int,
                     mode: Literal["layer", "filter"] = "layer") -> int:
    """Weights of the separable form (no bias): ``k M (C + N)`` or ``2 k r C N``; a dense conv has ``k^2 C N``."""
    if mode == "layer":
        return kernel_size * rank * (in_channels + out_channels)
    return 2 * kernel_size * rank * in_channels * out_channels

