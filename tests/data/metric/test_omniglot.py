"""Omniglot from a small tree of 105x105 binary PNGs in the released layout, written here."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import helpers

from convzoo.data.metric import KochAffine, load_metric_dataset, load_omniglot
from convzoo.errors import ConvzooError

BACKGROUND = ("Greek", "Korean", "Latin")
EVALUATION = ("ULOG", "Angelic", "Keble", "Atlantean")  # sorted: Angelic, Atlantean | Keble, ULOG
CHARACTERS = ("character01", "character02")
DRAWINGS = 3


def write_omniglot(root: Path) -> Path:
    return helpers.write_omniglot(root, BACKGROUND, EVALUATION, CHARACTERS, DRAWINGS)


@pytest.fixture(scope="module")
def omniglot(tmp_path_factory) -> Path:
    return write_omniglot(tmp_path_factory.mktemp("omniglot"))


def test_classes_are_characters_split_by_alphabet(omniglot):
    splits = load_metric_dataset("omniglot", data_dir=omniglot, in_chans=1)
    assert splits.train_classes == [f"{a}/{c}" for a in BACKGROUND for c in CHARACTERS]
    assert splits.val_classes == [f"{a}/{c}" for a in ("Angelic", "Atlantean") for c in CHARACTERS]
    assert splits.test_classes == [f"{a}/{c}" for a in ("Keble", "ULOG") for c in CHARACTERS]
    assert "Greek/character01" != "Latin/character01" and len(set(splits.class_names)) == 14  # two distinct classes
    assert splits.train_labels.tolist() == [label for label in range(6) for _ in range(DRAWINGS)]
    assert splits.val_labels.tolist() == [label for label in range(6, 10) for _ in range(DRAWINGS)]
    assert [len(splits.train), len(splits.val), len(splits.test)] == [18, 12, 12]
    assert splits.name == "omniglot" and splits.native_size == 105


def test_images_are_inverted_normalised_uint8_in_memory(omniglot):
    splits = load_omniglot(data_dir=omniglot)
    image, label = splits.val[0]
    assert image.shape == (1, 105, 105) and image.dtype == torch.float32 and label.item() == 6
    assert splits.train.images.dtype == torch.uint8
    background = -splits.mean[0] / splits.std[0]
    assert image[0, 0, 0].item() == pytest.approx(background)
    assert image[0, 51, 50].item() > 0  # Angelic's bar: bright ink
    train = torch.stack([splits.train[i][0] for i in range(len(splits.train))])
    assert train.mean().item() == pytest.approx(0.0, abs=1e-5) and train.std().item() == pytest.approx(1.0, abs=1e-4)
    assert isinstance(splits.augment, KochAffine) and splits.augment.fill == pytest.approx(background)


def test_resized_and_three_channel(omniglot):
    splits = load_omniglot(data_dir=omniglot, image_size=28, in_chans=3, augment="none")
    image, _ = splits.test[-1]
    assert image.shape == (3, 28, 28) and torch.equal(image[0], image[2]) and splits.augment is None
    assert splits.mean == [splits.mean[0]] * 3
    augment = load_omniglot(data_dir=omniglot, image_size=21).augment
    assert augment.translate == pytest.approx(0.4)  # Koch's 2 px at 105, scaled


def test_torchvision_folder_is_found(tmp_path):
    write_omniglot(tmp_path / "omniglot-py")
    assert len(load_omniglot(data_dir=tmp_path, augment="none").train) == 18


def test_missing_files_say_where_they_go(tmp_path):
    expected = "expected {}/images_background/<alphabet>/<character>/*.png and {}/images_evaluation/"
    message = "omniglot files not found: " + expected.format(tmp_path, tmp_path)
    with pytest.raises(ConvzooError, match=re.escape(message)):
        load_omniglot(data_dir=tmp_path)
    with pytest.raises(ConvzooError, match=re.escape("needs its files (--data-dir): " + expected.format("DIR", "DIR"))):
        load_metric_dataset("omniglot", in_chans=1)
    with pytest.raises(ConvzooError, match="split by alphabet"):
        load_metric_dataset("omniglot", in_chans=1, data_dir=tmp_path, train_classes=[0])


def _broken(tmp_path: Path, name: str) -> Path:
    root = write_omniglot(tmp_path)
    return root / "images_evaluation" / "Keble" / "character02" / name


@pytest.mark.parametrize("name, write, message", [
    ("bad.png", lambda p: p.write_text("not a png"), "cannot read .*bad.png as a PNG"),
    ("photo.png", lambda p: Image.new("L", (105, 105)).save(p, format="JPEG"), "photo.png is a JPEG file, not a PNG"),
    ("small.png", lambda p: Image.new("1", (100, 100)).save(p), "small.png is 100x100; Omniglot .* are 105x105"),
    ("rgb.png", lambda p: Image.new("RGB", (105, 105)).save(p), r"rgb.png has 3 channels \(RGB\); .* 1-channel"),
    ("notes.txt", lambda p: p.write_text("x"), "notes.txt is not a PNG drawing"),
])
def test_wrong_format_is_one_clear_line(tmp_path, name, write, message):
    write(_broken(tmp_path, name))
    with pytest.raises(ConvzooError, match=message):
        load_omniglot(data_dir=tmp_path)


def test_too_few_evaluation_alphabets(tmp_path):
    root = write_omniglot(tmp_path)
    for alphabet in EVALUATION[1:]:
        shutil.rmtree(root / "images_evaluation" / alphabet)
    with pytest.raises(ConvzooError, match="holds 1 alphabet; 2 are needed"):
        load_omniglot(data_dir=root)
