"""Silhouette sets: every frame in order for evaluation, k frames drawn with torch's generator for training."""

from __future__ import annotations

import pytest
import torch

from convzoo.data.gait import GeneratedWalkers, SilhouetteSets
from convzoo.errors import ConvzooError


@pytest.fixture(scope="module")
def source():
    return GeneratedWalkers(subjects=2, frames=5, seed=1)


def test_every_frame_in_order(source):
    sets = SilhouetteSets(source, [3, 200], [1, 0], frames_per_set=None)
    assert len(sets) == 2
    frames, label = sets[1]
    assert label == 0 and frames.dtype == torch.float32 and frames.shape == (5, 64, 44)
    torch.testing.assert_close(frames, torch.tensor(source.frames(200)).float() / 255, rtol=0, atol=0)


def test_drawn_frames_come_from_the_sequence_with_replacement(source):
    sets = SilhouetteSets(source, [7], [4], frames_per_set=30)
    torch.manual_seed(0)
    frames, label = sets[0]
    assert label == 4 and frames.shape == (30, 64, 44)
    whole = torch.tensor(source.frames(7)).float() / 255  # (5, 64, 44)
    matches = (frames[:, None] == whole[None]).flatten(2).all(dim=2)  # (30, 5): which frame each drawn one is
    assert (matches.sum(dim=1) >= 1).all()
    assert matches.any(dim=0).sum() >= 4  # 30 draws from 5 frames reach nearly all of them


def test_draws_follow_torchs_global_generator(source):
    sets = SilhouetteSets(source, [7, 8], [0, 0], frames_per_set=6)
    torch.manual_seed(3)
    first = [sets[0][0], sets[1][0]]
    torch.manual_seed(3)
    torch.testing.assert_close([sets[0][0], sets[1][0]], first, rtol=0, atol=0)
    assert not torch.equal(sets[0][0], first[0]) or not torch.equal(sets[1][0], first[1])


def test_bad_arguments_are_one_line(source):
    with pytest.raises(ConvzooError, match="2 indices but 1 labels"):
        SilhouetteSets(source, [0, 1], [0], frames_per_set=None)
    with pytest.raises(ConvzooError, match="frames_per_set must be at least 1"):
        SilhouetteSets(source, [0], [0], frames_per_set=0)
    with pytest.raises(ConvzooError, match="index 220 is not one of the 220 sequences of walkers"):
        SilhouetteSets(source, [220], [0], frames_per_set=None)
