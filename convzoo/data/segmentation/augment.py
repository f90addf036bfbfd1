"""Joint augmentation of an image and its mask: the same geometry for both.

A segmentation augmentation must move the mask with the image. :class:`JointAugment`
draws one random geometry per pair and applies it to both:

* 2-D: a horizontal flip (probability 1/2; off with ``flip=False`` where a mirror image
  changes the class, as a digit's), then one affine map that rotates by
  ``[-degrees, degrees]``, zooms by a factor in ``scale`` and shifts to a random crop
  position (the scale-crop: zoom in, keep a window of the original size);
* 3-D volumes ``(C, D, H, W)``: a flip along each axis (probability 1/2 each) and a random
  number of quarter turns in the ``(H, W)`` plane, which keep a volume's anisotropic
  spacing along ``D`` intact.

The image is resampled bilinearly; the mask by nearest neighbour, so it holds only
values it held before (an interpolated class value would be a different class). Pixels
that come from outside the image are 0 in the image and ``ignore_index`` in the mask:
nothing is known about them, and no loss or metric counts them.

Random numbers come from PyTorch's global generator, which the training engine seeds
and saves in its checkpoints, so an augmented run repeats and resumes exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from convzoo.data.segmentation.base import IGNORE_INDEX

__all__ = ["JointAugment"]


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


class JointAugment:
    """Random flips, zoom-crop and rotation of an ``(image, mask)`` pair (2-D or 3-D).

    Args:
        degrees: 2-D rotations are uniform in ``[-degrees, degrees]``.
        scale: 2-D zoom factors are uniform in ``[scale[0], scale[1]]``; above 1 zooms in.
        flip: 2-D horizontal flips; ``False`` where a mirrored object is another class.
        ignore_index: the mask value of pixels brought in from outside the image.

    Shape:
        image ``(C, H, W)`` with mask ``(H, W)``, or image ``(C, D, H, W)`` with mask
        ``(D, H, W)``; the pair keeps its shape.
    """

    def __init__(
        self,
        degrees: float = 10.0,
        scale: tuple[float, float] = (0.8, 1.25),
        flip: bool = True,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        self.degrees = degrees
        self.scale = scale
        self.flip = flip
        self.ignore_index = ignore_index

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if mask.dim() == 3:
            return self._volume(image, mask)
        if self.flip and bool(torch.rand(()) < 0.5):
            image, mask = image.flip(-1), mask.flip(-1)
        return self._affine(image, mask)

    def _affine(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        angle = math.radians(_uniform(-self.degrees, self.degrees))
        zoom = _uniform(*self.scale)
        slack = abs(1 - 1 / zoom)  # how far the window can move and stay (mostly) inside
        shift_x, shift_y = _uniform(-slack, slack), _uniform(-slack, slack)
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        theta = torch.tensor([[[cos, -sin, shift_x], [sin, cos, shift_y]]], dtype=torch.float32)  # output -> input
        grid = F.affine_grid(theta, [1, 1, *mask.shape], align_corners=False)
        warped = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        # The mask is shifted by one so that 0 marks "outside" after zero padding.
        shifted = (mask + 1).float()[None, None]
        labels = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[0, 0].long()
        labels = torch.where(labels == 0, torch.full_like(labels, self.ignore_index), labels - 1)
        return warped.clamp_(0.0, 1.0), labels

    def _volume(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for axis in (-3, -2, -1):
            if bool(torch.rand(()) < 0.5):
                image, mask = image.flip(axis), mask.flip(axis)
        turns = int(torch.randint(0, 4, ()))
        if mask.shape[-1] != mask.shape[-2]:
            turns = 2 * (turns % 2)  # a half turn keeps a non-square plane's shape
        return torch.rot90(image, turns, dims=(-2, -1)), torch.rot90(mask, turns, dims=(-2, -1))
