"""What every segmentation dataset gives, and the checks and conversions they share.

A segmentation dataset is an :class:`SegmentationData`: train, validation and test
datasets whose items are ``(image, mask)`` pairs,

* ``image``: float32 in [0, 1], ``(C, H, W)`` for images, ``(C, D, H, W)`` for volumes;
* ``mask``: int64 class values, ``(H, W)`` or ``(D, H, W)``; ``class_names[v]`` names
  value ``v`` (0 is the background) and ``ignore_index`` (255) marks pixels that no loss
  or metric counts (VOC's object borders, Pet's trimap borders, pixels an augmentation
  brought in from outside the image).

Masks are checked where they are read: a mask whose size differs from its image's, or
whose values are neither declared classes nor the ignore value, fails with one line that
names the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convzoo.data.splits import LUMA_WEIGHTS
from convzoo.errors import ConvzooError

__all__ = [
    "HOLDOUT_FRACTION",
    "IGNORE_INDEX",
    "SPLIT_SEED",
    "JointTransform",
    "SegmentationData",
    "TensorPairs",
    "check_mask_values",
    "check_same_size",
    "convert_image_channels",
    "convert_volume_channels",
    "fit_pair",
    "fixed_split",
    "to_unit_interval",
    "require_data_dir",
    "resolve_in_chans",
]

IGNORE_INDEX = 255
SPLIT_SEED = 0  # fixed, and not the training seed: every run is scored on the same items
HOLDOUT_FRACTION = 0.15  # of the items, for each of validation and test where a dataset has no split

# (image, mask) -> (image, mask): a joint augmentation or any per-pair transform.
JointTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class SegmentationData:
    """Train, validation and test splits of one segmentation dataset.

    Attributes:
        train, val, test: datasets of ``(image, mask)``: float32 ``(C, H, W)`` in [0, 1]
            (volumes ``(C, D, H, W)``) and int64 ``(H, W)`` (``(D, H, W)``).
        class_names: ``class_names[v]`` names mask value ``v``; index 0 is the background.
        in_chans: the image channels ``C``.
        dims: 2 for images, 3 for volumes.
        ignore_index: the mask value that no loss or metric counts.
    """

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    in_chans: int
    dims: int = 2
    ignore_index: int = IGNORE_INDEX

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class TensorPairs(Dataset):
    """Images and masks held in memory, optionally transformed per item.

    Args:
        images: float32 ``(N, C, *spatial)`` in [0, 1].
        masks: integer ``(N, *spatial)`` (stored as given, returned as int64).
        transform: applied to each ``(image, mask)`` pair when it is read (the training
            split's joint augmentation), or ``None``.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, transform: JointTransform | None = None) -> None:
        if images.shape[0] != masks.shape[0] or images.shape[2:] != masks.shape[1:]:
            raise ConvzooError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} do not pair up")
        self.images = images
        self.masks = masks
        self.transform = transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.images[index], self.masks[index].long()
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def resolve_in_chans(in_chans: int | None, native: int, name: str) -> int:
    """The channel count the items get: the dataset's own (``None``) or 1 / 3 by conversion."""
    if in_chans is None:
        return native
    if in_chans == native or (native in (1, 3) and in_chans in (1, 3)):
        return in_chans
    raise ConvzooError(
        f"segmentation dataset {name!r} has {native}-channel images; a model with in_chans={in_chans} cannot take them"
    )


def convert_image_channels(image: torch.Tensor, in_chans: int) -> torch.Tensor:
    """An image ``(C, H, W)`` (or a batch ``(N, C, H, W)``) with ``in_chans`` channels.

    Gray is repeated for a 3-channel model; RGB becomes its luminance (ITU-R 601, as
    :func:`convzoo.data.splits.convert_channels`) for a 1-channel one.
    """
    return _convert(image, in_chans, dim=-3)


def convert_volume_channels(volume: torch.Tensor, in_chans: int) -> torch.Tensor:
    """A volume ``(C, D, H, W)`` (or a batch ``(N, C, D, H, W)``) with ``in_chans`` channels."""
    return _convert(volume, in_chans, dim=-4)


def _convert(tensor: torch.Tensor, in_chans: int, dim: int) -> torch.Tensor:
    channels = tensor.shape[dim]
    if channels == in_chans:
        return tensor
    if channels == 1 and in_chans == 3:
        sizes = [-1] * tensor.dim()
        sizes[dim] = 3
        return tensor.expand(*sizes).contiguous()
    if channels == 3 and in_chans == 1:
        shape = [1] * tensor.dim()
        shape[dim] = 3
        weights = torch.tensor(LUMA_WEIGHTS, dtype=tensor.dtype).view(shape)
        return (tensor * weights).sum(dim=dim, keepdim=True)
    raise ConvzooError(f"cannot convert {channels}-channel images for a model with in_chans={in_chans}")


def require_data_dir(data_dir: str | os.PathLike | None, name: str, layout: str) -> Path:
    """``data_dir`` as an existing folder; one line saying what it should hold otherwise."""
    if data_dir is None:
        raise ConvzooError(f"segmentation dataset {name!r} needs --data-dir D holding {layout}")
    root = Path(data_dir)
    if not root.is_dir():
        raise ConvzooError(f"data folder {root} does not exist (dataset {name!r} expects {layout})")
    return root


def check_same_size(image_size: tuple[int, ...], mask_size: tuple[int, ...], image: object, mask: object) -> None:
    """Fail unless an image and its mask have the same spatial size (named in the message)."""
    if tuple(image_size) != tuple(mask_size):
        raise ConvzooError(
            f"mask {mask} is {'x'.join(map(str, mask_size))} but its image {image} is "
            f"{'x'.join(map(str, image_size))}; expected the same size"
        )


def check_mask_values(mask: torch.Tensor, num_classes: int, ignore_index: int, source: object) -> None:
    """Fail unless every value of ``mask`` is a class in ``[0, num_classes)`` or ``ignore_index``."""
    bad = (mask < 0) | (mask >= num_classes)
    bad &= mask != ignore_index
    if bool(bad.any()):
        values = sorted(set(mask[bad].unique().tolist()))
        shown = ", ".join(map(str, values[:5])) + (", ..." if len(values) > 5 else "")
        raise ConvzooError(
            f"mask {source} has values {shown} outside the {num_classes} declared classes "
            f"(expected 0..{num_classes - 1} or {ignore_index} = ignore)"
        )


def fit_pair(image: torch.Tensor, mask: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring a 2-D pair to ``size`` x ``size``: shorter side resized to ``size``, then the centre cropped.

    The image is resized bilinearly (antialiased when shrinking), the mask by nearest
    neighbour so it keeps only its own values.
    """
    height, width = mask.shape
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
        shrink = new_size[0] < height
        image = F.interpolate(image[None], size=new_size, mode="bilinear", align_corners=False, antialias=shrink)[0]
        image = image.clamp_(0.0, 1.0)
        mask = F.interpolate(mask[None, None].float(), size=new_size, mode="nearest-exact")[0, 0].long()
        top, left = (new_size[0] - size) // 2, (new_size[1] - size) // 2
        image = image[:, top : top + size, left : left + size]
        mask = mask[top : top + size, left : left + size]
    return image, mask


def fixed_split(count: int, what: str, fraction: float = HOLDOUT_FRACTION) -> tuple[list[int], list[int], list[int]]:
    """Indices of a fixed split of ``count`` items into train, validation and test.

    Validation and test get ``max(1, round(fraction * count))`` items each, drawn by a
    fixed permutation (:data:`SPLIT_SEED`); ``what`` names the items in the error raised
    when there are fewer than 3.
    """
    if count < 3:
        raise ConvzooError(f"{what} holds {count} item(s); at least 3 are needed for train, validation and test")
    held_out = max(1, round(fraction * count))
    order = np.random.default_rng(SPLIT_SEED).permutation(count).tolist()
    test, val, train = order[:held_out], order[held_out : 2 * held_out], order[2 * held_out :]
    return sorted(train), sorted(val), sorted(test)


def to_unit_interval(values: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Intensities as float32 in [0, 1]: ``uint8`` divided by 255, anything else robustly rescaled.

    Microscopy (16-bit) and medical (CT Hounsfield units, MR) intensities have no fixed
    range, so they are mapped linearly from their ``low`` and ``high`` percentiles to 0 and 1
    and clipped, as nnU-Net and most microscopy tools (``csbdeep.normalize``) do.
    """
    if values.dtype == np.uint8:
        return values.astype(np.float32) / 255.0
    values = values.astype(np.float32)
    floor, ceiling = np.percentile(values, [low, high])
    if ceiling <= floor:
        return np.zeros_like(values)
    return np.clip((values - floor) / (ceiling - floor), 0.0, 1.0).astype(np.float32)  # the percentiles are float64
