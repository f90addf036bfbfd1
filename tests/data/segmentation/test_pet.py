"""Oxford-IIIT Pet trimaps: 1 pet, 2 background, 3 border (ignored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.segmentation import load_segmentation_data
from convzoo.errors import ConvzooError


def trimap(height: int = 36, width: int = 44) -> np.ndarray:
    values = np.full((height, width), 2, dtype=np.uint8)  # background
    values[10:26, 12:32] = 3  # border band
    values[12:24, 14:30] = 1  # the pet
    return values


def write_pet(
    root: Path, trainval=("Abyssinian_1", "Abyssinian_2", "beagle_1", "beagle_2"), test=("beagle_3",)
) -> None:
    (root / "images").mkdir(parents=True)
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in trainval + test:
        Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(root / "images" / f"{name}.jpg")
        Image.fromarray(trimap()).save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "trainval.txt").write_text("".join(f"{name} 1 1 1\n" for name in trainval))
    (root / "annotations" / "test.txt").write_text("".join(f"{name} 2 2 1\n" for name in test))


def test_trimaps_become_pet_background_and_ignore(tmp_path):
    write_pet(tmp_path)
    data = load_segmentation_data("pet", tmp_path, augment=False)
    assert data.class_names == ["background", "pet"]
    assert (len(data.train), len(data.val), len(data.test)) == (3, 1, 1)
    image, mask = data.test[0]
    assert image.shape == (3, 36, 44)
    expected = np.select([trimap() == 1, trimap() == 2], [1, 0], default=255)
    assert torch.equal(mask, torch.from_numpy(expected))


def test_value_that_is_no_trimap_code_names_the_file(tmp_path):
    write_pet(tmp_path)
    values = trimap()
    values[0, 0] = 7
    Image.fromarray(values).save(tmp_path / "annotations" / "trimaps" / "beagle_3.png")
    data = load_segmentation_data("pet", tmp_path, image_size=32)
    with pytest.raises(ConvzooError, match=r"beagle_3\.png has values 7 that code no class \(expected 1, 2, 3\)"):
        data.test[0]


def test_missing_list_or_trimap_is_named(tmp_path):
    write_pet(tmp_path)
    (tmp_path / "annotations" / "test.txt").unlink()
    with pytest.raises(ConvzooError, match=r"test\.txt does not exist"):
        load_segmentation_data("pet", tmp_path)
    (tmp_path / "annotations" / "trimaps" / "beagle_1.png").unlink()
    with pytest.raises(ConvzooError, match=r"trainval\.txt lists 'beagle_1' but .*beagle_1\.png does not exist"):
        load_segmentation_data("pet", tmp_path)
