"""Bundled digits, batched augmentation and image loading."""

from __future__ import annotations

import pytest
import torch

from convzoo.data import load_dataset
from convzoo.data.augment import RandomAffine
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
    with pytest.raises(ConvzooError, match="unknown dataset 'imagenet'; available: digits"):
        load_dataset("imagenet", image_size=32, in_chans=1)
    with pytest.raises(ConvzooError, match="unknown augmentation"):
        load_dataset("digits", image_size=32, in_chans=1, augment="heavy")


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
