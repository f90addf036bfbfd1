"""ISBI 2012 multi-page TIFF stacks: 255 cell, 0 membrane; split along the slices."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from convzoo.data.segmentation import load_segmentation_data
from convzoo.errors import ConvzooError


def write_isbi(root, slices: int = 10, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 256, (slices, size, size), dtype=np.uint8)
    labels = np.where(volume > 60, 255, 0).astype(np.uint8)
    tifffile.imwrite(root / "train-volume.tif", volume)
    tifffile.imwrite(root / "train-labels.tif", labels)
    return labels


def test_stack_becomes_cell_and_membrane_split_by_slice(tmp_path):
    labels = write_isbi(tmp_path)
    data = load_segmentation_data("tiff", tmp_path, augment=False)
    assert data.class_names == ["cell", "membrane"] and data.in_chans == 1
    assert (len(data.train), len(data.val), len(data.test)) == (8, 1, 1)
    image, mask = data.test[0]
    assert image.shape == (1, 32, 32)
    assert torch.equal(mask, torch.from_numpy((labels[9] == 0).astype(np.int64)))  # the last slice tests
    assert load_segmentation_data("tiff", tmp_path, image_size=16, in_chans=3).val[0][0].shape == (3, 16, 16)


def test_bad_labels_and_shapes_are_named(tmp_path):
    write_isbi(tmp_path)
    tifffile.imwrite(tmp_path / "train-labels.tif", np.full((10, 32, 32), 128, dtype=np.uint8))
    with pytest.raises(
        ConvzooError, match=r"train-labels\.tif hold values 128; expected 255 \(cell\) and 0 \(membrane\)"
    ):
        load_segmentation_data("tiff", tmp_path)
    tifffile.imwrite(tmp_path / "train-labels.tif", np.zeros((10, 30, 32), dtype=np.uint8))
    with pytest.raises(ConvzooError, match=r"labels .*train-labels\.tif have shape 10x30x32 but the volume"):
        load_segmentation_data("tiff", tmp_path)


def test_missing_or_corrupt_stack_is_named(tmp_path):
    with pytest.raises(ConvzooError, match=r"train-volume\.tif does not exist"):
        load_segmentation_data("tiff", tmp_path)
    write_isbi(tmp_path)
    (tmp_path / "train-volume.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ConvzooError, match=r"cannot read TIFF file .*train-volume\.tif"):
        load_segmentation_data("tiff", tmp_path)


def test_missing_tifffile_is_one_line(tmp_path, monkeypatch):
    import sys

    write_isbi(tmp_path)
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(ConvzooError, match=r"needs tifffile: pip install tifffile"):
        load_segmentation_data("tiff", tmp_path)
