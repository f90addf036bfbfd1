"""Clip sampling and clip transforms."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convzoo.data.video.sampling import (
    KINETICS_MEAN,
    KINETICS_STD,
    VideoTransform,
    center_crop,
    clip_indices,
    clip_span,
    frames_to_clip,
    normalize_clip,
    random_crop,
    resize_short_side,
    to_gray,
)
from convzoo.errors import ConvzooError


def test_clip_span_counts_the_frames_a_strided_clip_covers():
    assert clip_span(16) == 16
    assert clip_span(4, stride=2) == 7


def test_uniform_clips_are_evenly_spaced_from_first_to_last_start():
    clips = clip_indices(19, clip_length=4, stride=2, mode="uniform", num_clips=3)
    assert clips == [[0, 2, 4, 6], [6, 8, 10, 12], [12, 14, 16, 18]]


def test_one_uniform_clip_is_the_centre_one():
    assert clip_indices(20, clip_length=4, stride=2, mode="uniform") == [[6, 8, 10, 12]]


def test_random_clips_are_seeded_and_cover_every_start():
    def draw(seed: int) -> list[int]:
        return clip_indices(10, 4, 2, "random", generator=torch.Generator().manual_seed(seed))[0]

    assert draw(3) == draw(3)
    starts = {draw(seed)[0] for seed in range(60)}
    assert starts == {0, 1, 2, 3}  # every start at which a 7-frame span fits in 10 frames
    assert all(draw(seed)[1:] == [s + 2 for s in draw(seed)[:-1]] for seed in range(5))


def test_a_video_shorter_than_one_clip_is_refused():
    with pytest.raises(ConvzooError, match="spans 31 frames; the video has 20"):
        clip_indices(20, clip_length=16, stride=2)
    with pytest.raises(ConvzooError, match="'uniform' or 'random'"):
        clip_indices(20, 4, mode="dense")


def test_frames_become_a_channels_first_unit_clip():
    frames = torch.full((5, 24, 32, 3), 255, dtype=torch.uint8)
    frames[..., 1] = 0
    clip = frames_to_clip(frames)
    assert clip.shape == (3, 5, 24, 32) and clip.dtype == torch.float32
    assert clip[0].min() == 1 and clip[1].max() == 0


def test_short_side_resize_keeps_the_aspect_ratio():
    frames = torch.full((2, 24, 32, 3), 128, dtype=torch.uint8)
    resized = resize_short_side(frames, 48)
    assert resized.shape == (2, 48, 64, 3) and resized.dtype == torch.uint8
    assert (resized == 128).all()
    assert resize_short_side(torch.zeros(2, 40, 30, 3, dtype=torch.uint8), 15).shape == (2, 20, 15, 3)


def test_resizing_bytes_matches_resizing_the_float_clip():
    frames = torch.randint(0, 256, (3, 36, 50, 3), dtype=torch.uint8)
    float_frames = frames.permute(0, 3, 1, 2).float()
    expected = F.interpolate(float_frames, size=(20, 28), mode="bilinear", align_corners=False, antialias=True)
    resized = resize_short_side(frames, 20).permute(0, 3, 1, 2).float()
    assert (resized - expected).abs().max() <= 1.0


def test_crops_take_the_same_window_in_every_frame():
    clip = torch.arange(8 * 10, dtype=torch.float32).view(1, 1, 8, 10).repeat(3, 4, 1, 1)
    centre = center_crop(clip, 4)
    torch.testing.assert_close(centre, clip[..., 2:6, 3:7])
    window = random_crop(clip, 4, torch.Generator().manual_seed(0))
    assert window.shape == (3, 4, 4, 4)
    assert all(torch.equal(window[:, t], window[:, 0]) for t in range(4))
    with pytest.raises(ConvzooError, match="crop of 9x9 does not fit in frames of 8x10"):
        center_crop(clip, 9)


def test_kinetics_normalisation_maps_the_mean_to_zero():
    clip = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1).expand(3, 2, 4, 4)
    torch.testing.assert_close(normalize_clip(clip), torch.zeros(3, 2, 4, 4))
    one_std = clip + torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    torch.testing.assert_close(normalize_clip(one_std), torch.ones(3, 2, 4, 4))


@pytest.mark.parametrize("train", [False, True])
def test_video_transform_gives_a_normalised_square_clip(train):
    transform = VideoTransform(short_side=32, crop_size=28, train=train)
    frames = torch.randint(0, 256, (6, 24, 40, 3), dtype=torch.uint8)
    clip = pickle.loads(pickle.dumps(transform))(frames)  # picklable, for DataLoader workers
    assert clip.shape == (3, 6, 28, 28) and torch.isfinite(clip).all()
    with pytest.raises(ConvzooError, match="crop_size 40 is larger than short_side 32"):
        VideoTransform(short_side=32, crop_size=40)


def test_gray_clips_are_the_frames_luma_as_pil_computes_it():
    from PIL import Image

    frames = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    pil_luma = torch.from_numpy(np.array(Image.fromarray(frames[1].numpy()).convert("L"))).float() / 255
    gray = to_gray(frames_to_clip(frames))  # (1, 2, 8, 8)
    assert gray.shape == (1, 2, 8, 8)
    torch.testing.assert_close(gray[0, 1], pil_luma, atol=1 / 255, rtol=0)  # PIL rounds to 8 bits
    clip = VideoTransform(short_side=8, crop_size=8, mean=(0.0,), std=(1.0,), in_chans=1)(frames)
    torch.testing.assert_close(clip, gray)


def test_a_gray_transform_needs_one_mean_and_std():
    with pytest.raises(ConvzooError, match="1-channel clips need 1 means and stds, got 3 and 3"):
        VideoTransform(in_chans=1)
    with pytest.raises(ConvzooError, match="3 channels .RGB. or 1 .gray., not 2"):
        VideoTransform(in_chans=2)

