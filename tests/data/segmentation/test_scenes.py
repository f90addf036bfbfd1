"""The digit scenes: seeded, shaped as promised, every class present, not solvable by colour alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convzoo.data.segmentation import load_segmentation_data
from convzoo.data.segmentation.scenes import CLASS_NAMES, SCENE_COUNTS, generate_scenes
from convzoo.errors import ConvzooError


def test_same_seed_same_scenes_and_another_seed_others():
    images, masks = generate_scenes(8, 32, seed=3)
    again, again_masks = generate_scenes(8, 32, seed=3)
    other, _ = generate_scenes(8, 32, seed=4)
    torch.testing.assert_close(images, again)
    assert torch.equal(masks, again_masks)
    assert not torch.allclose(images, other)


def test_shapes_ranges_and_classes():
    images, masks = generate_scenes(200, 64, seed=0)
    assert images.shape == (200, 3, 64, 64) and images.dtype == torch.float32
    assert masks.shape == (200, 64, 64)
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(masks.unique().tolist()) == set(range(11))  # every digit and the background
    digits_per_scene = [len(set(m.unique().tolist()) - {0}) for m in masks]
    assert 1 <= min(digits_per_scene) and max(digits_per_scene) <= 3


def test_digits_are_large_enough_to_learn():
    _, masks = generate_scenes(100, 64, seed=0)
    rows = [(m > 0).any(dim=1).nonzero() for m in masks]
    heights = [int(r.max() - r.min() + 1) for r in rows if len(r)]
    assert np.median(heights) >= 14  # a digit's ink spans most of its 20-28 pixel box


def test_loader_splits_fixed_evaluation_and_seeded_training():
    first = load_segmentation_data("scenes", seed=0, augment=False)
    second = load_segmentation_data("scenes", seed=1, augment=False)
    assert first.class_names == CLASS_NAMES and first.in_chans == 3 and first.dims == 2 and first.ignore_index == 255
    assert (len(first.train), len(first.val), len(first.test)) == tuple(SCENE_COUNTS.values())
    assert torch.equal(first.test[0][0], second.test[0][0])  # every run is scored on the same scenes
    assert not torch.equal(first.train[0][0], second.train[0][0])
    image, mask = first.train[0]
    assert image.shape == (3, 64, 64) and mask.dtype == torch.int64 and mask.shape == (64, 64)


def test_gray_and_size_options():
    data = load_segmentation_data("scenes", in_chans=1, image_size=32, augment=False)
    image, mask = data.val[0]
    assert image.shape == (1, 32, 32) and mask.shape == (32, 32) and data.in_chans == 1


def test_training_split_augments_and_evaluation_does_not():
    data = load_segmentation_data("scenes", augment=True)
    torch.manual_seed(0)
    first = data.train[0]
    torch.manual_seed(1)
    second = data.train[0]
    assert not torch.equal(first[0], second[0])
    assert torch.equal(data.val[0][0], data.val[0][0])


def test_too_small_a_side_is_refused():
    with pytest.raises(ConvzooError, match="at least 16"):
        generate_scenes(2, 8, seed=0)


def test_texture_alone_cannot_find_the_digits():
    """A per-pixel colour classifier, class-balanced, finds the digits' ink no better than by chance."""
    from sklearn.linear_model import LogisticRegression

    train, train_masks = generate_scenes(150, 64, seed=0, split="train")
    test, test_masks = generate_scenes(80, 64, seed=9, split="test")
    pixels = train.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    foreground = train_masks.reshape(-1).numpy() > 0
    sample = np.random.default_rng(0).choice(len(pixels), 40_000, replace=False)
    classifier = LogisticRegression(class_weight="balanced").fit(pixels[sample], foreground[sample])
    predicted = classifier.predict(test.permute(0, 2, 3, 1).reshape(-1, 3).numpy()).astype(bool)
    truth = test_masks.reshape(-1).numpy() > 0
    iou = (predicted & truth).sum() / (predicted | truth).sum()
    assert iou < 0.3
