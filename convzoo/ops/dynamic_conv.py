"""Conditionally parameterised convolutions: a kernel computed per example from K expert kernels.

Paper: CondConv: Conditionally Parameterized Convolutions for Efficient Inference
(Brandon Yang, Gabriel Bender, Quoc V. Le, Jiquan Ngiam, NeurIPS 2019) https://arxiv.org/abs/1904.04971

Paper: Dynamic Convolution: Attention over Convolution Kernels (Yinpeng Chen, Xiyang Dai,
Mengchen Liu, Dongdong Chen, Lu Yuan, Zicheng Liu, CVPR 2020) https://arxiv.org/abs/1912.03458

A static conv applies the same kernel ``W`` to every image. Both operators here keep K
kernels ``W_1 .. W_K`` (the *experts*) and mix them into one kernel per example, with
coefficients computed from that example:

    y = (a_1(x) W_1 + ... + a_K(x) W_K) * x                                    (CondConv Eq. 1)

Since convolution is linear in its kernel this equals ``sum_k a_k(x) (W_k * x)``, a
mixture of K expert convs, but costs one conv plus the mixing of the kernels: K times
the parameters of a conv for a few percent more mult-adds (the mixing costs
``K x O x C/g x k^2`` per example, independent of the image size).

- **CondConv** routes with independent sigmoids over a global average pool:
  ``a(x) = sigmoid(GAP(x) R)`` (Eq. 2), ``R`` a ``C x K`` fully connected layer.
- **DynamicConv** computes a squeeze-and-excitation style attention, GAP -> FC (reducing
  the channels by 4) -> ReLU -> FC(K), and normalises it with a softmax at temperature τ:
  ``π_k = exp(z_k / τ) / sum_j exp(z_j / τ)`` (Eq. 4); the coefficients sum to one, so the
  mixed kernel stays in the convex hull of the experts, and the biases are mixed the same
  way. A large τ keeps the attention near uniform so that every kernel learns early on;
  the paper anneals τ from 30 to 1 over training (:func:`annealed_temperature`).

Batching: after the mixing, example ``b`` has its own kernel ``W^(b)``. Instead of a
Python loop of B convs, the batch is folded into the channels, ``(B, C, H, W) ->
(1, B*C, H, W)``, and the B kernels are stacked into one of ``B*O`` filters, so that a
single conv with ``groups = B x groups`` runs example ``b``'s channels through example
``b``'s filters only (:func:`per_example_conv2d`). The gain is in per-call overhead, not
in arithmetic: on a 2-core CPU with 64x32x32 maps, where the convs are compute-bound, it
measured 0.9-1.3x the loop (BENCHMARKS.md), 2-5x with 8x8 maps; on a GPU, where each
conv of the loop is a kernel launch, it should be larger.

Deviations:
    * The experts' weights are stored as ``(K, O, C/g, kh, kw)``; timm's ``CondConv2d``
      stores them flattened, ``(K, O*C/g*kh*kw)``: a reshape maps one onto the other.
      timm also computes the routing outside the conv; here each layer owns its routing.
    * The routing FC ``R`` has a bias (as timm's has); Eq. (2) writes none.
    * DynamicConv's temperature is a buffer saved in the state dict (a checkpoint keeps the
      τ it was trained at); set it with :meth:`DynamicConv2d.set_temperature`. The
      schedule, linear from 30 to 1 over the first 10 epochs, is as I recall the paper's
      (the official code starts at 34 and steps by 3 per epoch).
    * ``padding=None`` (the default) means same padding for odd kernels, as in
      :class:`~convzoo.ops.DepthwiseSeparableConv2d`; nn.Conv2d's default is 0.
"""

from __future__ import annotations

import math

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from convzoo.ops.conv_norm_act import same_padding

__all__ = ["CondConv2d", "DynamicConv2d", "annealed_temperature", "per_example_conv2d", "set_dynamic_temperature"]

IntPair = int | tuple[int, int]


def _check_channels(x: torch.Tensor, channels: int) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"expected an input of shape (B, {channels}, H, W), got {tuple(x.shape)}")


torch.fx.wrap("_check_channels")  # a leaf for fx: the check runs when the traced module runs


def per_example_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolve example ``b`` of ``x`` with its own kernel ``weight[b]``, in one grouped conv call.

    Args:
        x: input, ``(B, C, H, W)``.
        weight: one kernel per example, ``(B, O, C / groups, kh, kw)``.
        bias: one bias per example, ``(B, O)``, or ``None``.
        stride, padding, dilation, groups: as in :func:`torch.nn.functional.conv2d`, per example.

    Returns:
        ``(B, O, H', W')``, equal to ``stack([conv2d(x[b:b+1], weight[b], bias[b]) for b])``.
    """
    batch = x.shape[0]
    x = x.reshape(1, -1, x.shape[-2], x.shape[-1])  # (1, B*C, H, W): the batch folded into the channels
    out = F.conv2d(
        x, weight.flatten(0, 1), None if bias is None else bias.flatten(), stride, padding, dilation, groups * batch
    )  # (1, B*O, H', W'): group b*groups + j sees example b's channels only
    return out.reshape(batch, -1, out.shape[-2], out.shape[-1])  # (B, O, H', W')


class _MixtureOfKernelsConv2d(nn.Module):
    """K expert kernels (and biases) mixed per example by coefficients ``(B, K)``, then one batched conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair,
        padding: IntPair | None,
        dilation: IntPair,
        groups: int,
        num_experts: int,
        bias: bool,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
        if num_experts < 1:
            raise ValueError(f"num_experts must be positive, got {num_experts}")
        kernel_size, dilation = _pair(kernel_size), _pair(dilation)
        if padding is None:
            padding = tuple(same_padding(k, d) for k, d in zip(kernel_size, dilation))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, _pair(stride), _pair(padding), dilation
        self.groups, self.num_experts = groups, num_experts
        self.kernel_shape = (out_channels, in_channels // groups, *kernel_size)  # one expert's kernel
        self.weight = nn.Parameter(torch.empty(num_experts, *self.kernel_shape))  # (K, O, C/g, kh, kw)
        self.bias = nn.Parameter(torch.empty(num_experts, out_channels)) if bias else None  # (K, O)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Each expert is initialised as nn.Conv2d initialises its kernel and bias."""
        for expert in self.weight:
            nn.init.kaiming_uniform_(expert, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(math.prod(self.kernel_shape[1:]))
            nn.init.uniform_(self.bias, -bound, bound)

    def mixed_conv(self, x: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """``conv(x[b], sum_k coefficients[b, k] W_k)`` for every example ``b``: Eq. (1)."""
        weight = (coefficients @ self.weight.flatten(1)).view(-1, *self.kernel_shape)  # (B, O, C/g, kh, kw)
        bias = None if self.bias is None else coefficients @ self.bias  # (B, O)
        return per_example_conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"num_experts={self.num_experts}, bias={self.bias is not None}"
        )


class CondConv2d(_MixtureOfKernelsConv2d):
    """CondConv: a conv whose kernel is ``sum_i r_i(x) W_i`` with sigmoid routing weights per example.

    With one expert it is a plain conv of kernel ``r(x) W``; with the routing saturated at 1
    it is exactly the conv of kernel ``W``.

    Args:
        in_channels: channels of the input (``C``).
        out_channels: channels of the output (``O``).
        kernel_size: side (or ``(kh, kw)``) of each expert's kernel.
        stride: stride of the conv.
        padding: padding of the conv; ``None`` for same padding.
        dilation: dilation of the conv.
        groups: groups of the conv (per example).
        num_experts: number of expert kernels ``K`` (the paper uses 4 to 32, 8 for most of its results).
        bias: whether each expert has a bias, mixed with the same routing weights.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, O, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``

    Parameters: ``K (O C/g kh kw + O) + C K + K`` (experts, routing FC).
    MACs per example: ``O H' W' C/g kh kw`` (the conv) ``+ C K`` (routing) ``+ K O C/g kh kw (+ K O)`` (mixing).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair = 3,
        stride: IntPair = 1,
        padding: IntPair | None = None,
        dilation: IntPair = 1,
        groups: int = 1,
        num_experts: int = 4,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, num_experts, bias)
        self.routing = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_experts))

    def routing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``r(x) = sigmoid(GAP(x) R)``, ``(B, K)``, each in (0, 1) and independent: Eq. (2)."""
        return torch.sigmoid(self.routing(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.in_channels)
        return self.mixed_conv(x, self.routing_weights(x))


class DynamicConv2d(_MixtureOfKernelsConv2d):
    """DynamicConv: a conv whose kernel and bias are ``sum_k π_k(x) (W_k, b_k)``, ``π = softmax(z(x) / τ)``.

    Args:
        in_channels: channels of the input (``C``).
        out_channels: channels of the output (``O``).
        kernel_size: side (or ``(kh, kw)``) of each kernel.
        stride: stride of the conv.
        padding: padding of the conv; ``None`` for same padding.
        dilation: dilation of the conv.
        groups: groups of the conv (per example).
        num_kernels: number of kernels ``K`` (the paper's default is 4).
        reduction: the attention's first FC maps ``C`` to ``max(1, C // reduction)`` channels.
        temperature: softmax temperature τ; the paper starts training at 30 and anneals to 1.
        bias: whether each kernel has a bias, mixed with the same attention.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, O, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``

    Parameters: ``K (O C/g kh kw + O) + (C M + M) + (M K + K)`` with ``M = max(1, C // reduction)``.
    MACs per example: ``O H' W' C/g kh kw`` (the conv) ``+ C M + M K`` (attention) ``+ K O C/g kh kw (+ K O)`` (mixing).
    """

    temperature: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair = 3,
        stride: IntPair = 1,
        padding: IntPair | None = None,
        dilation: IntPair = 1,
        groups: int = 1,
        num_kernels: int = 4,
        reduction: int = 4,
        temperature: float = 30.0,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, num_kernels, bias)
        hidden = max(1, in_channels // reduction)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, C): squeeze
            nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_kernels),  # (B, K): logits z
        )
        self.register_buffer("temperature", torch.tensor(1.0))
        self.set_temperature(temperature)

    @property
    def num_kernels(self) -> int:
        return self.num_experts

    def set_temperature(self, value: float) -> None:
        """Set the softmax temperature τ (> 0); at τ = 1 the attention is a plain softmax."""
        if not value > 0:
            raise ValueError(f"temperature must be positive, got {value}")
        self.temperature.fill_(value)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``π(x) = softmax(z(x) / τ)``, ``(B, K)``, non-negative and summing to 1: Eq. (4)."""
        return torch.softmax(self.attention(x) / self.temperature, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_channels(x, self.in_channels)
        return self.mixed_conv(x, self.attention_weights(x))

    def extra_repr(self) -> str:
        return super().extra_repr().replace("num_experts", "num_kernels") + f", temperature={float(self.temperature):g}"


def annealed_temperature(epoch: float, start: float = 30.0, end: float = 1.0, epochs: float = 10.0) -> float:
    """DynamicConv's temperature at ``epoch``: linear from ``start`` to ``end`` over ``epochs``, then ``end``.

    >>> annealed_temperature(0), annealed_temperature(5), annealed_temperature(12)
    (30.0, 15.5, 1.0)
    """
    progress = min(max(epoch / epochs, 0.0), 1.0) if epochs > 0 else 1.0
    return start + (end - start) * progress


def set_dynamic_temperature(model: nn.Module, value: float) -> int:
    """Set τ on every :class:`DynamicConv2d` inside ``model``; returns how many there were."""
    layers = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    for layer in layers:
        layer.set_temperature(value)
    return len(layers)
