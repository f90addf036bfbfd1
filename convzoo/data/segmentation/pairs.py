"""Image and mask files on disk, read a pair at a time: what VOC, Pet and mask folders share.

A pair is an image file (anything PIL reads) and a mask file whose pixel values code
the classes: a palette PNG's indices (VOC), a grayscale PNG's values, or a trimap's
1/2/3 (Pet) that a :class:`MaskCoding` maps to classes. Pairs stay on disk and are decoded
when an item is read, so a dataset may be larger than memory, and DataLoader workers
share the decoding.

When a dataset is opened, :func:`check_pairs` reads every pair's header (no pixels): a
missing or unreadable file, or a mask whose size differs from its image's, fails at once
with one line naming the file. A mask value that codes no class fails when that mask is
read, naming the mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from convzoo.data.segmentation.base import (
    IGNORE_INDEX,
    JointTransform,
    check_mask_values,
    check_same_size,
    convert_image_channels,
    fit_pair,
)
from convzoo.errors import ConvzooError

__all__ = ["FilePairs", "MaskCoding", "PairReader", "check_pairs", "common_side", "read_mask_values"]

Pair = tuple[Path, Path]


@dataclass(frozen=True)
class MaskCoding:
    """How a mask file's values become classes.

    Args:
        num_classes: the classes, values ``0 .. num_classes - 1``.
        mapping: file value -> class (or ``ignore_index``); a value it lacks is an error.
            ``None``: the file's values are the classes, ``ignore_index`` allowed.
        ignore_index: the value that no loss or metric counts.
    """

    num_classes: int
    mapping: Mapping[int, int] | None = None
    ignore_index: int = IGNORE_INDEX

    def decode(self, values: np.ndarray, source: object) -> torch.Tensor:
        """The class mask of file values ``values`` (from ``source``, named in errors)."""
        mask = torch.from_numpy(values.astype(np.int64))
        if self.mapping is None:
            check_mask_values(mask, self.num_classes, self.ignore_index, source)
            return mask
        found = set(np.unique(values).tolist())
        unknown = sorted(found - set(self.mapping))
        if unknown:
            raise ConvzooError(
                f"mask {source} has values {', '.join(map(str, unknown[:5]))} that code no class "
                f"(expected {', '.join(map(str, sorted(self.mapping)))})"
            )
        lookup = np.zeros(max(found) + 1, dtype=np.int64)
        for value, label in self.mapping.items():
            if value < len(lookup):
                lookup[value] = label
        return torch.from_numpy(lookup[values])


def read_mask_values(path: Path) -> np.ndarray:
    """The raw values of a mask file ``(H, W)``: palette indices, or gray levels."""
    try:
        with Image.open(path) as image:
            if image.mode in ("RGB", "RGBA", "CMYK", "YCbCr"):
                raise ConvzooError(
                    f"mask {path} is a colour ({image.mode}) image; expected a palette or grayscale image "
                    "whose pixel values are the classes"
                )
            return np.array(image)
    except FileNotFoundError:
        raise ConvzooError(f"mask {path} does not exist") from None
    except ConvzooError:
        raise
    except Exception as error:  # PIL fails in many ways on a corrupt file
        raise ConvzooError(f"cannot read mask {path}: {type(error).__name__}: {error}") from None


def _read_image(path: Path, channels: int) -> torch.Tensor:
    """Image ``path`` as float32 ``(channels, H, W)`` in [0, 1]; ``channels`` 1 (luminance) or 3 (RGB)."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("L" if channels == 1 else "RGB"))
    except FileNotFoundError:
        raise ConvzooError(f"image {path} does not exist") from None
    except Exception as error:  # PIL fails in many ways on a corrupt file
        raise ConvzooError(f"cannot read image {path}: {type(error).__name__}: {error}") from None
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)


@dataclass(frozen=True)
class PairReader:
    """Reads one pair: the image with ``in_chans`` channels, the mask decoded, both brought to ``size``.

    ``size`` ``None`` keeps the pair's own size; otherwise :func:`fit_pair` resizes the
    shorter side (bilinear image, nearest-neighbour mask) and crops the centre.
    """

    coding: MaskCoding
    in_chans: int
    size: int | None = None

    def __call__(self, image_path: Path, mask_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        image = _read_image(image_path, 1 if self.in_chans == 1 else 3)
        mask = self.coding.decode(read_mask_values(mask_path), mask_path)
        check_same_size(tuple(image.shape[1:]), tuple(mask.shape), image_path, mask_path)
        if self.size is not None:
            image, mask = fit_pair(image, mask, self.size)
        return convert_image_channels(image, self.in_chans), mask


@dataclass
class FilePairs(Dataset):
    """A dataset of ``(image, mask)`` file pairs, read by ``reader`` and transformed per item."""

    pairs: Sequence[Pair]
    reader: PairReader
    transform: JointTransform | None = field(default=None)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.reader(*self.pairs[index])
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def _header_size(path: Path, what: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size[1], image.size[0]  # (H, W)
    except FileNotFoundError:
        raise ConvzooError(f"{what} {path} does not exist") from None
    except Exception as error:  # PIL fails in many ways on a corrupt file
        raise ConvzooError(f"cannot read {what} {path}: {type(error).__name__}: {error}") from None


def check_pairs(pairs: Sequence[Pair]) -> set[tuple[int, int]]:
    """Check every pair's headers (files readable, same size); the set of ``(H, W)`` sizes found."""
    sizes = set()
    for image_path, mask_path in pairs:
        image_size = _header_size(image_path, "image")
        check_same_size(image_size, _header_size(mask_path, "mask"), image_path, mask_path)
        sizes.add(image_size)
    return sizes


def common_side(sizes: set[tuple[int, int]], image_size: int | None, default: int) -> int | None:
    """The side items are brought to: ``image_size``; else none where every image is the same size; else ``default``."""
    if image_size is not None:
        return image_size
    return None if len(sizes) == 1 else default
