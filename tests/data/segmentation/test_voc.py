"""Pascal VOC 2012 read from files in its real layout: palette PNG masks, ImageSets lists, 255 ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.segmentation import load_segmentation_data
from convzoo.data.segmentation.voc import VOC_CLASSES
from convzoo.errors import ConvzooError

PALETTE = [value for index in range(256) for value in ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)]


def write_palette_png(path: Path, values: np.ndarray) -> None:
    image = Image.fromarray(values.astype(np.uint8), mode="P")
    image.putpalette(PALETTE)
    image.save(path)


def mask_values(height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    values = np.zeros((height, width), dtype=np.uint8)
    values[8:24, 10:30] = 1 + seed % 20  # an object
    values[7, 9:31] = 255  # its border: ignored
    return values


def write_voc(root: Path, train=("a", "b"), val=("c",), size=(40, 48)) -> Path:
    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for seed, name in enumerate(train + val):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(base / "JPEGImages" / f"{name}.jpg")
        write_palette_png(base / "SegmentationClass" / f"{name}.png", mask_values(*size, seed=seed))
    (base / "ImageSets/Segmentation/train.txt").write_text("\n".join(train) + "\n")
    (base / "ImageSets/Segmentation/val.txt").write_text("\n".join(val) + "\n")
    return base


def test_reads_the_standard_layout(tmp_path):
    write_voc(tmp_path)
    data = load_segmentation_data("voc", tmp_path, augment=False)
    assert data.class_names == VOC_CLASSES and len(data.class_names) == 21 and data.in_chans == 3
    assert (len(data.train), len(data.val)) == (2, 1) and data.test is data.val
    image, mask = data.train[1]
    assert image.shape == (3, 40, 48) and image.dtype == torch.float32 and 0 <= image.min() and image.max() <= 1
    assert torch.equal(mask, torch.from_numpy(mask_values(seed=1).astype(np.int64)))  # palette indices are classes


def test_resizes_to_the_image_size_with_nearest_masks(tmp_path):
    write_voc(tmp_path)
    data = load_segmentation_data("voc", tmp_path, image_size=32, in_chans=1, augment=False)
    image, mask = data.val[0]
    assert image.shape == (1, 32, 32) and mask.shape == (32, 32)
    assert set(mask.unique().tolist()) <= {0, 3, 255}


def test_class_value_outside_the_21_classes_names_the_mask(tmp_path):
    base = write_voc(tmp_path)
    values = mask_values()
    values[0, 0] = 40
    write_palette_png(base / "SegmentationClass" / "a.png", values)
    data = load_segmentation_data("voc", tmp_path)
    with pytest.raises(ConvzooError, match=r"a\.png has values 40 outside the 21 declared classes"):
        data.train[0]


def test_mask_of_another_size_is_refused_when_opened(tmp_path):
    base = write_voc(tmp_path)
    write_palette_png(base / "SegmentationClass" / "b.png", mask_values(30, 48))
    with pytest.raises(ConvzooError, match=r"mask .*b\.png is 30x48 but its image .*b\.jpg is 40x48"):
        load_segmentation_data("voc", tmp_path)


def test_missing_pieces_are_named(tmp_path):
    with pytest.raises(ConvzooError, match="needs --data-dir"):
        load_segmentation_data("voc")
    with pytest.raises(ConvzooError, match="no Pascal VOC 2012 layout"):
        load_segmentation_data("voc", tmp_path)
    base = write_voc(tmp_path)
    (base / "JPEGImages" / "c.jpg").unlink()
    with pytest.raises(ConvzooError, match=r"val\.txt lists 'c' but .*c\.jpg does not exist"):
        load_segmentation_data("voc", tmp_path)
    (base / "ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(ConvzooError, match=r"split list .*val\.txt does not exist"):
        load_segmentation_data("voc", tmp_path)


def test_corrupt_image_is_named(tmp_path):
    base = write_voc(tmp_path)
    (base / "JPEGImages" / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ConvzooError, match=r"cannot read image .*a\.jpg"):
        load_segmentation_data("voc", tmp_path)
