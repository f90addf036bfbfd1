"""Segmenting an image of any size: in one pass where it fits, tile by tile where it is large.

A fully convolutional network takes only some sizes: a same-padded U-Net multiples of
``2 ** depth`` (its pools must not floor), a valid one the sizes of its size chain. Both
passes here first bring the image to such a size and crop the map back:

* a padded network: the image is mirror-extended after each axis to the next multiple of
  the network's largest feature reduction (:func:`size_multiple`);
* a valid U-Net (``unet``): the image is mirror-extended by the network's context, the
  paper's overlap-tile strategy (:mod:`~convzoo.tasks.segmentation.valid_convs`).

:func:`segment_tiled` cuts the (extended) image into ``tile``-sized blocks of output, each
computed from a window widened by ``overlap`` pixels of context on every side. Blocks and
windows start on the network's pooling grid, so every window pools exactly as the whole
image does; with ``overlap`` at least the radius of the receptive field an output pixel
sees exactly its inputs of the whole pass, and the zero padding at a window's inner edge
never reaches the kept block. The tiled map then equals the whole pass (up to float
rounding where a conv kernel's sums depend on the input size). A valid U-Net is tiled by
:func:`~convzoo.models.unet.predict_overlap_tile`, which has the same property.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from convzoo.analysis.receptive_field import ReceptiveFieldError, receptive_field
from convzoo.models.unet import predict_overlap_tile
from convzoo.tasks.segmentation.objective import main_map
from convzoo.tasks.segmentation.valid_convs import is_valid_unet, mirror_extend, valid_padding, valid_tile

__all__ = ["DEFAULT_OVERLAP", "context_radius", "segment_tiled", "segment_whole", "size_multiple"]

DEFAULT_OVERLAP = 128  # context per side where the receptive field cannot be traced


def size_multiple(model: nn.Module) -> int:
    """The side every input of ``model`` is a multiple of: its largest ``feature_info`` reduction (16 for a
    depth-4 U-Net), 1 for a model without one."""
    reductions = [int(info.get("reduction", 1)) for info in getattr(model, "feature_info", None) or []]
    return max(reductions, default=1)


def context_radius(model: nn.Module, in_chans: int, side: int) -> int:
    """Half the receptive field of ``model``'s output, traced at ``side`` x ``side``; :data:`DEFAULT_OVERLAP`
    where the trace fails or the field is global."""
    try:
        field = receptive_field(model, (in_chans, side, side)).output
    except ReceptiveFieldError:
        return DEFAULT_OVERLAP
    size = field.size if field is not None else "global"
    if not isinstance(size, (int, float)):
        return DEFAULT_OVERLAP
    return math.ceil(size / 2)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@torch.no_grad()
def segment_whole(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The class scores of ``(B, C, *S)`` ``image`` (2-D or 3-D) in one pass: ``(B, K, *S)``."""
    shape = image.shape[2:]
    if is_valid_unet(model):
        padding, _ = valid_padding(model, shape)
    else:
        multiple = size_multiple(model)
        padding = [(0, _round_up(size, multiple) - size) for size in shape]
    scores = main_map(model(mirror_extend(image, padding)))
    return scores[(..., *(slice(0, size) for size in shape))]


@torch.no_grad()
def segment_tiled(model: nn.Module, image: torch.Tensor, tile: int = 512, overlap: int | None = None) -> torch.Tensor:
    """The class scores of ``(B, C, H, W)`` ``image`` from ``tile``-sided blocks, each with ``overlap`` of context.

    Equals :func:`segment_whole` (module docstring), which it is where the image fits in one tile.

    Args:
        model: a segmentation network in eval mode.
        image: the batch to segment.
        tile: side of the output blocks, rounded up to the network's size multiple.
        overlap: context on each side, rounded up likewise; default the radius of the
            receptive field (:func:`context_radius`). A valid U-Net needs none: its tiles
            carry their context.
    """
    height, width = image.shape[-2:]
    if is_valid_unet(model):
        if max(height, width) <= tile:
            return segment_whole(model, image)
        return predict_overlap_tile(model, image, valid_tile(model, tile)[0])
    multiple = size_multiple(model)
    tile = _round_up(tile, multiple)
    padded_height, padded_width = _round_up(height, multiple), _round_up(width, multiple)
    if padded_height <= tile and padded_width <= tile:
        return segment_whole(model, image)
    if overlap is None:
        overlap = context_radius(model, image.shape[1], tile)
    overlap = _round_up(overlap, multiple)
    padded = mirror_extend(image, [(0, padded_height - height), (0, padded_width - width)])
    scores = None
    for top in range(0, padded_height, tile):
        for left in range(0, padded_width, tile):
            bottom, right = min(top + tile, padded_height), min(left + tile, padded_width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, padded_height), min(right + overlap, padded_width)
            window = main_map(model(padded[..., y0:y1, x0:x1]))  # (B, K, y1 - y0, x1 - x0)
            if scores is None:
                scores = window.new_empty(*window.shape[:2], padded_height, padded_width)
            scores[..., top:bottom, left:right] = window[..., top - y0:bottom - y0, left - x0:right - x0]
    return scores[..., :height, :width]
