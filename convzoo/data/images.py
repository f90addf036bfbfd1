"""Reading image files into model-ready tensors."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from convzoo.errors import ConvzooError

__all__ = ["IMAGE_SUFFIXES", "load_image"]

# The file types convzoo reads as images from a folder (all that Pillow opens here).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".webp")


def _resize(image: Image.Image, size: int, crop_fraction: float | None) -> Image.Image:
    if crop_fraction is None:
        return image.resize((size, size), Image.BILINEAR)
    shorter = int(size / crop_fraction)
    width, height = image.size
    if width <= height:  # the same arithmetic as torchvision's Resize and CenterCrop
        width, height = shorter, int(shorter * height / width)
    else:
        width, height = int(shorter * width / height), shorter
    image = image.resize((width, height), Image.BILINEAR)
    left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def load_image(
    path: str | os.PathLike,
    *,
    in_chans: int,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_fraction: float | None = None,
) -> torch.Tensor:
    """Read ``path`` as a normalised ``(in_chans, size, size)`` tensor.

    One-channel models get the image in grayscale, three-channel models in RGB; other
    channel counts repeat the grayscale image. The image is resized whole to
    ``size x size``, or, with ``crop_fraction``, its shorter side is resized to
    ``size / crop_fraction`` and the centre ``size x size`` is cropped, as the
    evaluation of image folders does.
    """
    try:
        with Image.open(path) as image:
            image = _resize(image.convert("RGB" if in_chans == 3 else "L"), size, crop_fraction)
    except FileNotFoundError:
        raise ConvzooError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ConvzooError(f"cannot read image {path}: {error}") from None
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)  # (size, size[, 3])
    tensor = pixels.permute(2, 0, 1) if pixels.dim() == 3 else pixels.unsqueeze(0)  # (1 or 3, size, size)
    if tensor.shape[0] != in_chans:
        tensor = tensor.repeat(in_chans, 1, 1)
    mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return (tensor - mean) / std
