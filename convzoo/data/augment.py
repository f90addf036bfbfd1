"""Batched augmentation of image tensors, run on whole batches on the model's device.

Each transform takes a batch ``(B, C, H, W)`` and draws its random numbers for all images
at once (one affine matrix, one crop offset, one flip per image), then transforms the
whole batch with a few tensor operations: no per-image Python loop. The draws come from
PyTorch's global CPU generator whatever the batch's device, so a seeded run repeats on
any device and a resumed run continues after restoring the generator's state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["Compose", "RandomAffine", "RandomCrop", "RandomHorizontalFlip"]


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


def _fill_tensor(fill: float | Sequence[float], images: torch.Tensor) -> torch.Tensor:
    """``fill`` as a ``(1, C, 1, 1)`` tensor: one value, or one per channel."""
    values = torch.as_tensor(fill, dtype=images.dtype).reshape(-1)
    if values.numel() not in (1, images.shape[1]):
        raise ValueError(f"fill has {values.numel()} values for {images.shape[1]} channels")
    return values.to(images.device).expand(images.shape[1]).view(1, -1, 1, 1)


class RandomCrop:
    """Pad a batch ``(B, C, H, W)`` on every side, then crop each image back to ``H x W``
    at its own random offset: a random shift of up to ``padding`` pixels each way.

    The recipe of the ResNet paper for CIFAR ("4 pixels are padded on each side, and a
    32x32 crop is randomly sampled from the padded image").

    Args:
        padding: pixels added on each side.
        fill: value of the padded pixels, one or one per channel (black in the
            normalised space is ``-mean / std``).
    """

    def __init__(self, padding: int, fill: float | Sequence[float] = 0.0) -> None:
        self.padding = padding
        self.fill = fill

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        pad, device = self.padding, images.device
        offsets = torch.randint(0, 2 * pad + 1, (2, batch)).to(device)  # (2, B): top, left
        padded = _fill_tensor(self.fill, images).expand(batch, channels, height + 2 * pad, width + 2 * pad).clone()
        padded[:, :, pad:pad + height, pad:pad + width] = images  # (B, C, H + 2p, W + 2p)
        rows = offsets[0].view(batch, 1, 1) + torch.arange(height, device=device).view(1, height, 1)  # (B, H, 1)
        cols = offsets[1].view(batch, 1, 1) + torch.arange(width, device=device).view(1, 1, width)  # (B, 1, W)
        index = torch.arange(batch, device=device).view(batch, 1, 1)
        crops = padded[index, :, rows, cols]  # (B, H, W, C): advanced indices first
        return crops.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


class RandomHorizontalFlip:
    """Mirror each image of a batch left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        flip = (torch.rand(images.shape[0]) < self.p).to(images.device).view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return torch.where(flip, images.flip(-1), images)


class Compose:
    """Apply batched transforms one after the other."""

    def __init__(self, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        for transform in self.transforms:
            images = transform(images)
        return images

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
