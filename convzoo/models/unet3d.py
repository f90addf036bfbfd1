"""3D U-Net: dense volumetric segmentation, learnt from sparsely annotated slices.

Paper: 3D U-Net: Learning Dense Volumetric Segmentation from Sparse Annotation
(Ö. Çiçek, A. Abdulkadir, S. S. Lienkamp, T. Brox, O. Ronneberger, MICCAI 2016)
https://arxiv.org/abs/1606.06650

The U-Net with every operation made volumetric (Fig. 1 of the paper): 3x3x3 convs,
2x2x2 max-pools of stride 2, 2x2x2 up-convolutions of stride 2. Three changes from the
2D network: batch normalisation before each ReLU; three pools instead of four; and the
channels double *before* each pool (in the second conv of a level) rather than after,
to avoid bottlenecks. The convs are unpadded, so a 132x132x116 tile (x, y, z) gives a
44x44x28 map; in PyTorch's (B, C, D, H, W) order, (116, 132, 132) -> (28, 44, 44)::

    level  analysis path                            synthesis path
    0      3x3x3 conv 32, 3x3x3 conv 64             up 128 -> 128, concat 64, 2 x 3x3x3 conv 64, 1x1x1 conv -> classes
    1      pool, 3x3x3 conv 64, 3x3x3 conv 128      up 256 -> 256, concat 128, 2 x 3x3x3 conv 128
    2      pool, 3x3x3 conv 128, 3x3x3 conv 256     up 512 -> 512, concat 256, 2 x 3x3x3 conv 256
    3      pool, 3x3x3 conv 256, 3x3x3 conv 512     (bottom)

Every 3x3x3 conv is followed by batch norm and a ReLU. The paper's input has 3 channels
and the output 3 labels; it counts "19069955 parameters in total", which this network
reproduces leaving out batch norm's 4,672 (19,074,627 with them).

The paper segments a whole volume at once (downsampled by two). For volumes too large
for that, :class:`TwoStageUNet3D` runs a coarse network on a downsampled volume to find
the region of interest and a fine network on that region at full resolution.

Deviations:
    The up-convolutions have no bias and every 3x3x3 conv keeps its bias before batch
    norm: the reading of the architecture that reproduces the paper's 19,069,955
    parameters (with biases in the up-convolutions it would have 896 more). The skip map
    is concatenated before the up-sampled one. Weights are He-normal (the 2D U-Net's
    initialisation; the paper does not say). The weighted softmax loss that ignores
    unlabelled voxels (the sparse annotation) belongs to training, not to the model.
    ``unet3d_padded``: same-padded convs without bias, output size = input size for
    sides divisible by 8. :class:`TwoStageUNet3D` is convzoo's addition, not the paper's.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.blocks.unet import DoubleConv, LayerFactory, UpConcat, conv_layer, max_pool_layer
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.unet import UNetLayout, init_unet_weights
from convzoo.registry import Paper, register_model

__all__ = ["UNet3D", "TwoStageUNet3D", "unet3d", "unet3d_padded", "unet3d_levels"]

PAPER = Paper(
    title="3D U-Net: Learning Dense Volumetric Segmentation from Sparse Annotation",
    authors="Ö. Çiçek, A. Abdulkadir, S. S. Lienkamp, T. Brox, O. Ronneberger",
    venue="MICCAI",
    year=2016,
    url="https://arxiv.org/abs/1606.06650",
)


def unet3d_levels(base_width: int = 32, depth: int = 3) -> tuple[tuple[int, int], ...]:
    """``(first conv, second conv)`` channels of each level: 32 -> ((32, 64), (64, 128), (128, 256), (256, 512))."""
    return tuple((base_width * 2**i, base_width * 2 ** (i + 1)) for i in range(depth + 1))


class UNet3D(UNetLayout):
    """3D U-Net: the U-Net on volumes, with batch norm and the channels doubled before each pool.

    Args:
        in_chans: channels of the input volume.
        num_classes: channels of the output map.
        levels: ``(first conv, second conv)`` channels of each level, top to bottom;
            ``len(levels) - 1`` pools.
        padding: 0 for the paper's valid convs, 1 to keep the size.
        norm_layer: norm after every 3x3x3 conv; ``None`` for none.
        act_layer: activation after every 3x3x3 conv.
        conv_bias: whether the 3x3x3 convs have a bias (the paper's count includes them).

    Shape:
        (B, in_chans, D, H, W) -> (B, num_classes, D', H', W'): with valid convs at depth 3
        ``D' = D - 88`` (116 -> 28, 132 -> 44); with ``padding=1`` ``D' = D``, a multiple of 8.
    """

    dims = 3

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 3,
        levels: Sequence[tuple[int, int]] = unet3d_levels(),
        padding: int = 0,
        norm_layer: LayerFactory | None = nn.BatchNorm3d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        if padding not in (0, 1):
            raise ValueError(f"padding must be 0 (valid convs) or 1 (same size), got {padding}")
        if len(levels) < 2:
            raise ValueError(f"a 3D U-Net needs at least two levels, got {tuple(levels)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.levels = tuple(tuple(level) for level in levels)
        self.depth = len(levels) - 1
        self.padding = padding
        block = dict(padding=padding, norm_layer=norm_layer, act_layer=act_layer, bias=conv_bias, dims=3)
        mids, outs = [mid for mid, _ in levels], [out for _, out in levels]
        # Registered in the order they run, so the analysis lab reads the layers as one chain.
        self.stem = DoubleConv(in_chans, outs[0], mid_channels=mids[0], **block)
        self.down = nn.ModuleList(
            nn.Sequential(max_pool_layer(3)(2), DoubleConv(outs[i], outs[i + 1], mid_channels=mids[i + 1], **block))
            for i in range(self.depth)
        )
        # The up-convolution keeps the channels of the level below (512 -> 512), as in Fig. 1.
        self.up = nn.ModuleList(
            UpConcat(outs[i + 1], outs[i], outs[i], up_channels=outs[i + 1], up_bias=False, **block)
            for i in reversed(range(self.depth))
        )
        self.head = conv_layer(3)(outs[0], num_classes, 1)
        self.feature_info = [
            dict(num_chs=c, reduction=2**i, module="stem" if i == 0 else f"down.{i - 1}") for i, c in enumerate(outs)
        ]
        init_unet_weights(self)


# --------------------------------------------------------------------------- two stages


def _grow(start: int, stop: int, size: int, multiple: int) -> tuple[int, int]:
    """``[start, stop)`` widened to a multiple of ``multiple`` about its centre, kept inside ``[0, size)``."""
    length = -(-(stop - start) // multiple) * multiple
    if length > size:
        raise InputShapeError(
            f"the region of interest needs {length} voxels (a multiple of {multiple}) along an axis of only {size}"
        )
    start = min(max(start - (length - (stop - start)) // 2, 0), size - length)
    return start, start + length


class TwoStageUNet3D(nn.Module):
    """Coarse-to-fine segmentation of a large volume with two networks.

    1. The volume is downsampled by ``scale`` (average pooling) and the ``coarse``
       network segments it; its foreground voxels (any class but ``background``) give
       a bounding box.
    2. The box is mapped to full resolution, widened by ``roi_margin`` voxels on every
       side (and to a multiple of ``fine_multiple``), clipped to the volume, and the
       ``fine`` network segments that crop.
    3. The fine labels are pasted back; every voxel outside the box is background.

    Args:
        coarse: network on the downsampled volume; scores ``(B, K, d, h, w)`` of its
            input's size (a padded network such as ``unet3d_padded``).
        fine: network on the full-resolution crop; scores of the crop's size.
        scale: downsampling factor of the coarse stage along every axis.
        roi_margin: voxels of context added around the box at full resolution.
        fine_multiple: the crop's sides are rounded up to a multiple of this (8 for a
            padded 3D U-Net of depth 3).
        background: the class index of the background.

    Shape:
        (B, C, D, H, W) -> labels (B, D, H, W), int64.
    """

    def __init__(
        self,
        coarse: nn.Module,
        fine: nn.Module,
        scale: int = 2,
        roi_margin: int = 8,
        fine_multiple: int = 1,
        background: int = 0,
    ) -> None:
        super().__init__()
        if scale < 1 or roi_margin < 0 or fine_multiple < 1:
            raise ValueError(
                f"need scale >= 1, roi_margin >= 0, fine_multiple >= 1; got {scale}, {roi_margin}, {fine_multiple}"
            )
        self.coarse = coarse
        self.fine = fine
        self.scale = scale
        self.roi_margin = roi_margin
        self.fine_multiple = fine_multiple
        self.background = background

    def regions_of_interest(self, volume: torch.Tensor) -> list[tuple[slice, slice, slice] | None]:
        """The full-resolution box of each volume in the batch (``None`` where the coarse stage finds no foreground)."""
        if volume.dim() != 5:
            raise InputShapeError(
                f"{type(self).__name__} expects a volume of shape (B, C, D, H, W), got {tuple(volume.shape)}"
            )
        small = F.avg_pool3d(volume, self.scale) if self.scale > 1 else volume  # (B, C, D / s, H / s, W / s)
        scores = self.coarse(small)  # (B, K, D / s, H / s, W / s)
        if scores.shape[2:] != small.shape[2:]:
            raise ConvzooError(
                "the coarse network must keep the size (a padded network): "
                f"{tuple(small.shape[2:])} -> {tuple(scores.shape[2:])}"
            )
        foreground = scores.argmax(dim=1) != self.background  # (B, d, h, w)
        boxes: list[tuple[slice, slice, slice] | None] = []
        for mask in foreground:
            if not mask.any():
                boxes.append(None)
                continue
            box = []
            for axis, size in enumerate(volume.shape[2:]):
                hits = mask.any(dim=tuple(a for a in range(3) if a != axis)).nonzero().flatten()
                # coarse voxel v covers the full-resolution voxels [v s, (v + 1) s)
                start = max(int(hits[0]) * self.scale - self.roi_margin, 0)
                stop = min((int(hits[-1]) + 1) * self.scale + self.roi_margin, size)
                box.append(slice(*_grow(start, stop, size, self.fine_multiple)))
            boxes.append(tuple(box))
        return boxes

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        labels = volume.new_full((volume.shape[0], *volume.shape[2:]), self.background, dtype=torch.long)
        for index, box in enumerate(self.regions_of_interest(volume)):
            if box is None:
                continue
            crop = volume[index : index + 1, :, box[0], box[1], box[2]]  # (1, C, d, h, w) at full resolution
            scores = self.fine(crop)  # (1, K, d, h, w)
            if scores.shape[2:] != crop.shape[2:]:
                raise ConvzooError(
                    "the fine network must keep the size (a padded network): "
                    f"{tuple(crop.shape[2:])} -> {tuple(scores.shape[2:])}"
                )
            labels[index, box[0], box[1], box[2]] = scores[0].argmax(dim=0)
        return labels


# --------------------------------------------------------------------------- builders


_ENTRY = dict(family="unet", task="segmentation", paper=PAPER, num_classes=3)


@register_model(
    **_ENTRY,
    input_size=(3, 116, 132, 132),
    deviations="Up-convolutions without bias, 3x3x3 convs with bias before batch norm (reproduces the paper's count); "
    "He-normal initialisation.",
    notes={
        "parameters (paper: 19,069,955, batch norm not counted)": {
            "without batch norm": 19_069_955, "with": 19_074_627,
        },
        "tile": "132x132x116 (x, y, z) -> 44x44x28; (C, D, H, W) = (3, 116, 132, 132) -> (3, 28, 44, 44)",
        "data (paper)": "Xenopus kidney confocal volumes, 3 channels, labels tubule / background / unlabelled",
    },
)
def unet3d(base_width: int = 32, **kwargs: Any) -> UNet3D:
    """The paper's 3D U-Net: valid 3x3x3 convs + BN, 132x132x116 -> 44x44x28; 19,069,955 parameters without BN's."""
    return UNet3D(**{"levels": unet3d_levels(base_width), **kwargs})


@register_model(
    **_ENTRY,
    input_size=(3, 64, 64, 64),
    deviations="Same-padded 3x3x3 convs without bias, then batch norm; output size = input size (multiples of 8).",
)
def unet3d_padded(base_width: int = 32, **kwargs: Any) -> UNet3D:
    """3D U-Net with same-padded convs: output size = input size, for sides divisible by 8."""
    return UNet3D(**{"levels": unet3d_levels(base_width), "padding": 1, "conv_bias": False, **kwargs})
