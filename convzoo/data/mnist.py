"""MNIST and Fashion-MNIST, read from their idx files.

MNIST: handwritten digits, 60,000 training and 10,000 test images, 28x28 gray (LeCun et
al., "Gradient-based learning applied to document recognition", Proc. IEEE 1998).
Fashion-MNIST: Zalando's article photos in the same format and sizes (Xiao et al., 2017,
https://arxiv.org/abs/1708.07747).

Files: the four idx files, each possibly gzipped (``.gz``), either directly in the data
directory, as LeCun's and Zalando's downloads unpack and Debian's ``dataset-fashion-mnist``
installs them, or where torchvision lays them out under it::

    train-images-idx3-ubyte   train-labels-idx1-ubyte      directly in the data directory, or
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte       in MNIST/raw/ (FashionMNIST/raw/)

An idx file is a big-endian header (two zero bytes, a type byte, ``0x08`` for unsigned
bytes, the number of dimensions, then one 4-byte size per dimension) followed by the
values: magic ``0x00000803`` for the ``(N, 28, 28)`` images, ``0x00000801`` for the
``(N,)`` labels. We read it ourselves, with numpy, to check the header and the size and
to name the file when they are wrong; torchvision is used only to download.

Without a data directory, ``fashion-mnist`` is read where Debian's ``dataset-fashion-mnist``
package installs its four ``.gz`` files (:data:`SYSTEM_FOLDERS`, ``/usr/share/datasets/fashion-mnist``;
``apt-get install dataset-fashion-mnist``), when that folder holds them.

Splits: the official test set is the test split; a fixed, stratified 10% of the
official training set (6,000 images) is the validation split, the remaining 54,000 train.
Normalisation uses the training split's mean and std (about 0.1307 and 0.3081 for MNIST,
0.2860 and 0.3530 for Fashion-MNIST). No standard augmentation: the usual MNIST recipes
train on the plain images (and flips would change the digits).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from convzoo.data.splits import ImageSplits, check_in_chans, in_memory_splits
from convzoo.errors import ConvzooError

__all__ = ["FASHION_CLASSES", "MNIST_CLASSES", "SYSTEM_FOLDERS", "load_fashion_mnist", "load_mnist", "read_idx"]

MNIST_CLASSES = [str(digit) for digit in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Folders where a system package installs a dataset's idx files, used when no data directory is given.
SYSTEM_FOLDERS: dict[str, tuple[Path, str]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"), "apt-get install dataset-fashion-mnist"),
}


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """The unsigned-byte array of ``ndim`` dimensions stored in idx file ``path`` (or its gzip)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                data = file.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ConvzooError(f"cannot read idx file {path}: {error}") from None
    if len(data) < 4 + 4 * ndim:
        raise ConvzooError(f"idx file {path} is truncated: {len(data)} bytes, shorter than its header")
    magic = int.from_bytes(data[:4], "big")
    expected = 0x800 + ndim  # unsigned bytes, ndim dimensions
    if magic != expected:
        raise ConvzooError(f"{path} is not an idx file of {ndim}-d unsigned bytes: magic {magic:#010x}, expected {expected:#010x}")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    header = 4 + 4 * ndim
    if len(data) != header + int(np.prod(shape)):
        raise ConvzooError(
            f"idx file {path} is truncated or corrupt: its header promises {'x'.join(map(str, shape))} values "
            f"({header + int(np.prod(shape))} bytes), the file has {len(data)} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find(raw: Path, filename: str) -> Path | None:
    for candidate in (raw / filename, raw / f"{filename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(folder: str, data_dir: Path) -> None:
    import torchvision.datasets  # slow to import; only needed here

    dataset_class = getattr(torchvision.datasets, folder)
    try:
        dataset_class(str(data_dir), train=True, download=True)
    except Exception as error:  # network errors come in many types
        raise ConvzooError(f"cannot download {folder} to {data_dir}: {error}") from None


def _files_folder(data_dir: Path, folder: str) -> Path | None:
    """The folder holding the training images: ``data_dir``, else torchvision's ``data_dir/folder/raw``; or None."""
    for candidate in (data_dir, data_dir / folder / "raw"):
        if _find(candidate, _FILES["train"][0]):
            return candidate
    return None


def _system_folder(name: str, folder: str) -> Path:
    """The folder where a system package installed ``name``'s idx files, or a line saying how to get them."""
    hint = (f"dataset {name!r} is read from files; give the folder that holds its idx files, "
            f"directly or in {folder}/raw (--data-dir)")
    if name not in SYSTEM_FOLDERS:
        raise ConvzooError(hint)
    system, install = SYSTEM_FOLDERS[name]
    if _files_folder(system, folder) is None:
        raise ConvzooError(f"{hint}, or install them in {system} with {install}")
    return system


def _read_split(raw: Path, split: str, title: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    image_name, label_name = _FILES[split]
    paths = []
    for filename in (image_name, label_name):
        path = _find(raw, filename)
        if path is None:
            raise ConvzooError(
                f"{title} file {filename} (or {filename}.gz) not found in {raw}; put the {title} idx files "
                f"there, or pass --download to fetch them (needs an internet connection)"
            )
        paths.append(path)
    images = read_idx(paths[0], 3)  # (N, H, W)
    labels = read_idx(paths[1], 1)  # (N,)
    if images.shape[1] != images.shape[2]:
        raise ConvzooError(f"{paths[0]} holds {images.shape[1]}x{images.shape[2]} images; expected square ones")
    if len(images) != len(labels):
        raise ConvzooError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels")
    if len(labels) and labels.max() >= num_classes:
        raise ConvzooError(f"{paths[1]} has label {labels.max()}; {title} has {num_classes} classes")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))  # (N, 1, H, W), (N,)


def _load(
    name: str,
    folder: str,
    title: str,
    class_names: list[str],
    *,
    image_size: int | None,
    in_chans: int,
    data_dir: str | os.PathLike | None,
    download: bool,
) -> ImageSplits:
    check_in_chans(in_chans, name)
    if data_dir is None:
        data_dir = _system_folder(name, folder)
    data_dir = Path(data_dir)
    raw = _files_folder(data_dir, folder)
    if download and (raw is None or not all(_find(raw, f) for pair in _FILES.values() for f in pair)):
        _download(folder, data_dir)
        raw = data_dir / folder / "raw"
    if raw is None:
        first = _FILES["train"][0]
        raise ConvzooError(
            f"{title} file {first} (or {first}.gz) not found in {data_dir} or {data_dir / folder / 'raw'}; put the "
            f"four {title} idx files in one of them, or pass --download to fetch them (needs an internet connection)"
        )
    train_images, train_labels = _read_split(raw, "train", title, len(class_names))
    test_images, test_labels = _read_split(raw, "test", title, len(class_names))
    if train_images.shape[-1] != test_images.shape[-1]:
        raise ConvzooError(f"{title} train and test images in {raw} differ in size")
    return in_memory_splits(
        name, train_images, train_labels, test_images, test_labels,
        class_names=class_names, image_size=image_size, in_chans=in_chans,
    )


def load_mnist(
    *,
    image_size: int | None = None,
    in_chans: int = 1,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """MNIST from ``data_dir`` or ``data_dir/MNIST/raw`` as normalised ``(N, in_chans, S, S)`` tensors.

    ``image_size`` ``None`` keeps the native 28x28. ``augment`` is accepted for a uniform
    interface; MNIST has no standard augmentation.
    """
    return _load("mnist", "MNIST", "MNIST", MNIST_CLASSES,
                 image_size=image_size, in_chans=in_chans, data_dir=data_dir, download=download)


def load_fashion_mnist(
    *,
    image_size: int | None = None,
    in_chans: int = 1,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """Fashion-MNIST from ``data_dir`` or ``data_dir/FashionMNIST/raw`` as normalised ``(N, in_chans, S, S)`` tensors.

    ``image_size`` ``None`` keeps the native 28x28. No standard augmentation.
    """
    return _load("fashion-mnist", "FashionMNIST", "Fashion-MNIST", FASHION_CLASSES,
                 image_size=image_size, in_chans=in_chans, data_dir=data_dir, download=download)
