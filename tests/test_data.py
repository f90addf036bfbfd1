"""Bundled digits, batched augmentation and image loading."""

from __future__ import annotations

import pytest
import torch

from convzoo.data import DATASETS, NATIVE_SIZES, load_dataset
from convzoo.data.augment import Compose, RandomAffine, RandomCrop, RandomHorizontalFlip
from convzoo.errors import ConvzooError


def test_digits_split_is_fixed_and_stratified():
    first = load_dataset("digits", image_size=16, in_chans=1)
    second = load_dataset("digits", image_size=16, in_chans=3, augment="none")
    assert [len(first.train), len(first.val), len(first.test)] == [1257, 180, 360]
    assert torch.equal(first.test.tensors[1], second.test.tensors[1])
    assert second.test.tensors[0].shape == (360, 3, 16, 16)
    assert torch.bincount(first.test.tensors[1]).min() >= 35  # every digit ~10% of the test split
    train_images = first.train.tensors[0]
    assert abs(train_images.mean().item()) < 1e-4 and abs(train_images.std().item() - 1) < 1e-3
    assert first.augment is not None and second.augment is None


def test_unknown_dataset_and_augmentation():
    with pytest.raises(ConvzooError, match="unknown dataset 'imagenet'; available: cifar10, cifar100, digits, "
                                           "fashion-mnist, folder, mnist"):
        load_dataset("imagenet", image_size=32, in_chans=1)
    with pytest.raises(ConvzooError, match="unknown augmentation"):
        load_dataset("digits", image_size=32, in_chans=1, augment="heavy")


def test_every_dataset_takes_the_same_arguments():
    assert sorted(DATASETS) == ["cifar10", "cifar100", "digits", "fashion-mnist", "folder", "mnist"]
    assert NATIVE_SIZES == {"mnist": 28, "fashion-mnist": 28, "cifar10": 32, "cifar100": 32}
    splits = load_dataset("digits", image_size=8, in_chans=1, augment="none", data_dir="/nonexistent", download=False)
    assert splits.native_size is None and splits.train.tensors[0].shape[1:] == (1, 8, 8)


def test_digits_needs_an_image_size_and_a_supported_channel_count():
    with pytest.raises(ConvzooError, match="'digits' has no native image size; give one"):
        load_dataset("digits", in_chans=1)
    with pytest.raises(ConvzooError, match="image size must be a positive integer"):
        load_dataset("digits", image_size=0, in_chans=1)
    with pytest.raises(ConvzooError, match="in_chans=2 cannot take them"):
        load_dataset("digits", image_size=8, in_chans=2)


def test_affine_without_range_is_identity():
    images = torch.randn(4, 2, 16, 16)
    assert torch.allclose(RandomAffine(0, 0, 0)(images), images, atol=1e-5)


def test_affine_fills_with_background_and_moves_content():
    torch.manual_seed(0)
    images = torch.full((8, 1, 32, 32), -0.5)
    images[:, :, 12:20, 12:20] = 2.0
    warped = RandomAffine(degrees=0, translate=0.2, scale=0, fill=-0.5)(images)
    assert warped.shape == images.shape
    assert torch.isclose(warped[:, :, 0, 0], torch.tensor(-0.5)).all()  # corners stay background
    assert not torch.allclose(warped, images)  # the square moved in at least one image
    assert torch.allclose(warped.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)), rtol=0.02)  # nothing left the frame


def _shifted(image: torch.Tensor, dy: int, dx: int, pad: int, fill: float) -> torch.Tensor:
    """``image`` padded with ``fill`` and cropped at offset ``(dy, dx)``: the reference, one image."""
    padded = torch.nn.functional.pad(image, (pad, pad, pad, pad), value=fill)
    return padded[:, dy:dy + image.shape[1], dx:dx + image.shape[2]]


def test_random_crop_is_a_padded_crop_per_image():
    images = torch.randn(12, 2, 6, 5)
    torch.manual_seed(0)
    cropped = RandomCrop(padding=2, fill=-3.0)(images)
    assert cropped.shape == images.shape
    offsets = set()
    for image, crop in zip(images, cropped):  # each output is one of the 25 shifted copies
        matches = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(crop, _shifted(image, dy, dx, 2, -3.0))]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 3  # offsets drawn per image
    torch.manual_seed(0)
    assert torch.equal(RandomCrop(padding=2, fill=-3.0)(images), cropped)  # the global generator decides
    assert torch.equal(RandomCrop(padding=0)(images), images)


def test_random_crop_fills_each_channel_with_its_value():
    torch.manual_seed(1)
    cropped = RandomCrop(padding=8, fill=[-1.0, -2.0])(torch.zeros(16, 2, 8, 8))
    assert set(cropped[:, 0].unique().tolist()) == {-1.0, 0.0} and set(cropped[:, 1].unique().tolist()) == {-2.0, 0.0}
    with pytest.raises(ValueError, match="fill has 3 values for 2 channels"):
        RandomCrop(padding=1, fill=[0.0, 0.0, 0.0])(torch.zeros(1, 2, 4, 4))


def test_horizontal_flip_mirrors_a_random_half():
    torch.manual_seed(0)
    images = torch.randn(64, 3, 4, 4)
    flipped = RandomHorizontalFlip()(images)
    mirrored = torch.tensor([torch.equal(out, image.flip(-1)) for out, image in zip(flipped, images)])
    kept = torch.tensor([torch.equal(out, image) for out, image in zip(flipped, images)])
    assert (mirrored ^ kept).all() and 16 < mirrored.sum() < 48
    assert torch.equal(RandomHorizontalFlip(p=1.0)(images), images.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(images), images)
    assert torch.equal(Compose([RandomHorizontalFlip(p=1.0), RandomHorizontalFlip(p=1.0)])(images), images)
