"""NIfTI volumes in the Medical Segmentation Decathlon layout, written with nibabel."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import numpy as np
import pytest
import torch

from convzoo.data.segmentation import load_segmentation_data
from convzoo.errors import ConvzooError


def write_msd(root: Path, cases: int = 4, shape=(12, 10, 8), modalities: int = 1) -> list[np.ndarray]:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = []
    training = []
    for case in range(cases):
        voxels = rng.normal(100.0, 20.0, (*shape, modalities) if modalities > 1 else shape).astype(np.float32)
        label = np.zeros(shape, dtype=np.uint8)
        label[2:6, 3:7, 1:5] = 1
        label[7:10, 1:4, 4:7] = 2
        nibabel.save(nibabel.Nifti1Image(voxels, np.eye(4)), root / "imagesTr" / f"case_{case}.nii.gz")
        nibabel.save(nibabel.Nifti1Image(label, np.eye(4)), root / "labelsTr" / f"case_{case}.nii.gz")
        labels.append(label)
        training.append({"image": f"./imagesTr/case_{case}.nii.gz", "label": f"./labelsTr/case_{case}.nii.gz"})
    description = {
        "name": "toy",
        "modality": {str(m): f"mod{m}" for m in range(modalities)},
        "labels": {"0": "background", "1": "organ", "2": "tumour"},
        "numTraining": cases,
        "training": training,
    }
    (root / "dataset.json").write_text(json.dumps(description))
    return labels


def item_named(data, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The item of ``data`` (any split) whose label file is ``name``."""
    for split in (data.train, data.val, data.test):
        names = [label.name for _, label in split.pairs]
        if name in names:
            return split[names.index(name)]
    raise AssertionError(f"no item {name}")


def test_reads_volumes_as_channels_depth_height_width(tmp_path):
    write_msd(tmp_path)
    data = load_segmentation_data("msd", tmp_path, augment=False)
    assert data.dims == 3 and data.in_chans == 1 and data.class_names == ["background", "organ", "tumour"]
    assert (len(data.train), len(data.val), len(data.test)) == (2, 1, 1)
    assert data.val[0][0].shape == (1, 64, 64, 64)  # the default cube
    image, mask = load_segmentation_data("msd", tmp_path, image_size=8, augment=False).train[0]
    assert image.shape == (1, 8, 8, 8) and mask.shape == (8, 8, 8) and mask.dtype == torch.int64
    assert 0 <= image.min() and image.max() <= 1 and set(mask.unique().tolist()) <= {0, 1, 2}


def test_axes_follow_the_file(tmp_path):
    labels = write_msd(tmp_path, shape=(16, 16, 16))
    data = load_segmentation_data("msd", tmp_path, image_size=16, augment=False)
    _, mask = item_named(data, "case_3.nii.gz")
    assert torch.equal(mask, torch.from_numpy(labels[3].astype(np.int64)).permute(2, 1, 0))  # (Z, Y, X)


def test_several_modalities_are_channels(tmp_path):
    write_msd(tmp_path, modalities=2)
    data = load_segmentation_data("msd", tmp_path, image_size=8, augment=True)
    assert data.in_chans == 2 and data.train[0][0].shape == (2, 8, 8, 8)


def test_file_that_is_not_nifti_is_named(tmp_path):
    write_msd(tmp_path)
    (tmp_path / "labelsTr" / "case_2.nii.gz").write_bytes(b"plain text, not a volume")
    with pytest.raises(ConvzooError, match=r"case_2\.nii\.gz is not a NIfTI volume"):
        load_segmentation_data("msd", tmp_path)


def test_label_shape_and_values_are_checked(tmp_path):
    write_msd(tmp_path)
    nibabel.save(
        nibabel.Nifti1Image(np.full((12, 10, 8), 5, dtype=np.uint8), np.eye(4)), tmp_path / "labelsTr" / "case_1.nii.gz"
    )
    data = load_segmentation_data("msd", tmp_path, image_size=8)
    with pytest.raises(ConvzooError, match=r"case_1\.nii\.gz has values 5 outside the 3 declared classes"):
        item_named(data, "case_1.nii.gz")
    nibabel.save(
        nibabel.Nifti1Image(np.zeros((12, 10, 7), dtype=np.uint8), np.eye(4)), tmp_path / "labelsTr" / "case_1.nii.gz"
    )
    with pytest.raises(
        ConvzooError, match=r"mask .*case_1\.nii\.gz is 12x10x7 but its image .*case_1\.nii\.gz is 12x10x8"
    ):
        load_segmentation_data("msd", tmp_path)


def test_bad_dataset_json_is_named(tmp_path):
    with pytest.raises(ConvzooError, match=r"dataset\.json does not exist"):
        load_segmentation_data("msd", tmp_path)
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(ConvzooError, match=r"dataset\.json is not valid JSON"):
        load_segmentation_data("msd", tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "x"}}))
    with pytest.raises(ConvzooError, match=r"dataset\.json lacks 'training'"):
        load_segmentation_data("msd", tmp_path)
