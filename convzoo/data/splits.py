"""The shape every image-classification dataset takes once loaded, and how the in-memory
ones get there.

A dataset held in memory (MNIST, Fashion-MNIST, CIFAR) arrives as ``uint8`` images with
the official train and test splits. :func:`in_memory_splits` turns them into an
:class:`ImageSplits`: a fixed, stratified validation split carved from the official train
split, the images converted to the model's channel count and resized once, then
normalised with the training split's per-channel mean and standard deviation. All of it
is vectorised: no Python loop over images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from convzoo.errors import ConvzooError

__all__ = [
    "ImageSplits",
    "LUMA_WEIGHTS",
    "SPLIT_SEED",
    "VAL_FRACTION",
    "check_in_chans",
    "check_image_size",
    "convert_channels",
    "holdout_split",
    "in_memory_splits",
]

SPLIT_SEED = 0  # fixed, and not the training seed: every run is scored on the same images
VAL_FRACTION = 0.1  # of the official train split, for datasets that ship no validation split
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert("L")
_CHUNK = 4096  # images converted at a time, to bound the peak memory of resizing


@dataclass
class ImageSplits:
    """Train, validation and test splits of one image-classification dataset.

    Attributes:
        name: dataset name as the command line spells it.
        train, val, test: datasets yielding ``(image, label)``; images normalised.
        class_names: label ``i`` is ``class_names[i]``.
        mean, std: per-channel normalisation applied to images in [0, 1].
        augment: the training augmentation, applied to whole batches, or ``None``.
        native_size: the side of the dataset's own images (28 for MNIST, 32 for CIFAR),
            or ``None`` where there is no single one (image folders) or it is no use
            (the 8x8 digits).
        eval_crop_fraction: where evaluation resizes the shorter side to
            ``size / eval_crop_fraction`` and crops the centre (image folders, 0.875);
            ``None`` where images are resized whole.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    mean: list[float]
    std: list[float]
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    native_size: int | None = None
    eval_crop_fraction: float | None = None


def check_in_chans(in_chans: int, name: str) -> None:
    """Fail early unless ``in_chans`` is a channel count a dataset can be converted to."""
    if in_chans not in (1, 3):
        raise ConvzooError(
            f"dataset {name!r} gives 1-channel (grayscale) or 3-channel (RGB) images; "
            f"a model with in_chans={in_chans} cannot take them"
        )


def check_image_size(image_size: int | None, name: str, native_size: int | None) -> int:
    """The side the images are to have: ``image_size``, or the dataset's native one."""
    if image_size is None:
        if native_size is None:
            raise ConvzooError(f"dataset {name!r} has no native image size; give one (--image-size)")
        return native_size
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConvzooError(f"image size must be a positive integer, not {image_size!r}")
    return image_size


def holdout_split(labels: np.ndarray, fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a fixed, stratified split of ``labels`` into kept and held-out parts.

    The held-out part has ``ceil(fraction * len(labels))`` items, every class in it in the
    proportion it has in ``labels``.
    """
    from sklearn.model_selection import train_test_split  # scikit-learn is slow to import

    indices = np.arange(len(labels))
    try:
        kept, held_out = train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    except ValueError as error:  # too few images for a stratified split
        raise ConvzooError(f"cannot split {len(labels)} images into stratified train and validation sets: {error}") from None
    return np.sort(kept), np.sort(held_out)


def convert_channels(images: torch.Tensor, in_chans: int) -> torch.Tensor:
    """``(N, C, H, W)`` images in [0, 1] with ``in_chans`` channels.

    Gray images are repeated for a 3-channel model; RGB images become their luminance
    (``0.299 R + 0.587 G + 0.114 B``) for a 1-channel model.
    """
    channels = images.shape[1]
    if channels == in_chans:
        return images
    if channels == 1 and in_chans == 3:
        return images.expand(-1, 3, -1, -1)
    if channels == 3 and in_chans == 1:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)
    raise ConvzooError(f"cannot convert {channels}-channel images for a model with in_chans={in_chans}")


def _float_images(images: torch.Tensor, in_chans: int, size: int) -> torch.Tensor:
    """``uint8`` images ``(N, C, H, W)`` as float32 in [0, 1], ``(N, in_chans, size, size)``.

    Resizing is bilinear, antialiased when shrinking. Works through the images a chunk at
    a time so the peak memory stays near the size of the result.
    """
    count, channels, height, width = images.shape
    out = torch.empty(count, in_chans, size, size, dtype=torch.float32)
    for start in range(0, count, _CHUNK):
        chunk = images[start:start + _CHUNK].float().div_(255.0)  # (n, C, H, W)
        if in_chans < channels:  # fewer pixels to resize after the conversion
            chunk = convert_channels(chunk, in_chans)
        if (height, width) != (size, size):
            shrink = size < height or size < width
            chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
            chunk = chunk.clamp_(0.0, 1.0)
        out[start:start + _CHUNK] = convert_channels(chunk, in_chans)  # (n, in_chans, size, size)
    return out


def _check_memory(name: str, count: int, in_chans: int, size: int, native_size: int) -> None:
    """Refuse a resize that would not fit in memory, rather than be killed for it."""
    needed = count * in_chans * size * size * 4
    try:
        available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return
    if needed > 0.75 * available:
        raise ConvzooError(
            f"dataset {name!r} at {size}x{size} needs {needed / 2**30:.1f} GiB of memory as float32 "
            f"({available / 2**30:.1f} GiB here); use a smaller image size (its native size is {native_size})"
        )


def in_memory_splits(
    name: str,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    class_names: Sequence[str],
    image_size: int | None,
    in_chans: int,
    augment: Callable[[list[float], list[float], int], Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> ImageSplits:
    """An :class:`ImageSplits` of normalised float32 ``TensorDataset`` s.

    Args:
        name: dataset name as the command line spells it.
        train_images, test_images: the official splits, ``uint8`` ``(N, C, S, S)``.
        train_labels, test_labels: ``int64`` ``(N,)``.
        class_names: label ``i`` is ``class_names[i]``.
        image_size: side of the images given to the model; ``None`` keeps the native side.
        in_chans: channel count of the model (1 or 3).
        augment: builds the batched training augmentation from the normalisation's mean
            and std and the image size; ``None`` for none.
    """
    check_in_chans(in_chans, name)
    native_size = train_images.shape[-1]
    size = check_image_size(image_size, name, native_size)
    _check_memory(name, len(train_images) + len(test_images), in_chans, size, native_size)

    kept, held_out = holdout_split(train_labels.numpy())
    train = _float_images(train_images[kept], in_chans, size)  # (N, in_chans, size, size)
    val = _float_images(train_images[held_out], in_chans, size)
    test = _float_images(test_images, in_chans, size)

    # Normalisation statistics come from the training split alone, per channel.
    mean = train.mean(dim=(0, 2, 3))
    std = train.std(dim=(0, 2, 3)).clamp_min(1e-6)
    for images in (train, val, test):
        images.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    mean_list, std_list = mean.tolist(), std.tolist()
    return ImageSplits(
        name=name,
        train=TensorDataset(train, train_labels[kept]),
        val=TensorDataset(val, train_labels[held_out]),
        test=TensorDataset(test, test_labels),
        class_names=list(class_names),
        mean=mean_list,
        std=std_list,
        augment=augment(mean_list, std_list, size) if augment is not None else None,
        native_size=native_size,
    )
