"""Moving digits: seeded, shaped as promised, balanced, moving as labelled, and no label in any single frame."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.data.video.moving_digits import (
    CLASS_NAMES,
    SPEED_RANGE,
    TEST_SEED,
    MovingDigits,
    draw_moving_digits,
    generate_moving_digits,
    moving_digits_splits,
)
from convzoo.errors import ConvzooError

DIRECTION_COUNT = 8  # classes 0-7 move at constant speed, 8-11 bounce


def circular_centres(weights: torch.Tensor) -> torch.Tensor:
    """Centre of mass ``(..., 2)`` as ``(x, y)`` of weights ``(..., S, S)`` on the torus, in pixels."""
    side = weights.shape[-1]
    angle = 2 * math.pi * torch.arange(side, dtype=torch.float64) / side
    centres = []
    for profile in (weights.sum(-2), weights.sum(-1)):  # over columns (x), over rows (y)
        sin = (profile * torch.sin(angle)).sum(-1)
        cos = (profile * torch.cos(angle)).sum(-1)
        centres.append(torch.remainder(torch.atan2(sin, cos) * side / (2 * math.pi), side))
    return torch.stack(centres, -1)


def digit_pixels(frames: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """1.0 where a frame ``(N, ..., S, S)`` differs from its background ``(N, 1, S, S)`` by more than 0.1."""
    return ((frames - backgrounds).abs() > 0.1).double()


def displacements(clips: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """Unwrapped motion ``(N, T, 2)`` of the centre of the digit's pixels since the first frame.

    The digit's pixels are those where |frame - background| > 0.1 (the ink is at least 0.25
    brighter than the background); weighting by |frame - background| itself would let the
    texture under the digit pull the centre by up to 3 pixels.
    """
    side = clips.shape[-1]
    centres = circular_centres(digit_pixels(clips[:, 0], backgrounds))  # (N, T, 2)
    steps = torch.remainder(centres.diff(dim=1) + side / 2, side) - side / 2  # each step is short: unwrap it
    return torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(1)], 1)


def test_shapes_dtype_range_and_seeding():
    clips, labels = generate_moving_digits(24, frames=8, side=24, seed=3)
    again, again_labels = generate_moving_digits(24, frames=8, side=24, seed=3)
    other, _ = generate_moving_digits(24, frames=8, side=24, seed=4)
    assert clips.shape == (24, 1, 8, 24, 24) and clips.dtype == torch.float32
    assert labels.shape == (24,) and labels.dtype == torch.int64
    assert 0.0 <= clips.min() and clips.max() <= 1.0
    assert torch.equal(clips, again) and torch.equal(labels, again_labels)
    assert not torch.allclose(clips, other)
    default, _ = generate_moving_digits(2)
    assert default.shape == (2, 1, 16, 32, 32)


def test_every_class_appears_balanced():
    assert len(CLASS_NAMES) == 12 == len(set(CLASS_NAMES))
    _, labels = generate_moving_digits(12 * 5 + 7, frames=4, side=16, seed=1)
    counts = torch.bincount(labels, minlength=len(CLASS_NAMES))
    assert counts.min() >= 5 and counts.max() - counts.min() <= 1 and counts.sum() == 67


def test_digit_moves_as_labelled_and_bounces_come_back():
    frames, side = 16, 32
    batch = draw_moving_digits(240, frames=frames, side=side, seed=5)
    moved = displacements(batch.clips, batch.backgrounds)  # (N, T, 2), measured on the pixels
    drawn = batch.positions - batch.positions[:, :1]
    assert (moved - drawn).abs().max() < 1.0  # the pixels follow the drawn path

    angle = torch.deg2rad(45.0 * (batch.labels % DIRECTION_COUNT).double())
    heading = torch.stack([torch.cos(angle), -torch.sin(angle)], -1)  # (N, 2): image y points down
    low, high = SPEED_RANGE
    directional = batch.labels < DIRECTION_COUNT
    total = moved[directional, -1]
    along = (total * heading[directional]).sum(-1)
    across = (total[:, 0] * heading[directional, 1] - total[:, 1] * heading[directional, 0]).abs()
    assert (along > low * (frames - 1) - 1).all() and (along < high * (frames - 1) + 1).all()
    assert (across < 1.0).all()  # the labelled direction, within 4 degrees

    bounces = ~directional
    bounce_axis = torch.deg2rad(torch.tensor([0.0, 90.0, 45.0, 135.0], dtype=torch.float64))[batch.labels[bounces] - 8]
    axis = torch.stack([torch.cos(bounce_axis), -torch.sin(bounce_axis)], -1)
    turn = moved[bounces, (frames - 1) // 2]
    assert ((turn * axis).sum(-1).abs() > low * (frames - 1) / 2 - 1).all()  # out along the axis...
    assert ((turn[:, 0] * axis[:, 1] - turn[:, 1] * axis[:, 0]).abs() < 1.0).all()
    assert (moved[bounces, -1].norm(dim=-1) < 1.0).all()  # ...and back to the start


@pytest.mark.parametrize("frame", [0, 7, 15])
def test_single_frame_position_does_not_depend_on_label(frame):
    # Per class, the mean of the digit's position around the torus (a resultant vector per axis)
    # is near zero for a uniform position: about 1/sqrt(n) = 0.07 for 200 clips per class. A
    # generator that kept the motion inside the frame would put an eastbound digit's first frame
    # on the left, giving a resultant near 0.5 or more.
    batch = draw_moving_digits(200 * len(CLASS_NAMES), seed=11)
    side = batch.clips.shape[-1]
    centres = circular_centres(digit_pixels(batch.clips[:, 0, frame], batch.backgrounds[:, 0]))  # (N, 2)
    phase = torch.polar(torch.ones_like(centres), 2 * math.pi * centres / side)  # (N, 2) complex
    for label in range(len(CLASS_NAMES)):
        resultant = phase[batch.labels == label].mean(0).abs()
        assert (resultant < 0.25).all(), (CLASS_NAMES[label], resultant)


def test_dataset_channels_and_fixed_evaluation_splits():
    gray = MovingDigits(5, frames=4, side=16, seed=2)
    rgb = MovingDigits(5, frames=4, side=16, seed=2, in_chans=3)
    clip, label = rgb[1]
    assert len(rgb) == 5 and clip.shape == (3, 4, 16, 16) and isinstance(label, int)
    assert torch.equal(clip[2], gray[1][0][0]) and label == gray[1][1]

    counts = {"train": 4, "val": 3, "test": 3}
    first = moving_digits_splits(seed=0, frames=4, side=16, counts=counts)
    second = moving_digits_splits(seed=1, frames=4, side=16, counts=counts)
    assert {split: len(data) for split, data in first.items()} == counts
    assert torch.equal(first["test"].clips, second["test"].clips)  # every run is scored on the same clips
    assert torch.equal(first["test"].clips, MovingDigits(3, frames=4, side=16, seed=TEST_SEED, split="test").clips)
    assert not torch.equal(first["train"].clips, second["train"].clips)


@pytest.mark.parametrize(
    "kwargs",
    [{"side": 8}, {"frames": 2}, {"count": 0}, {"split": "holdout"}, {"in_chans": 2}],
)
def test_bad_arguments_fail_clearly(kwargs):
    arguments = {"count": 2, "frames": 4, "side": 16} | kwargs
    with pytest.raises(ConvzooError):
        MovingDigits(arguments.pop("count"), **arguments)
