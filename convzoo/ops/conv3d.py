"""3D convolution: as a sum of 2D convolutions over depth, and factorised into (2+1)D.

Paper: A Closer Look at Spatiotemporal Convolutions for Action Recognition (Du Tran,
Heng Wang, Lorenzo Torresani, Jamie Ray, Yann LeCun, Manohar Paluri, CVPR 2018)
https://arxiv.org/abs/1711.11248

**A 3D conv is a sum of 2D convs.** A kernel of ``t x k x k`` over a ``(C, D, H, W)``
volume (depth ``D``: frames of a video, slices of a scan, bands of a hyperspectral cube)
computes, for output depth ``d``,

    Y[:, d] = sum_{i < t} conv2d(X[:, s_d d + i dil_d], W[:, :, i])

each depth tap ``i`` of the kernel being an ordinary 2D kernel ``W[:, :, i]`` applied to
one input slice. :func:`conv3d_as_conv2d` follows that recipe in three steps:

1. prepare the input: zero-pad the depth axis, and move depth next to the batch, ``(B, D, C, H, W)``;
2. prepare the kernel: split ``(O, C, t, kh, kw)`` into ``t`` 2D kernels ``(O, C, kh, kw)``;
3. compute the output: for each depth tap ``i``, gather the input slices it meets, ``i dil_d +
   s_d d`` for every output depth ``d`` at once, fold them into the batch, run *one*
   ``conv2d`` and add it to the sum; unfold depth at the end.

So the loop runs over the ``t`` taps of the kernel, never over output depths, and the
result equals ``nn.Conv3d`` (up to float summation order) with the same cost:
``B D' H' W' O (C / groups) t kh kw`` MACs. :class:`Conv3dAsConv2d` is a drop-in
``nn.Conv3d`` that computes this way.

**(2+1)D: factorise space and time.** R(2+1)D replaces the ``t x k x k`` conv from
``N_in`` to ``N_out`` channels by a ``1 x k x k`` spatial conv to ``M`` channels, batch
norm and ReLU, then a ``t x 1 x 1`` temporal conv. With

    M = floor(t k^2 N_in N_out / (k^2 N_in + t N_out))                       (Sec. 3.5)

it has (nearly) the parameters of the full 3D conv, ``M (k^2 N_in + t N_out) <= t k^2 N_in N_out``,
while doubling the nonlinearities and, the paper finds, easing optimisation.
:class:`Conv2Plus1d` has torchvision's ``Conv2Plus1D`` keys (``0`` spatial conv, ``1``
norm, ``3`` temporal conv), so its weights load unmapped.

Deviations:
    * :func:`conv3d_as_conv2d` takes integer or tuple ``padding`` with zeros only (no
      ``"same"`` and no reflect/replicate padding modes).
    * :class:`Conv2Plus1d` spatial stride goes to the spatial conv and temporal stride to
      the temporal conv (as in torchvision); the paper does not fix where a stride sits.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _triple

__all__ = ["Conv2Plus1d", "Conv3dAsConv2d", "conv2plus1d_mid_channels", "conv3d_as_conv2d"]

LayerFactory = Callable[..., nn.Module]
Size3 = int | tuple[int, int, int]


def conv3d_as_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Size3 = 1,
    padding: Size3 = 0,
    dilation: Size3 = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv3d`` computed as one batched ``F.conv2d`` per depth tap of the kernel, summed.

    Args:
        x: input ``(B, C, D, H, W)``.
        weight: kernel ``(O, C / groups, t, kh, kw)``.
        bias: ``(O,)`` or ``None``.
        stride, padding, dilation: as ``F.conv3d``, an int or a ``(depth, height, width)`` triple.
        groups: as ``F.conv3d``.

    Returns:
        ``(B, O, D', H', W')``, equal to ``F.conv3d(x, weight, bias, stride, padding, dilation, groups)``.
    """
    (s_d, *s_hw), (p_d, *p_hw), (dil_d, *dil_hw) = _triple(stride), _triple(padding), _triple(dilation)
    taps = weight.shape[2]
    x = F.pad(x, (0, 0, 0, 0, p_d, p_d)).transpose(1, 2)  # step 1: (B, D + 2 p_d, C, H, W)
    batch, depth, channels, height, width = x.shape
    out_depth = (depth - dil_d * (taps - 1) - 1) // s_d + 1
    if out_depth < 1:
        raise ValueError(f"depth {depth - 2 * p_d} (padded {depth}) is too small for {taps} taps of dilation {dil_d}")
    out = None
    for i in range(taps):  # steps 2 and 3: kernel slice W[:, :, i] meets input slices i dil_d + s_d d
        start = i * dil_d
        slices = x[:, start : start + s_d * (out_depth - 1) + 1 : s_d]  # (B, D', C, H, W)
        y = F.conv2d(slices.reshape(batch * out_depth, channels, height, width), weight[:, :, i],
                     None, s_hw, p_hw, dil_hw, groups)  # (B D', O, H', W')
        out = y if out is None else out + y
    out = out.reshape(batch, out_depth, *out.shape[1:]).transpose(1, 2)  # (B, O, D', H', W')
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1, 1)
    return out


torch.fx.wrap("conv3d_as_conv2d")


class Conv3dAsConv2d(nn.Conv3d):
    """``nn.Conv3d`` (same arguments, parameters and outputs) that runs as 2D convs, one per depth tap.

    Only ``padding_mode="zeros"`` and integer or tuple ``padding`` are supported.

    Shape:
        - Input: ``(B, in_channels, D, H, W)``
        - Output: ``(B, out_channels, D', H', W')`` as ``nn.Conv3d``
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"only zero padding by integers, got padding={self.padding!r}, "
                             f"padding_mode={self.padding_mode!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv3d_as_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def conv2plus1d_mid_channels(in_channels: int, out_channels: int, kernel_size: Size3 = 3) -> int:
    """Tran et al.'s intermediate width ``M = floor(t kh kw N_in N_out / (kh kw N_in + t N_out))``.

    It makes the (2+1)D pair about as large as the ``t x kh x kw`` conv it replaces.

    >>> conv2plus1d_mid_channels(64, 64), conv2plus1d_mid_channels(64, 128)  # R(2+1)D-18's layer1, layer2
    (144, 230)
    """
    t, kh, kw = _triple(kernel_size)
    spatial = kh * kw
    return (t * spatial * in_channels * out_channels) // (spatial * in_channels + t * out_channels)


class Conv2Plus1d(nn.Sequential):
    """A ``1 x k x k`` spatial conv to ``M`` channels, norm, activation, then a ``t x 1 x 1`` temporal conv.

    Args:
        in_channels: channels of the input (``N_in``).
        out_channels: channels of the output (``N_out``).
        kernel_size: ``t`` or ``(t, kh, kw)`` of the 3D conv it replaces.
        stride: ``s`` or ``(s_t, s_h, s_w)``; spatial strides go to the spatial conv, the temporal one to the temporal conv.
        padding: ``p`` or ``(p_t, p_h, p_w)``, split likewise; ``None`` for ``k // 2`` (size-preserving, odd kernels).
        mid_channels: ``M``; ``None`` for :func:`conv2plus1d_mid_channels` (parameter-matched). torchvision's
            R(2+1)D gives both convs of a block the ``M`` of the first (``N_in -> N_out``): pass it here to match.
        bias: whether the convs have biases.
        norm_layer: builds the norm between the convs from a channel count.
        act_layer: builds the activation between the convs.

    Shape:
        - Input: ``(B, in_channels, T, H, W)``
        - Output: ``(B, out_channels, T', H', W')`` as the ``t x kh x kw`` ``nn.Conv3d`` with the same stride and padding
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size3 = 3,
        stride: Size3 = 1,
        padding: Size3 | None = None,
        mid_channels: int | None = None,
        bias: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm3d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        t, kh, kw = _triple(kernel_size)
        s_t, s_h, s_w = _triple(stride)
        p_t, p_h, p_w = _triple(padding) if padding is not None else (t // 2, kh // 2, kw // 2)
        if mid_channels is None:
            mid_channels = conv2plus1d_mid_channels(in_channels, out_channels, (t, kh, kw))
        super().__init__(
            nn.Conv3d(in_channels, mid_channels, (1, kh, kw), (1, s_h, s_w), (0, p_h, p_w), bias=bias),  # space
            norm_layer(mid_channels),
            act_layer(),
            nn.Conv3d(mid_channels, out_channels, (t, 1, 1), (s_t, 1, 1), (p_t, 0, 0), bias=bias),  # time
        )
        self.in_channels, self.out_channels, self.mid_channels = in_channels, out_channels, mid_channels
