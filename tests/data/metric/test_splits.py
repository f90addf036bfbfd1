"""Metric-learning splits: the digits default, the class split of any classification dataset."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from convzoo.data import load_dataset
from convzoo.data.augment import RandomAffine
from convzoo.data.metric import METRIC_DATASETS, class_split, load_metric_dataset
from convzoo.data.metric.splits import Renormalised, split_unseen
from convzoo.data.splits import ImageSplits
from convzoo.errors import ConvzooError
from helpers import FOLDER_CLASSES, write_folder


def _numbered_splits(per_class: int = 7, classes: int = 4) -> ImageSplits:
    """Image ``k`` is filled with the value ``k``: every image names itself. Normalised by (1, 2)."""
    count = per_class * classes
    images = torch.arange(count, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    labels = torch.arange(count) % classes
    parts = [TensorDataset(images[i::3], labels[i::3]) for i in range(3)]
    return ImageSplits(
        name="numbers", train=parts[0], val=parts[1], test=parts[2], class_names=list("abcd")[:classes],
        mean=[1.0], std=[2.0], augment=None,
    )


def _ids(dataset: TensorDataset, splits) -> set[int]:
    """The image numbers of ``dataset``, undoing the class split's normalisation."""
    raw = dataset.tensors[0][:, 0, 0, 0] * splits.std[0] + splits.mean[0]  # pixels in [0, 1] terms
    return set(((raw - 1.0) / 2.0).round().long().tolist())  # the numbered images' own values


def test_digits_train_on_0_to_4_and_evaluate_on_5_to_9():
    splits = load_metric_dataset("digits", image_size=32, in_chans=1)
    again = load_metric_dataset("digits", image_size=32, in_chans=1)
    assert splits.train_classes == list("01234") and splits.val_classes == splits.test_classes == list("56789")
    assert set(splits.train_labels.tolist()) == {0, 1, 2, 3, 4}
    assert set(splits.val_labels.tolist()) | set(splits.test_labels.tolist()) == {5, 6, 7, 8, 9}
    assert len(splits.train) + len(splits.val) + len(splits.test) == 1797
    counts = torch.bincount(torch.cat([splits.val_labels, splits.test_labels]))[5:]
    assert (torch.bincount(splits.val_labels, minlength=10)[5:] == counts // 2).all()  # halves, per class
    assert torch.equal(splits.train.tensors[1], splits.train_labels)
    assert torch.equal(splits.test.tensors[0], again.test.tensors[0])  # the split is fixed
    assert splits.train.tensors[0].shape[1:] == (1, 32, 32) and splits.name == "digits"


def test_digits_normalisation_comes_from_the_seen_classes():
    splits = load_metric_dataset("digits", image_size=32, in_chans=3, augment="none")
    train = splits.train.tensors[0]
    assert train.shape[1:] == (3, 32, 32) and splits.augment is None
    torch.testing.assert_close(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4, rtol=0)
    source = load_dataset("digits", image_size=32, in_chans=1, augment="none")
    pixels = torch.cat([source.train.tensors[0], source.val.tensors[0], source.test.tensors[0]]) * source.std[0]
    labels = torch.cat([source.train.tensors[1], source.val.tensors[1], source.test.tensors[1]])
    seen = pixels[labels < 5] + source.mean[0]  # the 0-4 images in [0, 1]
    assert splits.mean == pytest.approx([seen.mean().item()] * 3, abs=1e-5)
    assert splits.std == pytest.approx([seen.std().item()] * 3, abs=1e-5)


def test_class_split_merges_and_divides_disjointly():
    source = _numbered_splits()
    splits = class_split(source, train_classes=["b", 3])
    assert splits.train_classes == ["b", "d"] and splits.val_classes == splits.test_classes == ["a", "c"]
    train, val, test = (_ids(part, splits) for part in (splits.train, splits.val, splits.test))
    assert train | val | test == set(range(28)) and len(train) + len(val) + len(test) == 28
    assert all(k % 4 in (1, 3) for k in train) and all(k % 4 in (0, 2) for k in val | test)
    assert len(val) == 6 and len(test) == 8  # 7 images per class: 3 to val, 4 to test
    assert splits.name == "numbers" and class_split(source).train_classes == ["a", "b"]  # first half by default
    assert torch.equal(class_split(source, [1, 3]).val.tensors[0], splits.val.tensors[0])


def test_class_split_of_the_classification_digits():
    splits = class_split(load_dataset("digits", image_size=8, in_chans=1), train_classes=[1, 3, 5, "7"], name="mine")
    assert splits.train_classes == ["1", "3", "5", "7"] and splits.test_classes == ["0", "2", "4", "6", "8", "9"]
    assert splits.name == "mine" and isinstance(splits.augment, Renormalised)
    assert isinstance(splits.augment.augment, RandomAffine)


def test_kept_augmentation_fills_with_the_new_background():
    splits = load_metric_dataset("digits", image_size=16, in_chans=1)
    background = torch.full((2, 1, 16, 16), -splits.mean[0] / splits.std[0])  # black in the new normalisation
    torch.manual_seed(0)
    torch.testing.assert_close(splits.augment(background), background, atol=1e-5, rtol=0)


def test_class_split_of_an_image_folder(tmp_path):
    splits = load_metric_dataset("folder", image_size=16, in_chans=3, data_dir=write_folder(tmp_path))
    assert splits.train_classes == FOLDER_CLASSES[:1] and splits.val_classes == FOLDER_CLASSES[1:]
    assert [len(splits.train), len(splits.val), len(splits.test)] == [6, 6, 6]  # the val folder doubles as test: once
    assert splits.train.targets == splits.train_labels.tolist() and splits.test.targets == splits.test_labels.tolist()
    image, label = splits.val[0]
    assert image.shape == (3, 16, 16) and label in (1, 2)


def test_split_unseen_is_seeded_and_stratified():
    labels = torch.tensor([5, 5, 5, 5, 7, 7, 7, 9, 9])
    val, test = split_unseen(labels)
    assert sorted(torch.cat([val, test]).tolist()) == list(range(9))
    assert labels[val].tolist() == [5, 5, 7, 9] and labels[test].tolist() == [5, 5, 7, 7, 9]
    assert torch.equal(split_unseen(labels)[0], val) and not torch.equal(split_unseen(labels, seed=3)[0], val)


def test_bad_arguments_are_one_clear_line():
    source = _numbered_splits()
    with pytest.raises(ConvzooError, match="leave at least 2 unseen"):
        class_split(source, train_classes=[0, 1, 2])
    with pytest.raises(ConvzooError, match="leave at least 2 unseen"):
        class_split(source, train_classes=[])
    with pytest.raises(ConvzooError, match="unknown class 'z' in train_classes; classes: a, b, c, d"):
        class_split(source, train_classes=["z"])
    with pytest.raises(ConvzooError, match=r"train class 4 is not a class name or a label in 0\.\.3"):
        class_split(source, train_classes=[4])
    with pytest.raises(ConvzooError, match="unknown metric dataset 'lfw'; available: cifar10, cifar100, digits"):
        load_metric_dataset("lfw", image_size=32, in_chans=1)
    with pytest.raises(ConvzooError, match="unknown augmentation"):
        load_metric_dataset("digits", image_size=32, in_chans=1, augment="heavy")
    with pytest.raises(ConvzooError, match="in_chans=2"):
        load_metric_dataset("digits", image_size=32, in_chans=2)
    assert "omniglot" in METRIC_DATASETS and "fashion-mnist" in METRIC_DATASETS
