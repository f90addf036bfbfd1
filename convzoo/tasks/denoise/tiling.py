"""Denoising an image of any size with bounded memory: tile by tile, each tile with its context."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["denoise_tiled"]


@torch.no_grad()
def denoise_tiled(model: nn.Module, image: torch.Tensor, tile: int = 256, overlap: int | None = None) -> torch.Tensor:
    """Denoise ``(B, C, H, W)`` ``image`` tile by tile, with ``overlap`` pixels of context around each tile.

    Each ``tile`` x ``tile`` block of the output is taken from the model's output on the
    block widened by ``overlap`` pixels on every side (clipped at the image border), so
    the memory stays bounded by a ``(tile + 2 overlap)``-sided window. The result equals
    a whole-image pass when ``overlap`` is at least the receptive field's radius (17 for
    DnCNN's 17 layers, ``depth`` in general): an output pixel depends only on the inputs
    within that radius, and both passes see exactly those inputs; the zero padding of
    every layer falls at the same places at the image border, and at a window's inner
    edge its effect creeps inward by one pixel per layer, so it never reaches the kept
    block. Bit for bit where the conv kernel's sums do not depend on the image size
    (PyTorch's native CPU conv in float32, with oneDNN off, as the tests check);
    otherwise equal up to float rounding (oneDNN blocks the sums by size: ~4e-7 here).

    Args:
        model: a fully convolutional image-to-image network, in eval mode.
        image: the noisy batch.
        tile: side of the output blocks.
        overlap: context on each side; default the model's receptive-field radius
            (``receptive_field // 2``), else 32.
    """
    if overlap is None:
        overlap = getattr(model, "receptive_field", 65) // 2
    height, width = image.shape[-2:]
    if height <= tile and width <= tile:
        return model(image)
    out = torch.empty_like(image)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
            window = model(image[..., y0:y1, x0:x1])  # (B, C, y1 - y0, x1 - x0)
            out[..., top:bottom, left:right] = window[..., top - y0:bottom - y0, left - x0:right - x0]
    return out
