"""scikit-learn's bundled handwritten digits: the offline default dataset.

1,797 grayscale 8x8 images of the digits 0-9 (the UCI optical recognition set), which
scikit-learn ships inside its package, so training runs with no download. Pixels are ink
intensities 0-16; we scale them to [0, 1] so a digit is bright ink on a dark background,
as in MNIST, and resize them once to the model's input size.

The train/val/test split is stratified and fixed (its seed is not the training seed), so
every run and every model is scored on the same 360 test images.

The standard augmentation is a small random affine warp (rotation up to 10 degrees, shift
up to 10% of the side, zoom up to 10%): with so few images LeNet-5 overfits without it
and stops near 96.5-97.5% test accuracy; with it, it reaches 98-99% (seeds 0-3, 20
epochs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from convzoo.data.augment import RandomAffine
from convzoo.data.splits import ImageSplits

__all__ = ["load_digits_splits", "split_indices"]

SPLIT_SEED = 0
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
CLASS_NAMES = [str(digit) for digit in range(10)]


def split_indices(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the fixed, stratified train, validation and test splits."""
    from sklearn.model_selection import train_test_split  # scikit-learn is slow to import

    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    val_size = VAL_FRACTION / (1 - TEST_FRACTION)
    train, val = train_test_split(rest, test_size=val_size, stratify=labels[rest], random_state=SPLIT_SEED)
    return train, val, test


def load_digits_splits(image_size: int = 32, in_chans: int = 1, augment: str = "standard") -> ImageSplits:
    """The digits as normalised tensors of shape ``(N, in_chans, image_size, image_size)``.

    Normalisation uses the training split's mean and standard deviation; a model that
    wants three channels gets the gray image repeated. ``augment`` is ``"standard"`` or
    ``"none"``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = images.clamp_(0.0, 1.0).repeat(1, in_chans, 1, 1)  # (N, C, S, S)
    labels = torch.from_numpy(digits.target).long()
    train, val, test = split_indices(digits.target)
    mean = images[train].mean().item()
    std = images[train].std().item()
    images = (images - mean) / std
    return ImageSplits(
        name="digits",
        train=TensorDataset(images[train], labels[train]),
        val=TensorDataset(images[val], labels[val]),
        test=TensorDataset(images[test], labels[test]),
        class_names=CLASS_NAMES,
        mean=[mean] * in_chans,
        std=[std] * in_chans,
        augment=RandomAffine(degrees=10, translate=0.1, scale=0.1, fill=-mean / std) if augment == "standard" else None,
    )
