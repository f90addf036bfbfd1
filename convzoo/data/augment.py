"""Batched augmentation of image tensors, run on whole batches on the model's device.

One random affine matrix per image, applied with a single ``grid_sample`` call: no
per-image Python loop. Draws from PyTorch's global generator, so a seeded run is
repeatable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["RandomAffine"]


def _uniform(size: tuple[int, ...], bound: float, device: torch.device) -> torch.Tensor:
    return (torch.rand(size) * 2 - 1).mul_(bound).to(device)


class RandomAffine:
    """Random rotation, isotropic scaling and translation of a batch ``(B, C, H, W)``.

    Args:
        degrees: rotations are uniform in ``[-degrees, degrees]``.
        translate: shifts are uniform in ``[-translate, translate]`` times the side.
        scale: zoom factors are uniform in ``[1 - scale, 1 + scale]``.
        fill: value of the pixels that enter from outside the image (the normalised
            background).
    """

    def __init__(self, degrees: float, translate: float, scale: float, fill: float = 0.0) -> None:
        self.degrees = degrees
        self.translate = translate
        self.scale = scale
        self.fill = fill

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, device = images.shape[0], images.device
        angle = _uniform((batch,), math.radians(self.degrees), device)
        zoom = 1 + _uniform((batch,), self.scale, device)
        shift = _uniform((batch, 2), 2 * self.translate, device)  # grid coordinates span 2 per side
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([
            torch.stack([cos, -sin, shift[:, 0]], dim=1),
            torch.stack([sin, cos, shift[:, 1]], dim=1),
        ], dim=1)  # (B, 2, 3): output grid -> input coordinates
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        shifted = F.grid_sample(images - self.fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return shifted + self.fill
