"""MNIST and Fashion-MNIST from idx files written here in the real format."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convzoo.data import load_dataset
from convzoo.data.mnist import FASHION_CLASSES, read_idx
from convzoo.errors import ConvzooError

TRAIN_PER_CLASS, TEST_PER_CLASS = 10, 2  # 100 train (90 train + 10 val), 20 test


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """An idx file: magic 0x0000080<ndim> (unsigned bytes), big-endian sizes, then the bytes."""
    content = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)


def make_split(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    return images, labels


def write_mnist(root: Path, folder: str = "MNIST", seed: int = 0, compress: bool = False) -> dict[str, np.ndarray]:
    """The four idx files under ``root/folder/raw``; returns the arrays written."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, per_class in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        images, labels = make_split(per_class, rng)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress)
        arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"] = images, labels
    return arrays


@pytest.fixture
def mnist(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_mnist(tmp_path)


def test_mnist_splits_shapes_and_labels(mnist):
    root, arrays = mnist
    splits = load_dataset("mnist", in_chans=1, data_dir=root)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [90, 10, 20]
    images, labels = splits.test.tensors
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and torch.equal(labels, torch.from_numpy(arrays["t10k_labels"]).long())
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.native_size == 28 and splits.name == "mnist"
    assert splits.augment is None  # MNIST has no standard augmentation


def test_mnist_split_is_fixed_and_stratified(mnist):
    root, arrays = mnist
    first = load_dataset("mnist", in_chans=1, data_dir=root)
    second = load_dataset("mnist", in_chans=1, data_dir=root, augment="none")
    for a, b in ((first.train, second.train), (first.val, second.val)):
        assert all(torch.equal(x, y) for x, y in zip(a.tensors, b.tensors))
    assert torch.bincount(first.val.tensors[1], minlength=10).tolist() == [1] * 10  # 10% of each class
    assert torch.bincount(first.train.tensors[1], minlength=10).tolist() == [9] * 10
    train_and_val = torch.cat([first.train.tensors[1], first.val.tensors[1]]).sort().values
    assert torch.equal(train_and_val, torch.from_numpy(arrays["train_labels"]).long().sort().values)


def test_mnist_pixels_round_trip_and_normalisation(mnist):
    root, arrays = mnist
    splits = load_dataset("mnist", in_chans=1, data_dir=root)
    train = splits.train.tensors[0]
    assert abs(train.mean().item()) < 1e-4 and abs(train.std().item() - 1) < 1e-3  # train split's own stats
    mean, std = splits.mean[0], splits.std[0]
    restored = splits.test.tensors[0] * std + mean  # back to [0, 1]
    assert torch.allclose(restored[:, 0], torch.from_numpy(arrays["t10k_images"]).float() / 255, atol=1e-5)


def test_mnist_gray_repeated_for_three_channels(mnist):
    root, _ = mnist
    gray = load_dataset("mnist", in_chans=1, data_dir=root)
    rgb = load_dataset("mnist", in_chans=3, data_dir=root)
    images = rgb.test.tensors[0]
    assert images.shape == (20, 3, 28, 28)
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert len(rgb.mean) == 3 and len(set(rgb.mean)) == 1
    assert torch.allclose(images[:, :1], gray.test.tensors[0], atol=1e-5)


def test_mnist_resized_once_with_antialiasing(mnist):
    root, arrays = mnist
    splits = load_dataset("mnist", image_size=14, in_chans=1, data_dir=root)
    assert splits.test.tensors[0].shape == (20, 1, 14, 14) and splits.native_size == 28
    original = torch.from_numpy(arrays["t10k_images"]).float().div(255).unsqueeze(1)
    expected = F.interpolate(original, size=(14, 14), mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(splits.test.tensors[0] * splits.std[0] + splits.mean[0], expected, atol=1e-5)
    assert load_dataset("mnist", image_size=32, in_chans=1, data_dir=root).train.tensors[0].shape[-1] == 32


def test_fashion_mnist_reads_gzipped_files(tmp_path):
    arrays = write_mnist(tmp_path, "FashionMNIST", seed=1, compress=True)
    splits = load_dataset("fashion-mnist", in_chans=1, data_dir=tmp_path)
    assert splits.class_names == FASHION_CLASSES and splits.class_names[9] == "Ankle boot"
    assert torch.equal(splits.test.tensors[1], torch.from_numpy(arrays["t10k_labels"]).long())
    with pytest.raises(ConvzooError, match="MNIST/raw"):  # each dataset in its own folder
        load_dataset("mnist", in_chans=1, data_dir=tmp_path)


def test_missing_file_names_it_and_the_download_option(mnist):
    root, _ = mnist
    (root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ConvzooError, match=r"t10k-labels-idx1-ubyte.*not found in .*MNIST/raw.*--download"):
        load_dataset("mnist", in_chans=1, data_dir=root)


def test_missing_data_dir_is_explained():
    with pytest.raises(ConvzooError, match="--data-dir"):
        load_dataset("mnist", in_chans=1)


def test_truncated_and_corrupt_files_are_named(mnist):
    root, _ = mnist
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ConvzooError, match=r"train-images-idx3-ubyte is truncated"):
        load_dataset("mnist", in_chans=1, data_dir=root)
    path.write_bytes(struct.pack(">I", 0x801) + content[4:])  # a label file's magic
    with pytest.raises(ConvzooError, match=r"train-images-idx3-ubyte is not an idx file of 3-d"):
        load_dataset("mnist", in_chans=1, data_dir=root)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ConvzooError, match="shorter than its header"):
        read_idx(path, 3)
    gz = root / "bad-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05abcde")[:-6])
    with pytest.raises(ConvzooError, match="bad-idx1-ubyte.gz"):
        read_idx(gz, 1)


def test_labels_out_of_range_and_count_mismatch(mnist):
    root, arrays = mnist
    raw = root / "MNIST" / "raw"
    write_idx(raw / "t10k-labels-idx1-ubyte", arrays["t10k_labels"][:5])
    with pytest.raises(ConvzooError, match="has 20 images but .*t10k-labels-idx1-ubyte has 5 labels"):
        load_dataset("mnist", in_chans=1, data_dir=root)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(20, 12))
    with pytest.raises(ConvzooError, match="label 12"):
        load_dataset("mnist", in_chans=1, data_dir=root)


def test_unsupported_channel_count(mnist):
    root, _ = mnist
    with pytest.raises(ConvzooError, match="in_chans=2"):
        load_dataset("mnist", in_chans=2, data_dir=root)


def write_flat(root: Path, seed: int = 0, compress: bool = False) -> dict[str, np.ndarray]:
    """The four idx files directly in ``root``, as Debian's dataset-fashion-mnist installs them."""
    arrays = write_mnist(root, "flat", seed=seed, compress=compress)
    raw = root / "flat" / "raw"
    for path in list(raw.iterdir()):
        path.rename(root / path.name)
    raw.rmdir()
    raw.parent.rmdir()
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_directly_in_the_data_dir(tmp_path, compress):
    data_dir = tmp_path / "fashion-mnist"
    data_dir.mkdir()
    arrays = write_flat(data_dir, seed=2, compress=compress)
    splits = load_dataset("fashion-mnist", in_chans=1, data_dir=data_dir)
    assert splits.class_names == FASHION_CLASSES
    assert [len(splits.train), len(splits.val), len(splits.test)] == [90, 10, 20]
    assert torch.equal(splits.test.tensors[1], torch.from_numpy(arrays["t10k_labels"]).long())


def test_neither_layout_names_both(tmp_path):
    with pytest.raises(ConvzooError, match=r"train-images-idx3-ubyte .*not found in .* or .*FashionMNIST/raw"):
        load_dataset("fashion-mnist", in_chans=1, data_dir=tmp_path)


def test_eval_uses_the_data_dir_the_run_was_trained_with(tmp_path, capsys):
    from convzoo.cli import main

    data_dir = tmp_path / "mnist"
    data_dir.mkdir()
    write_flat(data_dir)
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--dataset", "mnist", "--data-dir", str(data_dir), "--image-size", "32",
                 "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0, capsys.readouterr().err
    assert "lenet5 on mnist (test, 20 images)" in capsys.readouterr().out
