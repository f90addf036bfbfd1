"""Pascal VOC 2012 segmentation, read from its standard files.

Paper: The PASCAL Visual Object Classes Challenge: A Retrospective (Everingham et al.,
IJCV 2015) http://host.robots.ox.ac.uk/pascal/VOC/voc2012/

Layout under ``--data-dir`` (``VOC2012/``, ``VOCdevkit/VOC2012/`` or the folder itself)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png           palette ('P') PNGs: the palette index is the class,
                                         0 background, 1-20 the objects, 255 the object
                                         borders and unsure pixels (ignored)
    ImageSets/Segmentation/train.txt     one id a line (1,464)
    ImageSets/Segmentation/val.txt       (1,449)

VOC publishes no labels for its test images, so the labelled ``val`` list is both the
validation and the test split (``data.test is data.val``), as the FCN and DeepLab papers
report VOC 2012 val. Images are brought to ``image_size`` (default 256: VOC's images
differ in size) by resizing the shorter side and cropping the centre; the mask by nearest
neighbour.
"""

from __future__ import annotations

import os
from pathlib import Path

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import SegmentationData, require_data_dir, resolve_in_chans
from convzoo.data.segmentation.pairs import FilePairs, MaskCoding, PairReader, check_pairs, common_side
from convzoo.errors import ConvzooError

__all__ = ["VOC_CLASSES", "VOC_DEFAULT_SIDE", "find_voc_root", "load_voc"]

VOC_CLASSES = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]
VOC_DEFAULT_SIDE = 256
_LAYOUT = "VOC2012/ (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/{train,val}.txt)"


def find_voc_root(data_dir: Path) -> Path:
    """The folder holding ``JPEGImages/`` and ``SegmentationClass/``."""
    for root in (data_dir, data_dir / "VOC2012", data_dir / "VOCdevkit" / "VOC2012"):
        if (root / "JPEGImages").is_dir() and (root / "SegmentationClass").is_dir():
            return root
    raise ConvzooError(f"{data_dir} holds no Pascal VOC 2012 layout; expected {_LAYOUT} in it or in VOCdevkit/")


def _split_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not listing.is_file():
        raise ConvzooError(f"VOC split list {listing} does not exist")
    names = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
    if not names:
        raise ConvzooError(f"VOC split list {listing} lists no images")
    pairs = []
    for name in names:
        image, mask = root / "JPEGImages" / f"{name}.jpg", root / "SegmentationClass" / f"{name}.png"
        for path in (image, mask):
            if not path.is_file():
                raise ConvzooError(f"{listing} lists {name!r} but {path} does not exist")
        pairs.append((image, mask))
    return pairs


def load_voc(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """Pascal VOC 2012's train list for training, its val list for validation and test."""
    root = find_voc_root(require_data_dir(data_dir, "voc", _LAYOUT))
    channels = resolve_in_chans(in_chans, 3, "voc")
    train_pairs, val_pairs = _split_pairs(root, "train"), _split_pairs(root, "val")
    side = common_side(check_pairs(train_pairs + val_pairs), image_size, VOC_DEFAULT_SIDE)
    reader = PairReader(MaskCoding(len(VOC_CLASSES)), channels, side)
    val = FilePairs(val_pairs, reader)
    train = FilePairs(train_pairs, reader, JointAugment() if augment else None)
    return SegmentationData(train, val, val, class_names=list(VOC_CLASSES), in_chans=channels)
