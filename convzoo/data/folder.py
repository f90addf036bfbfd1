"""Your own images, one folder per class: for fine-tuning on a dataset of your own.

Layout under the data directory, as torchvision's ``ImageFolder`` reads it::

    train/<class>/<image>     the class names are train's subfolders, sorted
    val/<class>/<image>       the same classes
    test/<class>/<image>      optional; without it the validation images stand in for the
                              test split (``splits.test is splits.val``), and the run's
                              report says it scored ``val``

Images are any file PIL reads with a usual extension (jpg, jpeg, png, ppm, bmp, pgm, tif,
tiff, webp), also in nested folders; hidden files and folders are skipped. They stay on
disk and are decoded one at a time, so the dataset may be larger than memory and the
DataLoader's worker processes share the decoding.

Transforms, per image (torchvision's and timm's ImageNet recipe):

* training, ``augment="standard"``: ``RandomResizedCrop(image_size)`` (8-100% of the
  area, aspect ratio 3/4-4/3) and a random horizontal flip;
* evaluation and ``augment="none"``: resize the shorter side to ``image_size / 0.875``,
  then a centre crop of ``image_size`` (224 from 256);

then conversion to a tensor normalised with ImageNet's mean and std, the statistics the
ImageNet-pretrained weights were trained with (one-channel models: their average).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch.utils.data import Dataset

from convzoo.data.splits import ImageSplits, check_image_size, check_in_chans
from convzoo.errors import ConvzooError

__all__ = [
    "EVAL_CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "ImageFileDataset",
    "folder_transform",
    "load_image_folder",
    "read_image_file",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
EVAL_CROP_FRACTION = 0.875  # the centre crop keeps 224 of 256 pixels


def read_image_file(path: str | os.PathLike, mode: str) -> Image.Image:
    """Decode image ``path`` in PIL ``mode`` ("RGB" or "L"); a ConvzooError names a bad file."""
    try:
        with Image.open(path) as image:
            return image.convert(mode)  # decodes the whole file, so a truncated one fails here
    except FileNotFoundError:
        raise ConvzooError(f"image {path} does not exist") from None
    except Exception as error:  # PIL's decoders fail in many ways on a corrupt file
        raise ConvzooError(f"cannot read image {path}: {type(error).__name__}: {error}") from None


class ImageFileDataset(Dataset):
    """Images on disk with their labels, decoded and transformed when read.

    Picklable, so it works in DataLoader worker processes.

    Args:
        samples: ``(path, label)`` pairs.
        classes: label ``i`` is ``classes[i]``.
        transform: turns a PIL image into a tensor.
        mode: PIL mode the images are converted to: ``"RGB"`` or ``"L"``.
    """

    def __init__(
        self,
        samples: list[tuple[str, int]],
        classes: list[str],
        transform: Callable[[Image.Image], torch.Tensor],
        mode: str = "RGB",
    ) -> None:
        self.samples = samples
        self.classes = classes
        self.transform = transform
        self.mode = mode

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return self.transform(read_image_file(path, self.mode)), label


def folder_transform(
    image_size: int,
    *,
    train: bool,
    mean: list[float],
    std: list[float],
) -> Callable[[Image.Image], torch.Tensor]:
    """The per-image transform: random resized crop and flip when ``train``, else resize and centre crop."""
    from torchvision import transforms  # slow to import; only image folders need it

    if train:
        geometry = [transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip()]
    else:
        geometry = [transforms.Resize(int(image_size / EVAL_CROP_FRACTION)), transforms.CenterCrop(image_size)]
    return transforms.Compose([*geometry, transforms.ToTensor(), transforms.Normalize(mean, std)])


def _image_files(folder: Path) -> list[str]:
    """Image files under ``folder``, in sorted order, skipping hidden files and folders."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            os.path.join(root, name) for name in sorted(files)
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return found


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir() and not entry.name.startswith("."))


def _scan(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[str, int]]]:
    """The class names and ``(path, label)`` samples of one split folder.

    ``classes`` None takes them from the folder (train); otherwise the folder must have
    exactly these class subfolders.
    """
    found = _class_folders(split_dir)
    is_train = classes is None
    if classes is None:
        if not found:
            raise ConvzooError(f"{split_dir} has no class folders; expected {split_dir}/<class>/<image>")
        classes = found
    elif found != classes:
        missing = sorted(set(classes) - set(found))
        extra = sorted(set(found) - set(classes))
        details = "; ".join(part for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"extra {', '.join(extra)}" if extra else "",
        ) if part)
        raise ConvzooError(f"the class folders of {split_dir} differ from those of train: {details}")
    samples = []
    for label, name in enumerate(classes):
        files = _image_files(split_dir / name)
        if not files and is_train:  # every class must be learnable
            raise ConvzooError(f"class folder {split_dir / name} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        samples.extend((path, label) for path in files)
    if not samples:
        raise ConvzooError(f"{split_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return classes, samples


def load_image_folder(
    *,
    image_size: int | None = None,
    in_chans: int = 3,
    augment: str = "standard",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
) -> ImageSplits:
    """The images under ``data_dir/{train,val,test}/<class>/`` as datasets of files.

    Images come out as normalised ``(in_chans, image_size, image_size)`` tensors; an
    image folder has no native size, so ``image_size`` is required. ``augment`` is
    ``"standard"`` (random resized crop and flip for training) or ``"none"``. There is
    nothing to download: ``download`` is accepted for a uniform interface.
    """
    check_in_chans(in_chans, "folder")
    size = check_image_size(image_size, "folder", None)
    if data_dir is None:
        raise ConvzooError("dataset 'folder' reads your images; give the folder that holds train/ and val/ (--data-dir)")
    data_dir = Path(data_dir)
    for split in ("train", "val"):
        if not (data_dir / split).is_dir():
            raise ConvzooError(
                f"image folder {data_dir / split} not found; dataset 'folder' expects "
                f"{data_dir}/train/<class>/<image> and {data_dir}/val/<class>/<image> (test/ optional)"
            )
    classes, train_samples = _scan(data_dir / "train")
    _, val_samples = _scan(data_dir / "val", classes)
    test_dir = data_dir / "test"
    test_samples = _scan(test_dir, classes)[1] if test_dir.is_dir() else None

    mode = "RGB" if in_chans == 3 else "L"
    mean = list(IMAGENET_MEAN) if in_chans == 3 else [sum(IMAGENET_MEAN) / 3]
    std = list(IMAGENET_STD) if in_chans == 3 else [sum(IMAGENET_STD) / 3]
    train_transform = folder_transform(size, train=augment == "standard", mean=mean, std=std)
    eval_transform = folder_transform(size, train=False, mean=mean, std=std)
    val = ImageFileDataset(val_samples, classes, eval_transform, mode)
    return ImageSplits(
        name="folder",
        train=ImageFileDataset(train_samples, classes, train_transform, mode),
        val=val,
        test=ImageFileDataset(test_samples, classes, eval_transform, mode) if test_samples is not None else val,
        class_names=classes,
        mean=mean,
        std=std,
        augment=None,  # per image, in the training dataset's transform
        native_size=None,
        eval_crop_fraction=EVAL_CROP_FRACTION,
    )
