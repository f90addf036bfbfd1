"""The classification datasets by name: :func:`load_dataset` and the loaders of :data:`DATASETS`."""

from __future__ import annotations

import os
from typing import Callable

from convzoo.data.cifar import load_cifar10, load_cifar100
from convzoo.data.digits import load_digits_splits
from convzoo.data.folder import load_image_folder
from convzoo.data.mnist import load_fashion_mnist, load_mnist
from convzoo.data.names import AUGMENTATIONS, IMAGE_DATASETS
from convzoo.data.splits import ImageSplits, check_image_size, check_in_chans
from convzoo.errors import ConvzooError

__all__ = ["DATASETS", "NATIVE_SIZES", "load_dataset"]


def _load_digits(
    *,
    image_size: int | None,
    in_chans: int,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """The bundled digits (``data_dir`` and ``download`` do not apply); 8x8 is too small to
    be a useful native size, so ``image_size`` is required."""
    check_in_chans(in_chans, "digits")
    size = check_image_size(image_size, "digits", None)
    return load_digits_splits(image_size=size, in_chans=in_chans, augment=augment)


# The loader of each of names.IMAGE_DATASETS.
DATASETS: dict[str, Callable[..., ImageSplits]] = dict(zip(IMAGE_DATASETS, (
    _load_digits, load_mnist, load_fashion_mnist, load_cifar10, load_cifar100, load_image_folder,
), strict=True))

# The side of each dataset's own images, known before loading; absent where there is no
# usable one (digits, folder), which then need an image size.
NATIVE_SIZES: dict[str, int] = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32, "cifar100": 32}


def load_dataset(
    name: str,
    *,
    image_size: int | None = None,
    in_chans: int,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """Load dataset ``name`` at the model's input size and channel count.

    Args:
        name: one of :data:`DATASETS`.
        image_size: side of the square images given to the model; ``None`` keeps the
            dataset's native size (``digits`` and ``folder`` have none and need one).
        in_chans: the model's channel count, 1 or 3: gray images are repeated for a
            3-channel model, colour images become their luminance for a 1-channel one.
        augment: the training augmentation: the dataset's ``"standard"`` recipe or ``"none"``.
        data_dir: the folder that holds the dataset's files (not used by ``digits``).
        download: fetch missing files of MNIST, Fashion-MNIST or CIFAR (needs internet).
    """
    if name not in DATASETS:
        raise ConvzooError(f"unknown dataset {name!r}; available: {', '.join(sorted(DATASETS))}")
    if augment not in AUGMENTATIONS:
        raise ConvzooError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    return DATASETS[name](image_size=image_size, in_chans=in_chans, augment=augment, data_dir=data_dir, download=download)
