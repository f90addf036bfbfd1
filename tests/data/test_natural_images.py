"""Denoising data: the bundled split, image folders in the real format, patches cut on the fly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.natural_images import (
    NATURAL_SPLIT,
    NamedImage,
    PatchDataset,
    fixed_crops,
    load_denoise_images,
    orient,
    read_image,
)
from convzoo.errors import ConvzooError


def write_png(path, size=(48, 40), mode="L", seed=0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_bundled_split_is_fixed_disjoint_and_holds_out_the_cameraman():
    names = [name for split in NATURAL_SPLIT.values() for name in split]
    assert len(names) == len(set(names))
    assert "camera" in NATURAL_SPLIT["test"]
    images = load_denoise_images("natural", in_chans=1)
    assert [image.name for image in images.test] == list(NATURAL_SPLIT["test"])
    assert images.test[0].pixels.shape == (512, 512, 1) and images.test[0].pixels.dtype == np.uint8
    assert all(image.pixels.shape[2] == 1 for image in images.train + images.val)


def test_bundled_colour():
    images = load_denoise_images("natural", in_chans=3)
    camera, coffee = images.test[0].pixels, images.test[1].pixels
    assert camera.shape == (512, 512, 3) and (camera[..., 0] == camera[..., 2]).all()  # a gray image, repeated
    assert coffee.shape == (400, 600, 3)


def test_folder_in_the_bsd_layout(tmp_path):
    gray = write_png(tmp_path / "train" / "test_001.png", seed=1)
    write_png(tmp_path / "train" / "sub" / "test_002.png", mode="RGB", seed=2)
    write_png(tmp_path / "test" / "01.png", size=(30, 36), seed=3)
    (tmp_path / "train" / "readme.txt").write_text("not an image")  # skipped
    images = load_denoise_images("folder", 1, tmp_path)
    assert [image.name for image in images.train] == ["sub/test_002.png", "test_001.png"]
    np.testing.assert_array_equal(images.train[1].pixels[..., 0], gray)
    assert images.val is images.test  # no val/: the test images validate
    colour = load_denoise_images("folder", 3, tmp_path)
    assert colour.train[0].pixels.shape == (40, 48, 3) and colour.test[0].pixels.shape == (36, 30, 3)
    write_png(tmp_path / "val" / "v.png", seed=4)
    assert [image.name for image in load_denoise_images("folder", 1, tmp_path).val] == ["v.png"]


def test_gray_conversion_is_luminance(tmp_path):
    rgb = write_png(tmp_path / "c.png", mode="RGB")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(read_image(tmp_path / "c.png", 1)[..., 0], expected)


@pytest.mark.parametrize(
    "setup, fragment",
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "train").mkdir(parents=True), "no test/ subfolder"),
        (lambda root: [(root / s).mkdir(parents=True) for s in ("train", "test")], "holds no images"),
    ],
)
def test_folder_errors(tmp_path, setup, fragment):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(ConvzooError, match=fragment):
        load_denoise_images("folder", 1, root)


def test_corrupt_image_and_missing_data_dir(tmp_path):
    write_png(tmp_path / "test" / "ok.png")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ConvzooError, match="cannot read image .*broken.png"):
        load_denoise_images("folder", 1, tmp_path)
    with pytest.raises(ConvzooError, match="--data-dir"):
        load_denoise_images("folder", 1, None)
    with pytest.raises(ConvzooError, match="unknown denoising dataset"):
        load_denoise_images("bsd", 1, tmp_path)


def test_orientations_are_the_eight_flips_and_rotations():
    patch = torch.arange(2 * 3 * 3).view(2, 3, 3)
    assert torch.equal(orient(patch, 0), patch)
    variants = {tuple(orient(patch, mode).flatten().tolist()) for mode in range(8)}
    assert len(variants) == 8


def image(height: int, width: int, channels: int = 1, seed: int = 0) -> NamedImage:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return NamedImage(f"img{seed}", pixels)


def test_patch_grid_is_an_index_and_every_item_is_its_crop():
    images = [image(50, 60), image(44, 41, seed=1)]
    data = PatchDataset(images, patch_size=20, stride=10, count=None, scales=(1.0,))
    # 50x60: 4 x 5 positions; 44x41: 3 x 3 positions; 8 orientations each.
    assert len(data) == data.grid_size == (4 * 5 + 3 * 3) * 8
    for index in (0, 7, 8 * 19 + 5, 8 * 20, len(data) - 1):
        which, top, left, mode = data.locate(index)
        source = torch.from_numpy(images[which].pixels).permute(2, 0, 1)
        expected = orient(source[:, top:top + 20, left:left + 20], mode).float() / 255
        patch, target = data[index]
        assert torch.equal(patch, expected) and torch.equal(target, patch)
    assert data.locate(8 * 20) == (1, 0, 0, 0)  # the first position of the second image
    assert data.locate(len(data) - 1) == (1, 20, 20, 7)


def test_patch_draw_is_seeded_and_covers_scales():
    images = [image(64, 64, channels=3)]
    data = PatchDataset(images, patch_size=16, stride=8, count=50, seed=3)
    assert len(data) == 50 and len(data.images) == 4  # four scales
    assert data[0][0].shape == (3, 16, 16) and data[0][0].dtype == torch.float32
    assert np.array_equal(data.indices, PatchDataset(images, 16, 8, count=50, seed=3).indices)
    assert not np.array_equal(data.indices, PatchDataset(images, 16, 8, count=50, seed=4).indices)
    assert len(set(data.indices.tolist())) == 50  # without replacement while the grid lasts
    assert len(PatchDataset(images, 16, 8, count=data.grid_size + 5)) == data.grid_size + 5  # repeats past it


def test_patch_dataset_needs_an_image_large_enough():
    with pytest.raises(ConvzooError, match="at least 40x40"):
        PatchDataset([image(30, 80)], patch_size=40)


def test_fixed_crops():
    crops = fixed_crops([image(50, 90), image(40, 30, seed=1)], size=64)
    assert crops.shape[1:] == (1, 30, 30)  # reduced to the smallest side
    assert len(crops) == 1 * 3 + 1 * 1
    assert len(fixed_crops([image(100, 100)], size=10, limit=7)) == 7
