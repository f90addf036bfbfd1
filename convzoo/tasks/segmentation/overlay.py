"""Pictures of a segmentation: the image, masks in a fixed palette, and the mask laid over the image.

Class ``k`` always has the same colour (:func:`class_colours`, the Pascal VOC colour map:
black background, then colours whose bits spread the class index over red, green and
blue), so pictures of different images and runs read alike; ignored pixels are white.
The panels are joined side by side at the image's own size, with a thin gap
(:func:`side_by_side`), and written as a PNG: exact pixels, any image size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from convzoo.errors import ConvzooError

__all__ = ["GAP", "class_colours", "colour_mask", "image_panel", "overlay", "side_by_side", "write_panels"]

GAP = 4  # white pixels between panels
OVERLAY_ALPHA = 0.5


def class_colours(num_classes: int) -> np.ndarray:
    """``(num_classes, 3)`` uint8 RGB: the Pascal VOC colour map (class 0 black, 1 dark red, 2 dark green, ...)."""
    colours = np.zeros((num_classes, 3), dtype=np.uint8)
    for index in range(num_classes):
        value, code = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                code[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        colours[index] = code
    return colours


def colour_mask(mask: np.ndarray, colours: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """An ``(H, W)`` class mask as ``(H, W, 3)`` uint8 colours; ``ignore_index`` (and any value without a colour) white."""
    known = (mask >= 0) & (mask < len(colours))
    shown = np.full((*mask.shape, 3), 255, dtype=np.uint8)
    shown[known] = colours[mask[known]]
    return shown


def image_panel(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """A ``(C, H, W)`` image in [0, 1] as ``(H, W, 3)`` uint8: gray repeated, more than 3 channels: the first 3."""
    pixels = np.asarray(image.detach().cpu().float() if isinstance(image, torch.Tensor) else image, dtype=np.float32)
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    rgb = np.moveaxis(pixels[:3], 0, -1)
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def overlay(picture: np.ndarray, mask: np.ndarray, colours: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """``picture`` with every non-background pixel of ``mask`` blended with its class colour."""
    coloured = colour_mask(mask, colours)
    blended = (1 - alpha) * picture.astype(np.float32) + alpha * coloured.astype(np.float32)
    shown = picture.copy()
    foreground = mask != 0
    shown[foreground] = (blended[foreground] + 0.5).astype(np.uint8)
    return shown


def side_by_side(panels: Sequence[np.ndarray], gap: int = GAP) -> np.ndarray:
    """``(H, W, 3)`` uint8 panels of one height joined left to right with ``gap`` white columns between them."""
    height = panels[0].shape[0]
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    row: list[np.ndarray] = []
    for panel in panels:
        row += [spacer, panel] if row else [panel]
    return np.concatenate(row, axis=1)


def write_panels(path: str | Path, rows: Sequence[Sequence[np.ndarray]], gap: int = GAP, scale: int = 1) -> Path:
    """Rows of panels (:func:`side_by_side`), stacked with ``gap`` white rows between them, written to ``path``
    (the format follows the suffix: PNG for ``.png``); ``scale`` enlarges every panel that many times (nearest)."""
    joined = [side_by_side([panel.repeat(scale, axis=0).repeat(scale, axis=1) for panel in row], gap) for row in rows]
    width = max(row.shape[1] for row in joined)
    padded = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in joined]
    stacked: list[np.ndarray] = []
    for row in padded:
        stacked += [np.full((gap, width, 3), 255, dtype=np.uint8), row] if stacked else [row]
    path = Path(path)
    try:
        Image.fromarray(np.concatenate(stacked, axis=0)).save(path)
    except (ValueError, OSError) as error:
        raise ConvzooError(f"cannot write {path}: {error}") from None
    return path
