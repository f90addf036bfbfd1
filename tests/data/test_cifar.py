"""CIFAR-10 and CIFAR-100 from pickles written here in the real format, and the batched
CIFAR augmentation."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convzoo.data import load_dataset
from convzoo.data.augment import RandomCrop, RandomHorizontalFlip
from convzoo.data.cifar import read_cifar_pickle
from convzoo.errors import ConvzooError
from helpers import CIFAR10_NAMES, make_batch, write_cifar10, write_pickle

def write_cifar100(root: Path) -> dict[str, np.ndarray]:
    """``cifar-100-python`` with 1,000 training images (10 per class) and 100 test images."""
    folder = root / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    arrays = {}
    for split, per_class in (("train", 10), ("test", 1)):
        fine = rng.permutation(np.repeat(np.arange(100), per_class))
        data = make_batch(fine, rng)
        write_pickle(folder / split, {b"filenames": [b"x.png"] * len(fine), b"batch_label": split.encode(),
                                      b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist(), b"data": data})
        arrays[f"{split}_labels"] = fine
    write_pickle(folder / "meta", {b"fine_label_names": [f"class{i:03d}".encode() for i in range(100)],
                                   b"coarse_label_names": [f"super{i:02d}".encode() for i in range(20)]})
    return arrays


def python2_pickle(labels: list[int], data: np.ndarray) -> bytes:
    """A batch as Python 2's cPickle wrote the real files: protocol 2, byte strings as
    ``str`` (BINSTRING), numpy 1.x's ``numpy.core.multiarray._reconstruct``."""
    def string(value: bytes) -> bytes:
        return b"U" + bytes([len(value)]) + value if len(value) < 256 else b"T" + struct.pack("<I", len(value)) + value

    rows, cols = data.shape
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + string(b"b") + b"\x87R"
        + b"(K\x01M" + struct.pack("<H", rows) + b"M" + struct.pack("<H", cols) + b"\x86"
        + b"cnumpy\ndtype\n" + string(b"u1") + b"K\x00K\x01\x87R"
        + b"(K\x03" + string(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89" + string(data.tobytes()) + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([label]) for label in labels) + b"e"
    return b"\x80\x02}(" + string(b"data") + array + string(b"labels") + label_list + b"u."


@pytest.fixture
def cifar10(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_cifar10(tmp_path)


def test_cifar10_splits_shapes_and_labels(cifar10):
    root, arrays = cifar10
    splits = load_dataset("cifar10", in_chans=3, data_dir=root)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [90, 10, 20]
    images, labels = splits.test.tensors
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.float32 and labels.dtype == torch.int64
    assert torch.equal(labels, torch.from_numpy(arrays["test_labels"]))
    assert splits.class_names == CIFAR10_NAMES and splits.native_size == 32 and splits.name == "cifar10"
    train = splits.train.tensors[0]
    assert torch.allclose(train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)  # per-channel train stats
    assert torch.allclose(train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)


def test_cifar10_split_is_fixed_and_stratified(cifar10):
    root, arrays = cifar10
    first = load_dataset("cifar10", in_chans=3, data_dir=root)
    second = load_dataset("cifar10", in_chans=3, data_dir=root, augment="none")
    assert torch.equal(first.val.tensors[0], second.val.tensors[0])
    assert torch.equal(first.train.tensors[1], second.train.tensors[1])
    assert torch.bincount(first.val.tensors[1], minlength=10).tolist() == [1] * 10


def test_cifar10_pixels_round_trip_in_rgb_plane_order(cifar10):
    root, arrays = cifar10
    splits = load_dataset("cifar10", in_chans=3, data_dir=root)
    mean, std = torch.tensor(splits.mean).view(1, 3, 1, 1), torch.tensor(splits.std).view(1, 3, 1, 1)
    restored = splits.test.tensors[0] * std + mean
    expected = torch.from_numpy(arrays["test_data"]).float().div(255).view(-1, 3, 32, 32)
    assert torch.allclose(restored, expected, atol=1e-5)
    first = restored[0]
    assert first[0, 0, 0].item() == pytest.approx(1.0, abs=1e-5)  # red, top left
    assert first[1, 0, 1].item() == pytest.approx(200 / 255, abs=1e-5)  # green, right of it
    assert first[2, 1, 0].item() == pytest.approx(100 / 255, abs=1e-5)  # blue, below it
    assert first.abs().sum().item() == pytest.approx(1 + 200 / 255 + 100 / 255, abs=1e-3)


def test_cifar10_luminance_for_one_channel_models(cifar10):
    root, arrays = cifar10
    splits = load_dataset("cifar10", in_chans=1, data_dir=root)
    assert splits.test.tensors[0].shape == (20, 1, 32, 32) and len(splits.mean) == 1
    restored = splits.test.tensors[0] * splits.std[0] + splits.mean[0]
    rgb = torch.from_numpy(arrays["test_data"]).float().div(255).view(-1, 3, 32, 32)
    luma = 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]
    assert torch.allclose(restored[:, 0], luma, atol=1e-5)
    assert restored[0, 0, 0, 0].item() == pytest.approx(0.299, abs=1e-5)


def test_cifar10_resized_once(cifar10):
    root, arrays = cifar10
    small = load_dataset("cifar10", image_size=16, in_chans=3, data_dir=root)
    assert small.test.tensors[0].shape == (20, 3, 16, 16) and small.native_size == 32
    rgb = torch.from_numpy(arrays["test_data"]).float().div(255).view(-1, 3, 32, 32)
    expected = F.interpolate(rgb, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor(small.mean).view(1, 3, 1, 1), torch.tensor(small.std).view(1, 3, 1, 1)
    assert torch.allclose(small.test.tensors[0] * std + mean, expected, atol=1e-5)
    large = load_dataset("cifar10", image_size=40, in_chans=3, data_dir=root, augment="none")
    assert large.val.tensors[0].shape == (10, 3, 40, 40)


def test_cifar100_uses_fine_labels(tmp_path):
    arrays = write_cifar100(tmp_path)
    splits = load_dataset("cifar100", in_chans=3, data_dir=tmp_path)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [900, 100, 100]
    assert splits.class_names[:2] == ["class000", "class001"] and len(splits.class_names) == 100
    assert torch.equal(splits.test.tensors[1], torch.from_numpy(arrays["test_labels"]))
    assert torch.bincount(splits.val.tensors[1], minlength=100).tolist() == [1] * 100


@pytest.mark.parametrize("protocol", [2, 5])
def test_other_pickle_protocols(tmp_path, protocol):
    arrays = write_cifar10(tmp_path, protocol=protocol)
    splits = load_dataset("cifar10", in_chans=3, data_dir=tmp_path, augment="none")
    assert torch.equal(splits.test.tensors[1], torch.from_numpy(arrays["test_labels"]))


def test_python2_pickle_as_in_the_real_archive(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_pickle([3, 1, 4], data))
    batch = read_cifar_pickle(path)
    assert batch["labels"] == [3, 1, 4]
    assert batch["data"].dtype == np.uint8 and np.array_equal(batch["data"], data)


class _Exploit:
    """Unpickling this would create ``marker``: the kind of code a pickle can run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_malicious_pickle_is_refused_and_never_runs(cifar10):
    root, arrays = cifar10
    marker = root / "pwned"
    path = root / "cifar-10-batches-py" / "data_batch_2"
    write_pickle(path, {b"data": arrays["train_data"][:20], b"labels": [0] * 20, b"payload": _Exploit(marker)})
    with pytest.raises(ConvzooError, match=r"refusing to load .*data_batch_2: its pickle asks for io\.open"):
        load_dataset("cifar10", in_chans=3, data_dir=root)
    assert not marker.exists()
    with open(path, "rb") as file:
        pickle.load(file)  # what a plain pickle.load would have done: proof the exploit is real
    assert marker.exists()


def test_missing_file_names_it_and_the_download_option(cifar10):
    root, _ = cifar10
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(ConvzooError, match=r"data_batch_3 not found in .*cifar-10-batches-py.*--download"):
        load_dataset("cifar10", in_chans=3, data_dir=root)
    with pytest.raises(ConvzooError, match=r"file train not found in .*cifar-100-python"):
        load_dataset("cifar100", in_chans=3, data_dir=root)


def test_truncated_and_malformed_files_are_named(cifar10):
    root, _ = cifar10
    path = root / "cifar-10-batches-py" / "test_batch"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ConvzooError, match=r"test_batch is truncated or corrupt"):
        load_dataset("cifar10", in_chans=3, data_dir=root)
    write_pickle(path, {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(ConvzooError, match=r"test_batch: 'data' should be a uint8 array of shape \(N, 3072\)"):
        load_dataset("cifar10", in_chans=3, data_dir=root)
    write_pickle(path, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(ConvzooError, match=r"test_batch has label 10"):
        load_dataset("cifar10", in_chans=3, data_dir=root)


def test_standard_augmentation_is_padded_crop_and_flip(cifar10):
    root, _ = cifar10
    splits = load_dataset("cifar10", in_chans=3, data_dir=root)
    crop, flip = splits.augment.transforms
    assert isinstance(crop, RandomCrop) and crop.padding == 4 and isinstance(flip, RandomHorizontalFlip)
    black = -torch.tensor(splits.mean) / torch.tensor(splits.std)
    assert torch.allclose(torch.tensor(crop.fill), black)  # pixel value 0 after normalisation

    images = splits.train.tensors[0][:16]
    torch.manual_seed(0)
    augmented = splits.augment(images)
    torch.manual_seed(0)
    assert torch.equal(splits.augment(images), augmented)  # repeatable under a seed
    assert augmented.shape == images.shape

    white = torch.ones(32, 3, 32, 32) * ((1 - torch.tensor(splits.mean)) / torch.tensor(splits.std)).view(1, 3, 1, 1)
    cropped = crop(white)
    is_black = torch.isclose(cropped, black.view(1, 3, 1, 1).expand_as(cropped), atol=1e-5)
    is_white = torch.isclose(cropped, white, atol=1e-5)
    assert (is_black | is_white).all()  # the border is black, nothing else changes
    assert is_black.any() and is_black.all(dim=1).sum(dim=(1, 2)).max() <= 32 * 32 - 28 * 28  # at most 4 px each way
    assert load_dataset("cifar10", in_chans=3, data_dir=root, augment="none").augment is None
    assert load_dataset("cifar10", image_size=64, in_chans=3, data_dir=root).augment.transforms[0].padding == 8


def test_malformed_meta_and_unsupported_channels(cifar10):
    root, _ = cifar10
    with pytest.raises(ConvzooError, match="in_chans=4"):
        load_dataset("cifar10", in_chans=4, data_dir=root)
    write_pickle(root / "cifar-10-batches-py" / "batches.meta", {b"label_names": [b"a", b"b"]})
    with pytest.raises(ConvzooError, match=r"batches.meta: 'label_names' should be a list of 10 names"):
        load_dataset("cifar10", in_chans=3, data_dir=root)
