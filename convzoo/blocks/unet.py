"""The blocks of the U-Net family: a double conv, a centre crop, and an up-and-concatenate step.

Paper: U-Net: Convolutional Networks for Biomedical Image Segmentation (O. Ronneberger,
P. Fischer, T. Brox, MICCAI 2015) https://arxiv.org/abs/1505.04597

Every level of a U-Net applies two 3x3 convs, each followed by a ReLU (:class:`DoubleConv`).
The expanding path doubles the resolution with a 2x2 up-convolution, joins the feature
map of the contracting path at the same level and convolves the concatenation
(:class:`UpConcat`). With unpadded ("valid") convs the contracting map is larger than
the expanding one, since every conv takes a pixel off each border, so it is cut down to
the centre first (:func:`center_crop`); the paper calls this "cropping ... necessary due
to the loss of border pixels in every convolution".

The blocks take ``dims`` (2 for images, 3 for volumes, as in 3D U-Net), which picks
``nn.Conv2d``/``nn.Conv3d`` and their transposed and pooling kin.

Deviations: none; the blocks are the paper's. Padding, normalisation and the bilinear
upsampling are options for the variants built on them.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["DoubleConv", "UpConcat", "center_crop", "conv_layer", "max_pool_layer"]

LayerFactory = Callable[..., nn.Module]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _check_dims(dims: int) -> int:
    if dims not in _CONV:
        raise ValueError(f"dims must be 1, 2 or 3, got {dims}")
    return dims


def conv_layer(dims: int) -> type[nn.Module]:
    """``nn.Conv1d``, ``nn.Conv2d`` or ``nn.Conv3d``."""
    return _CONV[_check_dims(dims)]


def max_pool_layer(dims: int) -> type[nn.Module]:
    """``nn.MaxPool1d``, ``nn.MaxPool2d`` or ``nn.MaxPool3d``."""
    return _MAX_POOL[_check_dims(dims)]


def center_crop(x: torch.Tensor, like: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """The centre of ``x`` with the spatial size of ``like`` (the last ``dims`` axes).

    Where the border to cut is odd the extra pixel goes from the end. Written with plain
    slices so that :mod:`torch.fx` traces it (the receptive-field analysis follows it).
    """
    index: list[slice] = []
    for axis in range(-dims, 0):
        start = (x.shape[axis] - like.shape[axis]) // 2
        index.append(slice(start, start + like.shape[axis]))
    return x[(Ellipsis, *index)]


class DoubleConv(nn.Sequential):
    """Two ``kernel_size`` convs, each followed by an optional norm and an activation.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        mid_channels: channels after the first conv; ``out_channels`` when ``None``
            (3D U-Net doubles the width in the first conv of a level instead, e.g. 32 -> 64).
        kernel_size: side of the kernel (3 in the paper).
        padding: padding of both convs: 0 for the paper's valid convs, ``kernel_size // 2``
            to keep the size.
        norm_layer: builds a norm from a channel count; ``None`` for none.
        act_layer: builds an activation from no arguments.
        bias: whether the convs have a bias; ``None`` for "only without a norm".
        dims: 2 for images, 3 for volumes.

    Shape:
        (B, in_channels, *S) -> (B, out_channels, *S') with ``S' = S - 2 (kernel_size - 1 - 2 padding)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int | None = None,
        kernel_size: int = 3,
        padding: int = 0,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        bias: bool | None = None,
        dims: int = 2,
    ) -> None:
        conv = conv_layer(dims)
        mid_channels = out_channels if mid_channels is None else mid_channels
        bias = norm_layer is None if bias is None else bias
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for index, (cin, cout) in enumerate(((in_channels, mid_channels), (mid_channels, out_channels)), start=1):
            layers[f"conv{index}"] = conv(cin, cout, kernel_size, padding=padding, bias=bias)
            if norm_layer is not None:
                layers[f"norm{index}"] = norm_layer(cout)
            layers[f"act{index}"] = act_layer()
        super().__init__(layers)
        self.in_channels = in_channels
        self.out_channels = out_channels


class UpConcat(nn.Module):
    """One level of the expanding path: up-sample, concatenate the (cropped) skip, double conv.

    Args:
        in_channels: channels of the map coming from the level below.
        skip_channels: channels of the contracting path's map at this level.
        out_channels: channels of the output.
        up_channels: channels after the up-sampling; ``out_channels`` when ``None`` (the
            paper's "2x2 up-convolution that halves the number of feature channels").
        padding: padding of the two convs (0: valid, and the skip is centre-cropped).
        norm_layer: norm after each conv; ``None`` for none.
        act_layer: activation after each conv.
        bias: whether the two convs have a bias; ``None`` for "only without a norm".
        up_bias: whether the up-convolution has a bias.
        upsample: ``"transposed"`` for the paper's 2x2 up-convolution (stride 2), or
            ``"bilinear"`` (trilinear for volumes) interpolation followed by a 1x1 conv
            to ``up_channels``.
        dims: 2 for images, 3 for volumes.

    Shape:
        (B, in_channels, *S) and skip (B, skip_channels, *T) -> (B, out_channels, *S'),
        ``S' = 2 S - 4 (1 - padding)`` for 3x3 convs; ``T >= 2 S`` on every axis.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        up_channels: int | None = None,
        padding: int = 0,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        bias: bool | None = None,
        up_bias: bool = True,
        upsample: str = "transposed",
        dims: int = 2,
    ) -> None:
        super().__init__()
        up_channels = out_channels if up_channels is None else up_channels
        if upsample == "transposed":
            self.up: nn.Module = _CONV_TRANSPOSE[_check_dims(dims)](
                in_channels, up_channels, 2, stride=2, bias=up_bias
            )
        elif upsample == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode=_INTERPOLATION[_check_dims(dims)], align_corners=False),
                conv_layer(dims)(in_channels, up_channels, 1, bias=up_bias),
            )
        else:
            raise ValueError(f"upsample must be 'transposed' or 'bilinear', got {upsample!r}")
        self.conv = DoubleConv(
            skip_channels + up_channels, out_channels, padding=padding, norm_layer=norm_layer,
            act_layer=act_layer, bias=bias, dims=dims,
        )
        self.dims = dims

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (B, up_channels, 2S)
        x = torch.cat([center_crop(skip, x, self.dims), x], dim=1)  # (B, skip + up channels, 2S)
        return self.conv(x)  # (B, out_channels, 2S - 4) for valid 3x3 convs
