"""CIFAR-10 and CIFAR-100, read from the "python version" of the official archives.

Krizhevsky, "Learning Multiple Layers of Features from Tiny Images" (tech. report, 2009),
https://www.cs.toronto.edu/~kriz/cifar.html. 50,000 training and 10,000 test images,
32x32 RGB; 10 classes, or 100 ("fine" labels; the 20 coarse superclasses are not used).

Files, as the archives extract under the data directory::

    cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta
    cifar-100-python/train, test, meta

Each is a pickled dict (written by Python 2): ``data`` a ``(N, 3072)`` uint8 array whose
rows hold the red, then green, then blue 32x32 plane in row-major order; ``labels`` (or
``fine_labels``) a list of ints; the meta file's ``label_names`` (``fine_label_names``).
A pickle can run any code while it loads, so we never ``pickle.load`` one: a restricted
unpickler builds numpy arrays and nothing else, and refuses a file that asks for more.
(torchvision's CIFAR10 would also check the files' md5 sums; we use it only to download.)

Splits: the official test set is the test split; a fixed, stratified 10% of the
official training set (5,000 images: 500 per class for CIFAR-10, 50 for CIFAR-100) is the
validation split, the remaining 45,000 train. Normalisation uses the training split's
per-channel mean and std (about (0.491, 0.482, 0.447) and (0.247, 0.243, 0.262) for
CIFAR-10, (0.507, 0.487, 0.441) and (0.267, 0.256, 0.276) for CIFAR-100).

Standard augmentation, as in the ResNet paper's CIFAR experiments (He et al., CVPR 2016,
Sec. 4.2): pad 4 black pixels on each side, take a random 32x32 crop, flip left-right
with probability 0.5; batched, on the device. At another image size the padding scales
with it (an eighth of the side).
"""

from __future__ import annotations

import codecs
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convzoo.data.augment import Compose, RandomCrop, RandomHorizontalFlip
from convzoo.data.splits import ImageSplits, check_in_chans, in_memory_splits
from convzoo.errors import ConvzooError

__all__ = ["CIFAR10", "CIFAR100", "CifarLayout", "cifar_augment", "load_cifar10", "load_cifar100", "read_cifar_pickle"]

NATIVE_SIZE = 32


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its files and what their keys are."""

    name: str
    title: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    torchvision_class: str  # whose url, filename and md5 the download uses


CIFAR10 = CifarLayout(
    name="cifar10", title="CIFAR-10", folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
    meta_file="batches.meta", label_key="labels", names_key="label_names", num_classes=10,
    torchvision_class="CIFAR10",
)
CIFAR100 = CifarLayout(
    name="cifar100", title="CIFAR-100", folder="cifar-100-python",
    train_files=("train",), test_files=("test",),
    meta_file="meta", label_key="fine_labels", names_key="fine_label_names", num_classes=100,
    torchvision_class="CIFAR100",
)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only callables a CIFAR pickle may name: numpy's array and dtype reconstruction."""
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # how protocol 2 stores bytes written by Python 3
    }
    for package in ("numpy.core", "numpy._core"):  # as written by numpy 1.x and 2.x
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct  # protocols 0-4
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds plain containers and numpy arrays, and refuses any other object."""

    def __init__(self, file, path: Path) -> None:
        # latin1 turns Python 2 byte strings into str, as numpy needs for array data.
        super().__init__(file, encoding="latin1")
        self.path = path
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise ConvzooError(
                f"refusing to load {self.path}: its pickle asks for {module}.{name}, and a CIFAR file "
                f"holds only numpy arrays (loading it could run code)"
            ) from None


def read_cifar_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The dict pickled in CIFAR file ``path``, its keys as ``str``; only numpy arrays are built."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            content = _ArrayUnpickler(file, path).load()
    except ConvzooError:
        raise
    except OSError as error:
        raise ConvzooError(f"cannot read CIFAR file {path}: {error.strerror or error}") from None
    except Exception as error:  # a truncated or corrupt pickle fails in many ways
        raise ConvzooError(f"CIFAR file {path} is truncated or corrupt: {type(error).__name__}: {error}") from None
    if not isinstance(content, dict):
        raise ConvzooError(f"CIFAR file {path} holds a {type(content).__name__}, not a dict")
    return {_text(key): value for key, value in content.items()}


def _text(value: Any) -> Any:
    """Keys and names are bytes when written by Python 3 and str when read with latin1."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def _read_batch(path: Path, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    batch = read_cifar_pickle(path)
    data, labels = batch.get("data"), batch.get(layout.label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * NATIVE_SIZE**2:
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ConvzooError(f"CIFAR file {path}: 'data' should be a uint8 array of shape (N, 3072), found {found}")
    labels = np.asarray(labels) if isinstance(labels, (list, tuple, np.ndarray)) else None
    if labels is None or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(data):
        raise ConvzooError(f"CIFAR file {path}: {layout.label_key!r} should be a list of {len(data)} integer labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise ConvzooError(f"CIFAR file {path} has label {labels.max()}; {layout.title} has {layout.num_classes} classes")
    return data, labels.astype(np.int64)


def _read_split(folder: Path, files: tuple[str, ...], layout: CifarLayout) -> tuple[torch.Tensor, torch.Tensor]:
    batches = [_read_batch(folder / filename, layout) for filename in files]
    data = np.concatenate([data for data, _ in batches])  # (N, 3072), a writable copy
    labels = np.concatenate([labels for _, labels in batches])
    images = torch.from_numpy(data).view(-1, 3, NATIVE_SIZE, NATIVE_SIZE)  # rows are R, G, B planes
    return images, torch.from_numpy(labels)


def _read_class_names(path: Path, layout: CifarLayout) -> list[str]:
    names = read_cifar_pickle(path).get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.num_classes or not all(isinstance(n, (str, bytes)) for n in names):
        raise ConvzooError(f"CIFAR file {path}: {layout.names_key!r} should be a list of {layout.num_classes} names")
    return [_text(name) for name in names]


def _download(layout: CifarLayout, data_dir: Path) -> None:
    import torchvision.datasets  # slow to import; only needed here
    from torchvision.datasets.utils import download_and_extract_archive

    source = getattr(torchvision.datasets, layout.torchvision_class)
    try:
        download_and_extract_archive(source.url, str(data_dir), filename=source.filename, md5=source.tgz_md5)
    except Exception as error:  # network errors come in many types
        raise ConvzooError(f"cannot download {layout.title} to {data_dir}: {error}") from None


def cifar_augment(mean: list[float], std: list[float], image_size: int) -> Compose:
    """The standard CIFAR augmentation: padded random crop (black fill) and horizontal flip."""
    black = [-m / s for m, s in zip(mean, std)]  # pixel value 0 after normalisation
    padding = max(1, round(image_size * 4 / NATIVE_SIZE))
    return Compose([RandomCrop(padding, fill=black), RandomHorizontalFlip()])


def _load(
    layout: CifarLayout,
    *,
    image_size: int | None,
    in_chans: int,
    augment: str,
    data_dir: str | os.PathLike | None,
    download: bool,
) -> ImageSplits:
    check_in_chans(in_chans, layout.name)
    if data_dir is None:
        raise ConvzooError(f"dataset {layout.name!r} is read from files; give the folder that holds {layout.folder} (--data-dir)")
    data_dir = Path(data_dir)
    folder = data_dir / layout.folder
    files = (*layout.train_files, *layout.test_files, layout.meta_file)
    missing = [filename for filename in files if not (folder / filename).is_file()]
    if missing and download:
        _download(layout, data_dir)
        missing = [filename for filename in files if not (folder / filename).is_file()]
    if missing:
        also = f" (missing: {', '.join(missing)})" if len(missing) > 1 else ""
        raise ConvzooError(
            f"{layout.title} file {missing[0]} not found in {folder}{also}; extract the python version "
            f"of the archive from https://www.cs.toronto.edu/~kriz/cifar.html into {data_dir}, "
            f"or pass --download to fetch it (needs an internet connection)"
        )
    class_names = _read_class_names(folder / layout.meta_file, layout)
    train_images, train_labels = _read_split(folder, layout.train_files, layout)
    test_images, test_labels = _read_split(folder, layout.test_files, layout)
    return in_memory_splits(
        layout.name, train_images, train_labels, test_images, test_labels,
        class_names=class_names, image_size=image_size, in_chans=in_chans,
        augment=cifar_augment if augment == "standard" else None,
    )


def load_cifar10(
    *,
    image_size: int | None = None,
    in_chans: int = 3,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """CIFAR-10 from ``data_dir/cifar-10-batches-py`` as normalised ``(N, in_chans, S, S)`` tensors.

    ``image_size`` ``None`` keeps the native 32x32; ``augment`` is ``"standard"`` (padded
    crop and flip) or ``"none"``.
    """
    return _load(CIFAR10, image_size=image_size, in_chans=in_chans, augment=augment, data_dir=data_dir, download=download)


def load_cifar100(
    *,
    image_size: int | None = None,
    in_chans: int = 3,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """CIFAR-100 (fine labels) from ``data_dir/cifar-100-python`` as normalised ``(N, in_chans, S, S)`` tensors.

    ``image_size`` ``None`` keeps the native 32x32; ``augment`` is ``"standard"`` (padded
    crop and flip) or ``"none"``.
    """
    return _load(CIFAR100, image_size=image_size, in_chans=in_chans, augment=augment, data_dir=data_dir, download=download)
