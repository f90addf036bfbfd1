"""Hyperspectral scenes: .mat loaders in the real layout, PCA, padding, patches, splits, the synthetic scene."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from convzoo.data.hyperspectral import (
    SCENES,
    PatchDataset,
    SceneSettings,
    load_hyperspectral,
    load_scene,
    pad_scene,
    reduce_pca,
    stratified_split,
    synthetic_scene,
    write_synthetic_scene,
)
from convzoo.errors import ConvzooError


def write_scene(folder, name, height=6, width=5, bands=12, cube_dtype=np.uint16, seed=0):
    """A scene in its real files: the cube as (H, W, bands) and the ground truth as uint8 (H, W)."""
    files = SCENES[name]
    rng = np.random.default_rng(seed)
    cube = rng.integers(0, 9000, size=(height, width, bands)).astype(cube_dtype)
    labels = rng.integers(0, len(files.class_names) + 1, size=(height, width)).astype(np.uint8)
    scipy.io.savemat(folder / files.cube_file, {files.cube_key: cube})
    scipy.io.savemat(folder / files.gt_file, {files.gt_key: labels})
    return cube, labels


@pytest.mark.parametrize("name, key, gt_key", [
    ("indian_pines", "indian_pines_corrected", "indian_pines_gt"),
    ("pavia_university", "paviaU", "paviaU_gt"),
    ("salinas", "salinas_corrected", "salinas_gt"),
])
def test_standard_scenes_load_from_their_mat_files(tmp_path, name, key, gt_key):
    assert (SCENES[name].cube_key, SCENES[name].gt_key) == (key, gt_key)
    cube, labels = write_scene(tmp_path, name)
    scene = load_scene(name, tmp_path)
    assert scene.cube.dtype == np.float32 and scene.cube.shape == (6, 5, 12)
    np.testing.assert_array_equal(scene.cube, cube.astype(np.float32))
    np.testing.assert_array_equal(scene.labels, labels)
    assert len(scene.class_names) == {"indian_pines": 16, "pavia_university": 9, "salinas": 16}[name]


def test_real_file_names():
    assert (SCENES["indian_pines"].cube_file, SCENES["indian_pines"].gt_file) == (
        "Indian_pines_corrected.mat", "Indian_pines_gt.mat")
    assert (SCENES["pavia_university"].cube_file, SCENES["pavia_university"].gt_file) == ("PaviaU.mat", "PaviaU_gt.mat")
    assert (SCENES["salinas"].cube_file, SCENES["salinas"].gt_file) == ("Salinas_corrected.mat", "Salinas_gt.mat")


def test_missing_file_wrong_key_and_shape_mismatch_are_one_line_errors(tmp_path):
    with pytest.raises(ConvzooError, match="needs --data-dir"):
        load_scene("pavia_university")
    with pytest.raises(ConvzooError, match="Indian_pines_corrected.mat not found in"):
        load_scene("indian_pines", tmp_path)
    files = SCENES["indian_pines"]
    scipy.io.savemat(tmp_path / files.cube_file, {"wrong": np.zeros((4, 4, 3))})
    scipy.io.savemat(tmp_path / files.gt_file, {files.gt_key: np.zeros((4, 4), np.uint8)})
    with pytest.raises(ConvzooError, match="has no variable 'indian_pines_corrected' \\(variables: wrong\\)"):
        load_scene("indian_pines", tmp_path)
    scipy.io.savemat(tmp_path / files.cube_file, {files.cube_key: np.zeros((4, 5, 3))})
    scipy.io.savemat(tmp_path / files.gt_file, {files.gt_key: np.ones((4, 4), np.uint8)})
    with pytest.raises(ConvzooError, match=r"ground truth is \(4, 4\) but the cube is \(4, 5\)"):
        load_scene("indian_pines", tmp_path)
    scipy.io.savemat(tmp_path / files.gt_file, {files.gt_key: np.full((4, 5), 17, np.uint8)})
    with pytest.raises(ConvzooError, match="0 \\(unlabelled\\) to 16"):
        load_scene("indian_pines", tmp_path)
    (tmp_path / files.cube_file).write_bytes(b"not a mat file")
    with pytest.raises(ConvzooError, match="not a readable .mat file"):
        load_scene("indian_pines", tmp_path)
    with pytest.raises(ConvzooError, match="unknown hyperspectral dataset 'indian'"):
        load_scene("indian")


def test_synthetic_scene_is_seeded_and_written_in_the_real_layout(tmp_path):
    cube, labels = synthetic_scene(size=12, bands=20, num_classes=4, seed=3)
    again, labels_again = synthetic_scene(size=12, bands=20, num_classes=4, seed=3)
    np.testing.assert_array_equal(cube, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not np.array_equal(cube, synthetic_scene(size=12, bands=20, num_classes=4, seed=4)[0])
    assert cube.shape == (12, 12, 20) and cube.dtype == np.float32 and labels.shape == (12, 12)
    assert set(np.unique(labels)) <= set(range(5)) and set(range(1, 5)) <= set(np.unique(labels))
    cube_path, gt_path = write_synthetic_scene(tmp_path, size=12, bands=20, num_classes=4, seed=3)
    assert scipy.io.loadmat(cube_path)["synthetic"].shape == (12, 12, 20)
    assert scipy.io.loadmat(gt_path)["synthetic_gt"].dtype == np.uint8
    scene = load_scene("synthetic", tmp_path)
    np.testing.assert_array_equal(scene.cube, cube)
    np.testing.assert_array_equal(scene.labels, labels)
    assert scene.class_names == ["class 1", "class 2", "class 3", "class 4"]


def test_pca_is_fitted_on_the_scene_whitened_and_deterministic():
    cube, _ = synthetic_scene(size=10, bands=16, seed=0)
    reduced = reduce_pca(cube, 5)
    assert reduced.shape == (10, 10, 5) and reduced.dtype == np.float32
    pixels = reduced.reshape(-1, 5).astype(np.float64)
    np.testing.assert_allclose(pixels.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(pixels.std(axis=0, ddof=1), 1, rtol=1e-4)  # whitened
    np.testing.assert_allclose(np.corrcoef(pixels.T), np.eye(5), atol=1e-5)  # uncorrelated
    np.testing.assert_array_equal(reduce_pca(cube, 5), reduced)
    with pytest.raises(ConvzooError, match="cannot keep 17 principal components of a scene with 16 bands"):
        reduce_pca(cube, 17)


def test_padding_zero_and_reflect():
    cube = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    zero = pad_scene(cube, 2, "zero")
    assert zero.shape == (2, 7, 8)
    assert torch.equal(zero[:, 2:5, 2:6], cube) and zero[:, :2].abs().sum() == 0
    reflect = pad_scene(cube, 2, "reflect")
    assert torch.equal(reflect[:, 2:5, 2:6], cube)
    assert torch.equal(reflect[:, 2, 0], cube[:, 0, 2]) and torch.equal(reflect[:, 0, 2], cube[:, 2, 0])
    with pytest.raises(ConvzooError, match="use a smaller window or zero borders"):
        pad_scene(cube, 3, "reflect")
    with pytest.raises(ConvzooError, match="unknown border"):
        pad_scene(cube, 1, "edge")


def test_patches_are_cut_on_the_fly_around_their_pixel():
    cube = torch.randn(3, 6, 7)
    window = 5
    padded = pad_scene(cube, window // 2, "zero")
    positions = torch.tensor([[0, 0], [2, 3], [5, 6]])
    dataset = PatchDataset(padded, positions, torch.tensor([0, 1, 2]), window)
    assert len(dataset) == 3
    assert dataset.padded.data_ptr() == padded.data_ptr()  # the scene is held once, no patch is stored
    reference = torch.nn.functional.pad(cube, (2, 2, 2, 2))
    for i, (r, c) in enumerate(positions.tolist()):
        patch, label = dataset[i]
        assert torch.equal(patch, reference[:, r:r + 5, c:c + 5]) and label == i
        assert torch.equal(patch[:, 2, 2], cube[:, r, c])  # the pixel is at the centre
    batch = dataset.__getitems__([2, 0])
    assert torch.equal(batch[0][0], dataset[2][0]) and torch.equal(batch[1][0], dataset[0][0])
    assert dataset.patches([0, 1, 2]).shape == (3, 3, 5, 5)


def test_stratified_split_keeps_the_ratio_per_class_and_follows_the_seed():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    train, test = stratified_split(labels, 0.3, seed=0)
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 60
    assert np.bincount(labels[train]).tolist() == [3, 6, 9]
    again, _ = stratified_split(labels, 0.3, seed=0)
    other, _ = stratified_split(labels, 0.3, seed=1)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    assert np.bincount(labels[stratified_split(labels, 0.1, seed=0)[0]]).tolist() == [1, 2, 3]
    with pytest.raises(ConvzooError, match="single labelled pixel"):
        stratified_split(np.array([0, 0, 1]), 0.5, seed=0)
    with pytest.raises(ConvzooError, match="between 0 and 1"):
        stratified_split(labels, 1.5, seed=0)


def test_load_hyperspectral_splits_labelled_pixels(tmp_path):
    write_synthetic_scene(tmp_path, size=14, bands=16, num_classes=4, seed=1)
    settings = SceneSettings(dataset="synthetic", data_dir=str(tmp_path), components=6, window=5, train_ratio=0.3)
    splits = load_hyperspectral(settings)
    labels = splits.labels.reshape(-1)
    labelled = np.flatnonzero(labels > 0)
    assert sorted([*splits.train_pixels, *splits.test_pixels]) == labelled.tolist()
    assert len(splits.scene) == 14 * 14 and len(splits.val) < len(splits.test)
    patch, label = splits.train[0]
    assert patch.shape == (6, 5, 5) and label == labels[splits.train_pixels[0]] - 1
    r, c = divmod(int(splits.train_pixels[0]), 14)
    assert torch.equal(patch[:, 2, 2], splits.scene.padded[:, r + 2, c + 2])
    # the same settings rebuild the same inputs and split
    again = load_hyperspectral(SceneSettings.from_dict(settings.to_dict()))
    np.testing.assert_array_equal(again.train_pixels, splits.train_pixels)
    assert torch.equal(again.scene.padded, splits.scene.padded)
    with pytest.raises(ConvzooError, match="positive odd"):
        load_hyperspectral(SceneSettings(window=4))
