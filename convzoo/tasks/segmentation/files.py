"""Segmenting an image file with a checkpoint: the image, the predicted mask and the overlay side by side.

What ``convzoo segment CHECKPOINT IMAGE --out overlay.png`` does (:func:`segment_file`):
the image is read with the model's channel count (gray repeated, colour to luminance),
segmented whole, or tile by tile where it is larger than ``tile``
(:func:`~convzoo.tasks.segmentation.tiling.segment_tiled`, which gives the whole pass's
map), and written as three panels at the image's own size: the image, the predicted
mask in the fixed class palette, and the prediction over the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convzoo.data.natural_images import read_image, to_tensor
from convzoo.errors import ConvzooError
from convzoo.tasks.segmentation.overlay import class_colours, colour_mask, image_panel, overlay, write_panels
from convzoo.tasks.segmentation.tiling import segment_tiled
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint

__all__ = ["SegmentedFile", "load_segmenter", "segment_file"]


def load_segmenter(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, CheckpointMeta]:
    """A checkpoint written by ``convzoo train --task segmentation``; an error for any other."""
    model, meta = load_checkpoint(checkpoint, device)
    if meta.task != "segmentation":
        raise ConvzooError(f"checkpoint {checkpoint} is a {meta.task} model, not a segmentation one "
                           "(train one with --task segmentation)")
    return model, meta


@dataclass
class SegmentedFile:
    """What :func:`segment_file` wrote and found.

    Attributes:
        panels: the side-by-side PNG.
        size: the image's ``(height, width)``.
        tiled: the image was larger than a tile, and segmented tile by tile.
        pixels: predicted pixels per class name, for the classes found.
    """

    panels: Path
    size: tuple[int, int]
    tiled: bool
    pixels: dict[str, int]


def segment_file(checkpoint: str | Path, image: str | Path, out: str | Path, *, tile: int = 512) -> SegmentedFile:
    """Segment the image file ``image`` with a segmentation checkpoint; write the three panels to ``out``."""
    model, meta = load_segmenter(checkpoint)
    if meta.task_args.get("dims", 2) != 2:
        raise ConvzooError(f"checkpoint {checkpoint} segments volumes, not image files; "
                           "score it with convzoo eval CHECKPOINT")
    if tile < 1:
        raise ConvzooError(f"--tile must be a positive number of pixels, got {tile}")
    pixels = to_tensor(read_image(image, meta.input_size[0]))[None]  # (1, C, H, W)
    height, width = pixels.shape[-2:]
    predicted = segment_tiled(model, pixels, tile=tile)[0].argmax(dim=0).numpy()  # (H, W)
    colours = class_colours(len(meta.class_names))
    picture = image_panel(pixels[0])
    panels = write_panels(out, [[picture, colour_mask(predicted, colours), overlay(picture, predicted, colours)]])
    counts = np.bincount(predicted.reshape(-1), minlength=len(meta.class_names))
    found = {name: int(count) for name, count in zip(meta.class_names, counts) if count}
    return SegmentedFile(panels=panels, size=(height, width), tiled=max(height, width) > tile, pixels=found)
