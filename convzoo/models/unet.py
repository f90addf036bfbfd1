"""U-Net: a contracting path for context, a symmetric expanding path for localisation.

Paper: U-Net: Convolutional Networks for Biomedical Image Segmentation (O. Ronneberger,
P. Fischer, T. Brox, MICCAI 2015) https://arxiv.org/abs/1505.04597

The network (Fig. 1 of the paper) is a fully convolutional encoder-decoder. The
contracting path repeats two unpadded 3x3 convs, each followed by a ReLU, and a 2x2
max-pool of stride 2, doubling the channels at every level; the expanding path repeats
a 2x2 up-convolution that halves the channels, a concatenation with the centre-cropped
map of the contracting path at the same level, and two unpadded 3x3 convs + ReLU. A 1x1
conv maps the 64 features of every pixel to the classes. With 1 input channel and 2
classes it has 31,030,658 parameters::

    level  contracting path (size of a 572 tile)     expanding path (size)
    0      3x3 conv 64, 3x3 conv 64    572 -> 568    up 128 -> 64, 2 x 3x3 conv 64     392 -> 388, 1x1 conv -> classes
    1      pool, 2 x 3x3 conv 128      284 -> 280    up 256 -> 128, 2 x 3x3 conv 128   200 -> 196
    2      pool, 2 x 3x3 conv 256      140 -> 136    up 512 -> 256, 2 x 3x3 conv 256   104 -> 100
    3      pool, 2 x 3x3 conv 512       68 -> 64     up 1024 -> 512, 2 x 3x3 conv 512   56 -> 52
    4      pool, 2 x 3x3 conv 1024      32 -> 28     (bottom)

Valid convs make every output pixel see its whole context, so a 572x572 tile gives a
388x388 map: 92 pixels of context on each side. Not every size goes through: a pool
must never floor an odd size, which leaves the sizes ``16 b + 60`` (188, 204, ..., 572,
...). :class:`UNet` refuses other sizes and names the nearest valid ones; the arithmetic
is :func:`convzoo.analysis.arithmetic.unet_layers` (``convzoo arith --unet``).

Large images are segmented with the paper's *overlap-tile strategy* (Fig. 2): the border
is extended by mirroring the image by the context (92 px), and valid tiles are cut so
that their outputs cover the image seamlessly (:func:`predict_overlap_tile`).

``unet_padded`` is the variant most people train today: same-padded 3x3 convs, each
followed by batch norm and a ReLU, so the output has the input's size (any multiple of 16).

Deviations:
    ``unet``: none in the architecture (dropout at the end of the contracting path,
    which the paper mentions as augmentation, is left to the user). The skip map is
    concatenated before the up-sampled one. Weights follow the paper's initialisation,
    a Gaussian of standard deviation ``sqrt(2 / N)`` with N the inputs of one unit.
    Overlap-tile places tiles at multiples of 16 pixels (the pooling grid), so the
    stitched map equals one pass over the whole mirrored image; the step is the tile's
    output rounded down to a multiple of 16 (384 for 572 tiles, 4 pixels of overlap).
    ``unet_padded``: not in the paper: padding 1, batch norm after every 3x3 conv (which
    then has no bias), the paper's transposed-conv up-sampling (``upsample="bilinear"``
    is an option), 3 input channels by default.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

import torch
import torch.fx
from torch import nn

from convzoo.analysis.arithmetic import LayerSpec, check_input_size, unet_layers
from convzoo.blocks.unet import DoubleConv, LayerFactory, UpConcat, conv_layer, max_pool_layer
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import Paper, register_model

__all__ = [
    "UNet", "check_unet_input", "unet_size_chain", "unet_widths", "mirror_pad", "predict_overlap_tile", "init_unet_weights",
    "unet", "unet_padded",
]

PAPER = Paper(
    title="U-Net: Convolutional Networks for Biomedical Image Segmentation",
    authors="O. Ronneberger, P. Fischer, T. Brox",
    venue="MICCAI",
    year=2015,
    url="https://arxiv.org/abs/1505.04597",
)


def unet_size_chain(depth: int, padded: bool) -> list[LayerSpec]:
    """The size chain of a U-Net along one axis, from the analysis lab.

    Valid convs take 2 pixels each; padded ones change no size, so only the pools and
    up-convolutions are left (valid sizes are then the multiples of ``2 ** depth``).
    """
    return unet_layers(depth, convs_per_level=0 if padded else 2)


def check_unet_input(x: torch.Tensor, in_chans: int, depth: int, padded: bool, dims: int, model: str) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is ``(B, in_chans, *S)`` with ``dims`` sizes the U-Net takes.

    A size that a pool would floor, or that runs out of pixels in the valid convs, is
    refused with the nearest sizes along that axis that go through.
    """
    axes = ("D", "H", "W")[-dims:]
    if x.dim() != dims + 2 or x.shape[1] != in_chans:
        expected = f"(B, {in_chans}, {', '.join(axes)})"
        raise InputShapeError(f"{model} expects input of shape {expected}, got {tuple(x.shape)}")
    chain = unet_size_chain(depth, padded)
    for axis, size in zip(axes, x.shape[2:]):
        try:
            check_input_size(chain, int(size))
        except InputShapeError as err:
            kind = f"a multiple of {2 ** depth}" if padded else "a size its valid convs and pools take"
            raise InputShapeError(
                f"{model} needs each of {', '.join(axes)} to be {kind}; {axis}: {err}"
            ) from None


# One opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_unet_input")


def init_unet_weights(module: nn.Module) -> None:
    """The paper's initialisation: Gaussian with std ``sqrt(2 / N)``, N the inputs of one unit; zero biases.

    For a 3x3 conv over 64 channels N = 9 * 64; for a 2x2 up-convolution of stride 2
    each output pixel is reached by one input pixel, so N is the input channels.
    """
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            fan_in = m.in_channels // m.groups * math.prod(m.kernel_size)
            if m.transposed:
                fan_in = fan_in // math.prod(m.stride)
            nn.init.normal_(m.weight, std=math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class UNetLayout(nn.Module):
    """The size arithmetic and forward pass shared by the 2-D and 3-D U-Nets.

    A subclass builds ``stem``, ``down`` (pool + double conv per level), ``up`` (up-convolution,
    crop and concatenation of the skip, double conv) and ``head``, and sets ``in_chans``,
    ``depth``, ``padding`` and ``dims`` (2 for images, 3 for volumes).
    """

    dims = 2

    def size_chain(self) -> list[LayerSpec]:
        """The layers that change the size along one axis (see :mod:`convzoo.analysis.arithmetic`)."""
        return unet_size_chain(self.depth, padded=self.padding == 1)

    def output_size(self, size: int) -> int:
        """Output side for an input side ``size``; InputShapeError with the nearest valid sizes if it is not one."""
        return check_input_size(self.size_chain(), size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_unet_input(x, self.in_chans, self.depth, self.padding == 1, self.dims, type(self).__name__)
        x = self.stem(x)  # (B, C_0, S - 4, ...) along each spatial axis S, for valid convs
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)  # (B, C_{i+1}, S_i / 2 - 4, ...)
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)  # (B, C_i, 2 S_{i+1} - 4, ...)
        return self.head(x)  # (B, num_classes, S', ...)


class UNet(UNetLayout):
    """U-Net: a contracting and an expanding path joined by concatenated skip connections.

    Args:
        in_chans: channels of the input image.
        num_classes: channels of the output map (one score per class and pixel).
        widths: channels of each level, top to bottom; ``len(widths) - 1`` pools.
        padding: 0 for the paper's valid convs (the output is smaller than the input),
            1 to keep the size (the output has the input's size).
        norm_layer: norm after every 3x3 conv; ``None`` for none (the paper's).
        act_layer: activation after every 3x3 conv.
        upsample: ``"transposed"`` (the paper's 2x2 up-convolution) or ``"bilinear"``.

    Shape:
        (B, in_chans, H, W) -> (B, num_classes, H', W'): ``H' = H`` when ``padding=1``
        (H a multiple of ``2 ** depth``); for valid convs ``H' = H - 184`` at depth 4
        (572 -> 388), H one of the sizes :func:`check_unet_input` accepts.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 2,
        widths: Sequence[int] = (64, 128, 256, 512, 1024),
        padding: int = 0,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        if padding not in (0, 1):
            raise ValueError(f"padding must be 0 (valid convs) or 1 (same size), got {padding}")
        if len(widths) < 2:
            raise ValueError(f"a U-Net needs at least two levels of widths, got {tuple(widths)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.widths = tuple(widths)
        self.depth = len(widths) - 1
        self.padding = padding
        conv_args = dict(padding=padding, norm_layer=norm_layer, act_layer=act_layer)
        # Registered in the order they run, so the analysis lab reads the layers as one chain.
        self.stem = DoubleConv(in_chans, widths[0], **conv_args)  # level 0
        self.down = nn.ModuleList(
            nn.Sequential(max_pool_layer(2)(2), DoubleConv(widths[i], widths[i + 1], **conv_args))
            for i in range(self.depth)
        )
        self.up = nn.ModuleList(
            UpConcat(widths[i + 1], widths[i], widths[i], upsample=upsample, **conv_args)
            for i in reversed(range(self.depth))
        )
        self.head = conv_layer(2)(widths[0], num_classes, 1)
        self.feature_info = [
            dict(num_chs=w, reduction=2**i, module="stem" if i == 0 else f"down.{i - 1}") for i, w in enumerate(widths)
        ]
        init_unet_weights(self)


# --------------------------------------------------------------------------- overlap-tile


def _mirror_indices(size: int, before: int, after: int, device: torch.device) -> torch.Tensor:
    """Indices of a mirror-extended axis, reflecting about the border pixels as often as needed."""
    index = torch.arange(-before, size + after, device=device)
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def mirror_pad(x: torch.Tensor, padding: tuple[int, int, int, int]) -> torch.Tensor:
    """Extend the last two axes by mirroring, ``padding = (top, bottom, left, right)``.

    The same as ``F.pad(x, (left, right, top, bottom), mode="reflect")`` (the border
    pixel is not repeated), but the padding may exceed the image: it reflects again.
    """
    top, bottom, left, right = padding
    rows = _mirror_indices(x.shape[-2], top, bottom, x.device)
    cols = _mirror_indices(x.shape[-1], left, right, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


@torch.no_grad()
def predict_overlap_tile(model: UNet, image: torch.Tensor, tile: int | Sequence[int] = 572) -> torch.Tensor:
    """Segment an image of any size with a valid U-Net by the paper's overlap-tile strategy.

    The image is extended by mirroring by the network's context on every side, ``(tile -
    output) / 2`` pixels (92 for the paper's net), and cut into ``tile``-sized inputs;
    each gives the map of its centre, and the maps are stitched into one of the image's
    size. Tiles start on the pooling grid (multiples of ``2 ** depth``), so the result
    equals one pass over the whole mirrored image, where that fits in memory.

    Args:
        model: a :class:`UNet` with valid convs (``padding=0``), in the mode wanted (``eval()``).
        image: ``(B, in_chans, H, W)``, any H and W.
        tile: side (or ``(height, width)``) of the input tiles; a size the network takes.

    Returns:
        ``(B, num_classes, H, W)``: the scores of every pixel.
    """
    if not isinstance(model, UNet) or model.padding != 0:
        raise ConvzooError("overlap-tile needs a UNet with valid convs (padding=0); a padded one takes the image whole")
    if image.dim() != 4 or image.shape[1] != model.in_chans:
        raise InputShapeError(
            f"overlap-tile expects an image of shape (B, {model.in_chans}, H, W), got {tuple(image.shape)}"
        )
    grid = 2**model.depth
    height, width = image.shape[-2:]
    tiles, outputs, steps, counts = _pair(tile), [], [], []
    for side, size in zip(tiles, (height, width)):
        out = model.output_size(side)
        step = out // grid * grid  # the largest step on the pooling grid that leaves no gap
        if step == 0:
            raise InputShapeError(
                f"a {side} tile gives a {out}-pixel output, less than the pooling grid of {grid}; "
                f"use a tile of at least {side + grid} pixels"
            )
        outputs.append(out)
        steps.append(step)
        counts.append(max(-(-(size - out) // step), 0) + 1)
    context = (tiles[0] - outputs[0]) // 2
    extent = [(n - 1) * s + t for n, s, t in zip(counts, steps, tiles)]
    padded = mirror_pad(image, (context, extent[0] - height - context, context, extent[1] - width - context))
    covered = [(n - 1) * s + o for n, s, o in zip(counts, steps, outputs)]  # output rows and columns the tiles give
    result = image.new_empty(image.shape[0], model.num_classes, *covered)
    for i in range(counts[0]):
        for j in range(counts[1]):
            y, x = i * steps[0], j * steps[1]
            result[..., y : y + outputs[0], x : x + outputs[1]] = model(padded[..., y : y + tiles[0], x : x + tiles[1]])
    return result[..., :height, :width]


# --------------------------------------------------------------------------- builders


def unet_widths(base_width: int, depth: int = 4) -> tuple[int, ...]:
    """``base_width`` doubled at every level: 64 -> (64, 128, 256, 512, 1024)."""
    return tuple(base_width * 2**i for i in range(depth + 1))


# Table 1 and 2 of the paper: the ISBI 2012 EM segmentation challenge (lower is better)
# and the ISBI 2015 cell tracking challenge (mean IoU).
_NOTES = {
    "ISBI 2012 EM segmentation (paper Table 1)": {
        "warping error": 0.000353, "rand error": 0.0382, "pixel error": 0.0611,
    },
    "ISBI 2015 cell tracking IoU (paper Table 2)": {"PhC-U373": 0.9203, "DIC-HeLa": 0.7756},
    "parameters (1 input channel, 2 classes)": 31_030_658,
    "tile": "572x572 input -> 388x388 output, 92 px of context per side; valid sizes 16 b + 60",
}


@register_model(
    family="unet",
    task="segmentation",
    paper=PAPER,
    input_size=(1, 572, 572),
    num_classes=2,
    deviations="None in the architecture; overlap-tile steps on the 16-pixel pooling grid.",
    notes=_NOTES,
)
def unet(base_width: int = 64, **kwargs: Any) -> UNet:
    """The paper's U-Net: valid convs, widths 64-1024, 572 -> 388: 31,030,658 parameters (1 channel, 2 classes)."""
    return UNet(**{"widths": unet_widths(base_width), **kwargs})


@register_model(
    family="unet",
    task="segmentation",
    paper=PAPER,
    input_size=(3, 256, 256),
    num_classes=2,
    deviations="Same-padded 3x3 convs with batch norm (no conv bias); output size = input size (multiples of 16).",
    notes={"up-sampling": "2x2 transposed conv of stride 2, as the paper (upsample='bilinear' is an option)"},
)
def unet_padded(base_width: int = 64, **kwargs: Any) -> UNet:
    """U-Net with same-padded convs and batch norm: output size = input size, for sides divisible by 16."""
    defaults = {"in_chans": 3, "widths": unet_widths(base_width), "padding": 1, "norm_layer": nn.BatchNorm2d}
    return UNet(**{**defaults, **kwargs})
