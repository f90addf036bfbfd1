"""Transposed convolution, computed as an ordinary convolution over a zero-inserted input.

Paper: A guide to convolution arithmetic for deep learning (Vincent Dumoulin, Francesco
Visin, arXiv 2016) https://arxiv.org/abs/1603.07285

A convolution is a linear map ``y = C x``; the transposed convolution is ``x' = C^T y``,
the map that backpropagation uses for the conv's input gradient. It goes from the conv's
output size back to its input size, which is why decoders (FCN, UNet, DCGAN) upsample
with it. It is *not* a deconvolution (an inverse): ``C^T C != I``.

Each input pixel scatters a copy of the kernel, scaled by its value, into the output at
``s`` times its position. Gathered the other way around, the same sum is an ordinary
stride-1 convolution (the guide's Section 4, here with groups and dilation):

1. *zero insertion*: put ``s - 1`` zeros between neighbouring input pixels
   (:func:`zero_insert`), ``H -> (H - 1) s + 1``;
2. *padding*: pad every side by ``d (k - 1) - p`` zeros, and the far side by
   ``output_padding`` more (a negative amount crops);
3. *the kernel*: flip it in space and swap its input and output axes, group by group
   (:func:`conv_kernel_of_transposed`): ``(C_in, C_out / g, k, k) -> (C_out, C_in / g, k, k)``;
4. a stride-1 convolution with dilation ``d`` and ``g`` groups.

The output size follows (Relationship 14 with dilation and output padding)::

    H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1

A strided conv maps up to ``s`` input sizes to the same output size; ``output_padding``
(smaller than ``s`` or ``d``) picks which one the transposed conv gives back.

The zero-inserted form multiplies mostly zeros: it costs ``H_out W_out C_out (C_in / g) k^2``
mult-adds against ``H W C_in (C_out / g) k^2`` for the scatter form PyTorch runs, about
``s^2`` times more. It is useful to understand the op, to check it, and to run it where
only a plain convolution is available.
"""

from __future__ import annotations

import math
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["ConvTranspose2dAsConv", "conv_kernel_of_transposed", "transposed_conv_as_conv", "zero_insert"]

IntPair = Union[int, tuple[int, int]]


def zero_insert(x: torch.Tensor, stride: IntPair) -> torch.Tensor:
    """Put ``s - 1`` zeros between neighbouring pixels: ``(B, C, H, W) -> (B, C, (H-1) sh + 1, (W-1) sw + 1)``.

    Written as "append ``s - 1`` zeros after every pixel, then drop the last ones", with
    no arithmetic on shapes, so :mod:`torch.fx` traces it.
    """
    sh, sw = _pair(stride)
    x = x[:, :, :, None, :, None]  # (B, C, H, 1, W, 1)
    x = F.pad(x, (0, sw - 1, 0, 0, 0, sh - 1))  # (B, C, H, sh, W, sw): each pixel, then s - 1 zeros
    x = x.flatten(4, 5).flatten(2, 3)  # (B, C, H sh, W sw)
    return F.pad(x, (0, 1 - sw, 0, 1 - sh))  # (B, C, (H-1) sh + 1, (W-1) sw + 1): no zeros after the last pixel


def conv_kernel_of_transposed(weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """The conv kernel equal to a transposed conv's: swap in/out within each group, flip in space.

    ``(C_in, C_out / g, kh, kw) -> (C_out, C_in / g, kh, kw)``.
    """
    weight = weight.unflatten(0, (groups, -1))  # (g, C_in / g, C_out / g, kh, kw)
    weight = weight.transpose(1, 2).flatten(0, 1)  # (C_out, C_in / g, kh, kw)
    return weight.flip(-2, -1)  # a scatter is a gather with the kernel turned around


def transposed_conv_as_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    groups: int = 1,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)``, by ``F.conv2d``.

    Args:
        x: input ``(B, C_in, H, W)``.
        weight: a transposed-conv kernel ``(C_in, C_out / groups, kh, kw)``.
        bias: ``(C_out,)`` or ``None``.
        stride, padding, output_padding, groups, dilation: as in :func:`torch.nn.functional.conv_transpose2d`
            (same argument order).

    Returns:
        ``(B, C_out, H_out, W_out)`` with ``H_out = (H - 1) s - 2 p + d (kh - 1) + output_padding + 1``.
    """
    kh, kw = weight.shape[-2:]
    ph, pw = _pair(padding)
    oh, ow = _pair(output_padding)
    dh, dw = _pair(dilation)
    x = zero_insert(x, stride)  # (B, C_in, (H-1) s + 1, (W-1) s + 1)
    top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw  # negative: crop instead
    x = F.pad(x, (left, left + ow, top, top + oh))  # (B, C_in, H_out + d (k-1), W_out + d (k-1))
    return F.conv2d(x, conv_kernel_of_transposed(weight, groups), bias, dilation=(dh, dw), groups=groups)


class ConvTranspose2dAsConv(nn.Module):
    """A drop-in ``nn.ConvTranspose2d`` computed as a stride-1 conv over the zero-inserted input.

    Same arguments, parameter shapes, initialisation and state-dict keys (``weight``,
    ``bias``) as ``nn.ConvTranspose2d``, so its checkpoints load unchanged; the output is
    the same up to float rounding. Weights: ``C_in (C_out / g) k^2`` (plus ``C_out``);
    mult-adds actually run: ``H_out W_out C_out (C_in / g) k^2``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: upsampling factor (zeros inserted between input pixels).
        padding: ``d (k - 1) - padding`` zeros are padded on each side of the zero-inserted input.
        output_padding: extra rows/columns on the far side; smaller than ``stride`` or ``dilation``.
        groups: groups, as in ``nn.ConvTranspose2d``.
        bias: whether to add a bias.
        dilation: spacing of the kernel taps.

    Shape:
        - Input: ``(B, C_in, H, W)``
        - Output: ``(B, C_out, H_out, W_out)`` with ``H_out = (H - 1) s - 2p + d (k - 1) + output_padding + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntPair = 1,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels {in_channels} and out_channels {out_channels} must divide by groups={groups}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        self.output_padding, self.dilation = _pair(output_padding), _pair(dilation)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"output_padding must be smaller than stride or dilation, got {self.output_padding}")
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.ConvTranspose2d``'s initialisation (Kaiming-uniform with ``a = sqrt(5)``)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_conv_transpose(cls, layer: nn.ConvTranspose2d) -> "ConvTranspose2dAsConv":
        """The same layer, sharing nothing: weights copied."""
        if layer.padding_mode != "zeros":
            raise ValueError(f"only zero padding, got padding_mode={layer.padding_mode!r}")
        module = cls(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.output_padding, layer.groups, layer.bias is not None, layer.dilation,
        ).to(layer.weight)
        module.load_state_dict(layer.state_dict())
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return transposed_conv_as_conv(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding, self.groups, self.dilation
        )

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, groups={self.groups}, "
                f"dilation={self.dilation}, bias={self.bias is not None}")
