"""Deformable convolution, v1 and v2: every kernel tap samples the input at a learned offset.

Paper: Deformable Convolutional Networks (Jifeng Dai, Haozhi Qi, Yuwen Xiong, Yi Li,
Guodong Zhang, Han Hu, Yichen Wei, ICCV 2017) https://arxiv.org/abs/1703.06211

Paper: Deformable ConvNets v2: More Deformable, Better Results (Xizhou Zhu, Han Hu,
Stephen Lin, Jifeng Dai, CVPR 2019) https://arxiv.org/abs/1811.11168

A ``k x k`` convolution reads its input on a fixed grid ``R = {p_n}`` of ``k^2`` taps
around each output position ``p_0``:

    y(p_0) = sum_n w(p_n) x(p_0 + p_n)                                        (v1 Eq. 1)

A deformable convolution lets every tap of every output position move by a learned,
fractional offset ``dp_n``, read by bilinear interpolation of the four nearest pixels:

    y(p_0) = sum_n w(p_n) x(p_0 + p_n + dp_n)                                 (v1 Eq. 2)

The offsets are not parameters but *predicted from the input* by an ordinary conv with
the same kernel size, stride, padding and dilation, so the field of ``2 k^2`` offset
channels lines up with the output map. v2 also predicts a modulation scalar
``m_n = sigmoid(.)`` in ``[0, 1]`` per tap, so a tap can be faded out as well as moved:

    y(p_0) = sum_n w(p_n) x(p_0 + p_n + dp_n) m_n                             (v2 Eq. 1)

The predictor conv is zero-initialised (as in both papers), so at the start of training
every offset is 0 and v1 *is* the standard conv with the same weights; v2's masks then
are ``sigmoid(0) = 0.5``, so v2 starts as half the standard conv (plus the bias), and
equals the standard conv exactly once its masks saturate at 1. The sampling itself is
:func:`torchvision.ops.deform_conv2d`; this module adds the offset (and mask) predictor.
With ``offset_groups = G`` the input channels are split into ``G`` groups that each get
their own offset field.

Cost: the sampling conv does as many multiply-accumulates as the standard conv,
``B H' W' C_out (C_in / groups) k^2``, plus the predictor conv's
``B H' W' (2 or 3) G k^2 C_in k^2`` (the bilinear interpolation, four reads and three
lerps per sampled value, is not a MAC and is not counted). Parameters: the conv's
``C_out (C_in / groups) k^2`` (+ bias) plus the predictor's ``(2 or 3) G k^2 (C_in k^2 + 1)``.

The keys (``weight``, ``bias``, ``conv_offset.*``) are those of mmcv's
``DeformConv2dPack`` / ``ModulatedDeformConv2dPack``, whose predictor also emits the
``2 G k^2`` offset channels first and the ``G k^2`` mask logits after them.

Deviations:
    * v1's offset channels are in torchvision's order, ``(dy, dx)`` interleaved tap by
      tap in row-major kernel order, each offset group's ``2 k^2`` channels in turn.
    * The v2 mask keeps the paper's ``[0, 1]`` range (no rescaling by 2), so at
      initialisation v2 equals ``0.5 x`` the standard conv, not the standard conv.
    * v1 also introduced deformable RoI pooling; it is not part of this module.
"""

from __future__ import annotations

import math

import torch
import torch.fx
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["DeformConv2d"]


def _deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`torchvision.ops.deform_conv2d`, kept as one leaf call under torch.fx (it branches on shapes).

    torchvision is imported here, on first use: importing it takes over a second, which
    ``import convzoo`` should not pay for every command.
    """
    from torchvision.ops import deform_conv2d

    return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)


torch.fx.wrap("_deform_conv2d")


class DeformConv2d(nn.Module):
    """A conv whose taps sample the input at offsets (v1), and with per-tap masks (v2), predicted by a conv.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side (or ``(kh, kw)``) of the kernel.
        stride: stride of the conv and of the offset predictor.
        padding: zero padding of both; ``None`` for ``dilation * (k - 1) / 2`` (size-preserving).
        dilation: spacing of the regular grid the offsets are added to.
        groups: groups of the sampling conv (as ``nn.Conv2d``).
        offset_groups: channel groups with their own offset field (``G``).
        bias: whether the sampling conv has a bias.
        modulated: ``True`` for v2 (offsets and sigmoid masks), ``False`` for v1 (offsets only).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        offset_groups: int = 1,
        bias: bool = True,
        modulated: bool = False,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels {in_channels} and out_channels {out_channels} must divide by groups {groups}")
        if in_channels % offset_groups:
            raise ValueError(f"in_channels {in_channels} must divide by offset_groups {offset_groups}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.dilation = _pair(dilation)
        if padding is None:
            padding = tuple(d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation))
        self.padding = _pair(padding)
        self.groups, self.offset_groups, self.modulated = groups, offset_groups, modulated
        taps = offset_groups * self.kernel_size[0] * self.kernel_size[1]  # G k^2 sampling points
        self.offset_channels = 2 * taps  # a (dy, dx) per point
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.conv_offset = nn.Conv2d(
            in_channels, self.offset_channels + (taps if modulated else 0), self.kernel_size,
            stride=self.stride, padding=self.padding, dilation=self.dilation, bias=True,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The conv as ``nn.Conv2d`` initialises it; the predictor at zero (no offsets, masks 0.5)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        field = self.conv_offset(x)  # (B, 2 G k^2 [+ G k^2], H', W')
        offset = field[:, : self.offset_channels]  # (B, 2 G k^2, H', W'): dp_n, Eq. 2
        mask = field[:, self.offset_channels :].sigmoid() if self.modulated else None  # (B, G k^2, H', W'): m_n
        return _deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"offset_groups={self.offset_groups}, bias={self.bias is not None}, modulated={self.modulated}"
        )
