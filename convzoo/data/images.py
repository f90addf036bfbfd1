"""Reading image files into model-ready tensors."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torchvision.transforms.functional as TF
from PIL import Image, UnidentifiedImageError

from convzoo.errors import ConvzooError

__all__ = ["load_image"]


def load_image(
    path: str | os.PathLike,
    *,
    in_chans: int,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Read ``path`` as a normalised ``(in_chans, size, size)`` tensor.

    One-channel models get the image in grayscale, three-channel models in RGB; other
    channel counts repeat the grayscale image.
    """
    try:
        with Image.open(path) as image:
            image = image.convert("RGB" if in_chans == 3 else "L")
    except FileNotFoundError:
        raise ConvzooError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as error:
        raise ConvzooError(f"cannot read image {path}: {error}") from None
    tensor = TF.to_tensor(TF.resize(image, [size, size], antialias=True))  # (1 or 3, size, size)
    if tensor.shape[0] != in_chans:
        tensor = tensor.repeat(in_chans, 1, 1)
    return TF.normalize(tensor, list(mean), list(std))
