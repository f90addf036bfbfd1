"""Your own images and masks: a folder of images beside a folder of masks.

Layout under ``--data-dir``::

    images/<name>.<ext>        any image PIL reads (jpg, png, tif, ...)
    masks/<name>.png           the same stem; pixel values are the classes (a palette
                               PNG's indices, or gray levels), 255 = ignore
    classes.txt                optional: one class name a line, line i names value i

or, with fixed splits, ``images/{train,val,test}/`` beside ``masks/{train,val,test}/``
(``test`` optional: without it the validation pairs are the test split too). Without
split folders the pairs are split by a fixed permutation: 15% validation, 15% test.

Without ``classes.txt`` every mask is read once to find the largest class value ``v``,
and the classes are named ``class_0 .. class_v`` (``class_0`` the background). Items are
brought to ``image_size`` (shorter side resized, centre cropped; masks by nearest
neighbour); ``None`` keeps the images' size where they all share one, else 256.
"""

from __future__ import annotations

import os
from pathlib import Path

from convzoo.data.images import IMAGE_SUFFIXES
from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import (
    IGNORE_INDEX,
    SegmentationData,
    fixed_split,
    require_data_dir,
    resolve_in_chans,
)
from convzoo.data.segmentation.pairs import (
    FilePairs,
    MaskCoding,
    PairReader,
    check_pairs,
    common_side,
    read_mask_values,
)
from convzoo.errors import ConvzooError

__all__ = ["FOLDER_DEFAULT_SIDE", "load_mask_folder"]

FOLDER_DEFAULT_SIDE = 256
_LAYOUT = "images/ and masks/ (optionally with train/, val/, test/ in each) and an optional classes.txt"


def _pairs(images: Path, masks: Path) -> list[tuple[Path, Path]]:
    """Every image in ``images`` with the mask of the same stem in ``masks``, sorted by name."""
    if not masks.is_dir():
        raise ConvzooError(f"mask folder {masks} does not exist (expected beside {images})")
    files = sorted(
        p for p in images.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ConvzooError(f"image folder {images} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    by_stem = {p.stem: p for p in masks.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for image in files:
        if image.stem not in by_stem:
            raise ConvzooError(f"image {image} has no mask; expected {masks / (image.stem + '.png')}")
        pairs.append((image, by_stem[image.stem]))
    return pairs


def _splits(root: Path) -> dict[str, list[tuple[Path, Path]]]:
    images, masks = root / "images", root / "masks"
    if not images.is_dir():
        raise ConvzooError(f"data folder {root} has no images/ folder; expected {_LAYOUT}")
    if (images / "train").is_dir():
        splits = {split: _pairs(images / split, masks / split) for split in ("train", "val")}
        splits["test"] = _pairs(images / "test", masks / "test") if (images / "test").is_dir() else splits["val"]
        return splits
    pairs = _pairs(images, masks)
    train, val, test = fixed_split(len(pairs), f"image folder {images}")
    return {"train": [pairs[i] for i in train], "val": [pairs[i] for i in val], "test": [pairs[i] for i in test]}


def _class_names(root: Path, pairs: list[tuple[Path, Path]]) -> list[str]:
    listing = root / "classes.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if len(names) < 2:
            raise ConvzooError(f"{listing} names {len(names)} class(es); expected one a line, at least 2")
        return names
    largest = 0
    for _, mask in pairs:
        values = read_mask_values(mask)
        values = values[values != IGNORE_INDEX]
        largest = max(largest, int(values.max()) if values.size else 0)
    return [f"class_{value}" for value in range(max(largest, 1) + 1)]


def load_mask_folder(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """The pairs under ``data_dir/images/`` and ``data_dir/masks/``, split by folder or by a fixed permutation."""
    root = require_data_dir(data_dir, "folder", _LAYOUT)
    channels = resolve_in_chans(in_chans, 3, "folder")
    splits = _splits(root)
    every_pair = list(dict.fromkeys(splits["train"] + splits["val"] + splits["test"]))
    side = common_side(check_pairs(every_pair), image_size, FOLDER_DEFAULT_SIDE)
    class_names = _class_names(root, every_pair)
    if len(class_names) > IGNORE_INDEX:
        raise ConvzooError(
            f"{len(class_names)} classes in {root}; at most {IGNORE_INDEX} ({IGNORE_INDEX} is the ignore value)"
        )
    reader = PairReader(MaskCoding(len(class_names)), channels, side)
    val = FilePairs(splits["val"], reader)
    test = val if splits["test"] is splits["val"] else FilePairs(splits["test"], reader)
    train = FilePairs(splits["train"], reader, JointAugment() if augment else None)
    return SegmentationData(train, val, test, class_names=class_names, in_chans=channels)
