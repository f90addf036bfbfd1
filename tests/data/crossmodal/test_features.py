"""DSCMR's released .mat feature files, written small by the test; and the generated digit-sentence pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from convzoo.data.crossmodal import load_crossmodal_dataset, load_feature_files, paired_digits_splits
from convzoo.data.crossmodal.paired_digits import CLASS_NAMES, VOCABULARY, bag_of_words
from convzoo.errors import ConvzooError


def write_features(folder: Path, train: int = 12, test: int = 6, classes: int = 3, image_dim: int = 10,
                   text_dim: int = 7, seed: int = 0, other_names: bool = False) -> Path:
    """The release's six files; ``other_names`` stores each array under another variable name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("test", test)):
        labels = np.eye(classes)[np.arange(count) % classes]
        arrays = {"img": rng.normal(size=(count, image_dim)), "txt": rng.normal(size=(count, text_dim)),
                  "img_lab": labels}
        for kind, array in arrays.items():
            name = f"{prefix}_{kind}"
            savemat(folder / f"{name}.mat", {"data" if other_names else name: array})
    return folder


def test_release_layout_loads(tmp_path):
    data = load_feature_files(write_features(tmp_path / "pascal"))
    assert (len(data.train), len(data.test), data.image_dim, data.text_dim) == (12, 6, 10, 7)
    assert data.class_names == ["class_0", "class_1", "class_2"] and data.val is data.test
    assert torch.equal(data.train.labels.argmax(1), torch.arange(12) % 3)
    other = load_feature_files(write_features(tmp_path / "other", other_names=True))
    assert torch.equal(other.train.images, data.train.images)


def test_class_indices_become_one_hot(tmp_path):
    folder = write_features(tmp_path / "d")
    savemat(folder / "test_img_lab.mat", {"test_img_lab": np.array([0, 1, 2, 2, 1, 0])})
    assert torch.equal(load_feature_files(folder).test.labels.argmax(1), torch.tensor([0, 1, 2, 2, 1, 0]))


def test_bad_files_name_the_file(tmp_path):
    folder = write_features(tmp_path / "counts")
    savemat(folder / "train_txt.mat", {"train_txt": np.zeros((11, 7))})
    with pytest.raises(ConvzooError, match=r"sample counts disagree: train_img.mat 12, train_txt.mat 11"):
        load_feature_files(folder)
    folder = write_features(tmp_path / "labels")
    savemat(folder / "train_img_lab.mat", {"train_img_lab": np.full((12, 3), 0.5)})
    with pytest.raises(ConvzooError, match=r"train_img_lab.mat: labels must be one-hot"):
        load_feature_files(folder)
    folder = write_features(tmp_path / "empty")
    savemat(folder / "test_img_lab.mat", {"test_img_lab": np.zeros((6, 3))})
    with pytest.raises(ConvzooError, match=r"test_img_lab.mat: labels must be one-hot, but row 0 has no class"):
        load_feature_files(folder)
    (folder / "test_txt.mat").unlink()
    with pytest.raises(ConvzooError, match="test_txt.mat is missing"):
        load_feature_files(folder)
    with pytest.raises(ConvzooError, match="give --data-dir"):
        load_crossmodal_dataset("dscmr-features")


def test_paired_digits_are_seeded_and_describe_their_digit():
    first, again, other = paired_digits_splits(0), paired_digits_splits(0), paired_digits_splits(1)
    assert (len(first.train), len(first.val), len(first.test)) == (1097, 200, 500)
    assert first.test.sentences == again.test.sentences and first.test.sentences != other.test.sentences
    assert first.image_dim == 64 and first.text_dim == len(VOCABULARY) and first.class_names == CLASS_NAMES
    assert torch.equal(first.test.texts, bag_of_words(first.test.sentences))
    labels = first.test.labels.argmax(1)
    with_class_word = [CLASS_NAMES[label] in sentence.split() for sentence, label in zip(first.test.sentences, labels)]
    assert 0.35 < np.mean(with_class_word) < 0.65  # the class word is in about half the sentences
    assert first.test.pictures.shape == (500, 8, 8)
    torch.testing.assert_close(first.test.pictures.reshape(500, 64), first.test.images)
