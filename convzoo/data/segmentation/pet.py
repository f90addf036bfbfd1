"""The Oxford-IIIT Pet dataset's trimaps as a pet / background segmentation.

Paper: Cats and Dogs (Parkhi, Vedaldi, Zisserman, Jawahar, CVPR 2012)
https://www.robots.ox.ac.uk/~vgg/data/pets/

Layout under ``--data-dir``::

    images/<name>.jpg
    annotations/trimaps/<name>.png       1 pet, 2 background, 3 border (unsure)
    annotations/trainval.txt             "<name> <class id> <species> <breed id>" a line
    annotations/test.txt

Classes: 0 background (trimap 2), 1 pet (trimap 1); the border band (trimap 3) is
ignored (255), the common practice, since the annotators marked it as unsure. The
official test list is the test split; a fixed 10% of trainval validates.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import (
    IGNORE_INDEX,
    SPLIT_SEED,
    SegmentationData,
    require_data_dir,
    resolve_in_chans,
)
from convzoo.data.segmentation.pairs import FilePairs, MaskCoding, PairReader, check_pairs, common_side
from convzoo.errors import ConvzooError

__all__ = ["PET_CLASSES", "PET_DEFAULT_SIDE", "TRIMAP_CODING", "load_pet"]

PET_CLASSES = ["background", "pet"]
PET_DEFAULT_SIDE = 256
TRIMAP_CODING = MaskCoding(2, mapping={1: 1, 2: 0, 3: IGNORE_INDEX})
VAL_FRACTION = 0.1
_LAYOUT = "images/*.jpg and annotations/ (trimaps/*.png, trainval.txt, test.txt)"


def _listed_pairs(root: Path, listing: Path) -> list[tuple[Path, Path]]:
    if not listing.is_file():
        raise ConvzooError(f"Pet split list {listing} does not exist; expected {_LAYOUT} under {root}")
    names = [line.split()[0] for line in listing.read_text().splitlines() if line.strip() and not line.startswith("#")]
    if not names:
        raise ConvzooError(f"Pet split list {listing} lists no images")
    pairs = []
    for name in names:
        image, trimap = root / "images" / f"{name}.jpg", root / "annotations" / "trimaps" / f"{name}.png"
        for path in (image, trimap):
            if not path.is_file():
                raise ConvzooError(f"{listing} lists {name!r} but {path} does not exist")
        pairs.append((image, trimap))
    return pairs


def load_pet(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """Oxford-IIIT Pet: trainval (less a fixed 10% that validates) trains, the test list tests."""
    root = require_data_dir(data_dir, "pet", _LAYOUT)
    channels = resolve_in_chans(in_chans, 3, "pet")
    trainval = _listed_pairs(root, root / "annotations" / "trainval.txt")
    test_pairs = _listed_pairs(root, root / "annotations" / "test.txt")
    if len(trainval) < 2:
        raise ConvzooError(
            f"{root / 'annotations' / 'trainval.txt'} lists {len(trainval)} image(s); at least 2 are needed"
        )
    order = np.random.default_rng(SPLIT_SEED).permutation(len(trainval))
    held_out = set(order[: max(1, round(VAL_FRACTION * len(trainval)))].tolist())
    train_pairs = [pair for i, pair in enumerate(trainval) if i not in held_out]
    val_pairs = [pair for i, pair in enumerate(trainval) if i in held_out]
    side = common_side(check_pairs(trainval + test_pairs), image_size, PET_DEFAULT_SIDE)
    reader = PairReader(TRIMAP_CODING, channels, side)
    train = FilePairs(train_pairs, reader, JointAugment() if augment else None)
    return SegmentationData(
        train,
        FilePairs(val_pairs, reader),
        FilePairs(test_pairs, reader),
        class_names=list(PET_CLASSES),
        in_chans=channels,
    )
