"""Datasets: bundled ones that run offline, and loaders for the real ones.

:func:`load_dataset` gives any of them by the name the command line uses.
"""

from __future__ import annotations

from typing import Callable

from convzoo.data.digits import load_digits_splits
from convzoo.data.splits import ImageSplits
from convzoo.errors import ConvzooError

__all__ = ["AUGMENTATIONS", "DATASETS", "ImageSplits", "load_dataset"]

DATASETS: dict[str, Callable[..., ImageSplits]] = {
    "digits": load_digits_splits,
}


AUGMENTATIONS = ("standard", "none")


def load_dataset(name: str, *, image_size: int, in_chans: int, augment: str = "standard") -> ImageSplits:
    """Load dataset ``name`` at the model's input size and channel count.

    ``augment`` picks the training augmentation: the dataset's ``"standard"`` recipe or
    ``"none"``.
    """
    if name not in DATASETS:
        raise ConvzooError(f"unknown dataset {name!r}; available: {', '.join(sorted(DATASETS))}")
    if augment not in AUGMENTATIONS:
        raise ConvzooError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    return DATASETS[name](image_size=image_size, in_chans=in_chans, augment=augment)
