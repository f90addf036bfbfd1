"""A folder of images beside a folder of masks: split by subfolders or by a fixed permutation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.segmentation import load_segmentation_data
from convzoo.errors import ConvzooError


def write_pair(images: Path, masks: Path, name: str, classes: int = 3, size=(24, 24), seed: int = 0) -> np.ndarray:
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(images / f"{name}.jpg")
    values = rng.integers(0, classes, size, dtype=np.uint8)
    Image.fromarray(values).save(masks / f"{name}.png")
    return values


def test_flat_folder_is_split_by_a_fixed_permutation(tmp_path):
    for index in range(10):
        write_pair(tmp_path / "images", tmp_path / "masks", f"img{index}", seed=index)
    data = load_segmentation_data("folder", tmp_path, augment=False)
    assert (len(data.train), len(data.val), len(data.test)) == (6, 2, 2)
    assert data.class_names == ["class_0", "class_1", "class_2"]
    again = load_segmentation_data("folder", tmp_path, augment=False)
    assert [pair[0].name for pair in data.test.pairs] == [pair[0].name for pair in again.test.pairs]
    image, mask = data.train[0]
    assert image.shape == (3, 24, 24) and mask.dtype == torch.int64 and int(mask.max()) <= 2


def test_split_subfolders_and_class_names(tmp_path):
    expected = write_pair(tmp_path / "images/train", tmp_path / "masks/train", "a", classes=2)
    write_pair(tmp_path / "images/val", tmp_path / "masks/val", "b", classes=2)
    (tmp_path / "classes.txt").write_text("sky\nroad\n")
    data = load_segmentation_data("folder", tmp_path, augment=False, image_size=16)
    assert data.class_names == ["sky", "road"] and data.test is data.val
    image, mask = data.train[0]
    assert image.shape == (3, 16, 16) and set(mask.unique().tolist()) <= set(np.unique(expected).tolist())


def test_image_without_mask_and_values_beyond_classes_are_named(tmp_path):
    write_pair(tmp_path / "images/train", tmp_path / "masks/train", "a")
    write_pair(tmp_path / "images/val", tmp_path / "masks/val", "b")
    (tmp_path / "classes.txt").write_text("one\ntwo\n")
    data = load_segmentation_data("folder", tmp_path)
    with pytest.raises(ConvzooError, match=r"mask .*a\.png has values 2 outside the 2 declared classes"):
        data.train[0]
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "images/val/c.png")
    with pytest.raises(ConvzooError, match=r"image .*c\.png has no mask; expected .*masks/val/c\.png"):
        load_segmentation_data("folder", tmp_path)


def test_colour_mask_is_refused(tmp_path):
    for index in range(3):
        write_pair(tmp_path / "images", tmp_path / "masks", f"img{index}")
    Image.fromarray(np.zeros((24, 24, 3), dtype=np.uint8)).save(tmp_path / "masks/img1.png")
    with pytest.raises(ConvzooError, match=r"mask .*img1\.png is a colour \(RGB\) image"):
        load_segmentation_data("folder", tmp_path)


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(ConvzooError, match="has no images/ folder"):
        load_segmentation_data("folder", tmp_path)
    with pytest.raises(ConvzooError, match="does not exist"):
        load_segmentation_data("folder", tmp_path / "nowhere")
