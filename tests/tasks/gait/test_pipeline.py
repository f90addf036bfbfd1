"""The gait pipeline's pieces: the held-out validation walks, the evenly spread validation frames, the walkers'
protocol at other sizes."""

from __future__ import annotations

import numpy as np
import torch

from convzoo.data.gait import GeneratedWalkers, protocol_for
from convzoo.tasks.gait.pipeline import VAL_SUBJECTS, EvenFrames, hold_out, walkers_protocol


def test_validation_holds_out_two_nm_walks_of_the_first_training_subjects():
    source = GeneratedWalkers(subjects=16, frames=1)
    split = walkers_protocol(16).split(source)  # 10 training subjects
    train, train_labels, val, val_labels = hold_out(source, split)
    assert sorted(train + val) == sorted(split.train) and not set(train) & set(val)
    assert len(val) == 2 * VAL_SUBJECTS and sorted(set(val_labels)) == list(range(VAL_SUBJECTS))
    held = [source.sequences[i] for i in val]
    assert {(s.condition, s.index) for s in held} == {("nm", 6)} and {s.view for s in held} == {0, 90}
    label_of = dict(zip(split.train, split.train_labels))
    assert [label_of[i] for i in train] == train_labels and [label_of[i] for i in val] == val_labels


def test_walkers_protocol_keeps_the_default_share_of_training_subjects():
    assert walkers_protocol(40).train_subjects == protocol_for("walkers").train_subjects == 24
    assert walkers_protocol(10).train_subjects == 6
    assert walkers_protocol(2).train_subjects == 1 and walkers_protocol(3).train_subjects == 2


class Counting:
    """A source of one 5-frame sequence whose frame t is filled with t."""

    name = "stand-in"
    sequences = [None]

    def frames(self, i: int) -> np.ndarray:
        return np.stack([np.full((64, 44), t, np.uint8) for t in range(5)])


def test_validation_sets_spread_their_frames_evenly_and_draw_nothing():
    state = torch.get_rng_state()
    frames, label = EvenFrames(Counting(), [0], [7], frames=3)[0]
    assert label == 7 and frames.shape == (3, 64, 44)
    assert (frames[:, 0, 0] * 255).round().tolist() == [0, 2, 4]
    frames, _ = EvenFrames(Counting(), [0], [7], frames=8)[0]  # more than the sequence has: repeats
    assert (frames[:, 0, 0] * 255).round().tolist() == [0, 1, 1, 2, 2, 3, 3, 4]
    assert torch.equal(torch.get_rng_state(), state)
