"""Generated walkers: seeded, CASIA-B's sequences, identities apart, bags, coats and views that show."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convzoo.data.gait import CONDITIONS, VIEWS, GaitSequence, GaitSource, GeneratedWalkers
from convzoo.data.gait.walkers import DEFAULT_SUBJECTS, SCALE, _bag_corners, _Canvas, _pose, render_frame, sample_walker
from convzoo.errors import ConvzooError


def index_of(source, subject: str, condition: str, index: int, view: int) -> int:
    return source.sequences.index(GaitSequence(subject, condition, index, view))


def raw(walker, condition: str, view: int, phase: float = 0.7) -> np.ndarray:
    """One raw drawing, the walker's arms swinging as usual (no bag adjustment) so conditions compare."""
    return render_frame(walker, condition, view, phase, walker.lean, np.zeros(6), (walker.arm_swing,) * 2) > 0


@pytest.fixture(scope="module")
def walkers():
    return GeneratedWalkers(subjects=3, frames=4, seed=0)


def test_sequences_are_casia_bs(walkers):
    assert isinstance(walkers, GaitSource) and walkers.name == "walkers"
    assert len(walkers.sequences) == 3 * sum(CONDITIONS.values()) * len(VIEWS) == 330
    assert walkers.sequences == sorted(walkers.sequences)
    assert walkers.sequences[0].name == "001/bg-01/000" and walkers.sequences[-1].name == "003/nm-06/180"
    assert {s.subject for s in walkers.sequences} == {"001", "002", "003"}
    assert GeneratedWalkers().subjects == DEFAULT_SUBJECTS


def test_frames_are_preprocessed_silhouettes(walkers):
    frames = walkers.frames(index_of(walkers, "002", "nm", 3, 72))
    assert frames.shape == (4, 64, 44) and frames.dtype == np.uint8
    assert (frames.max(axis=(1, 2)) == 255).all() and (frames[:, 0].max(axis=1) > 0).all()  # body from the top row
    assert not frames.flags.writeable  # the cached copy cannot be changed by a reader


def test_deterministic_for_a_seed_whatever_was_read_before():
    first, second = GeneratedWalkers(subjects=3, frames=4, seed=5), GeneratedWalkers(subjects=4, frames=4, seed=5)
    i = index_of(first, "003", "cl", 2, 126)
    first.frames(0)
    np.testing.assert_array_equal(first.frames(i), second.frames(index_of(second, "003", "cl", 2, 126)))
    other = GeneratedWalkers(subjects=3, frames=4, seed=6)
    assert not np.array_equal(first.frames(i), other.frames(i))


def test_walks_of_a_sequence_cover_its_gait(walkers):
    """Frames of one walk differ (the limbs move) and two walks of one subject start at different phases."""
    frames = walkers.frames(index_of(walkers, "001", "nm", 1, 90)).astype(float)
    assert all(np.abs(frames[t] - frames[t + 1]).mean() > 3 for t in range(3))
    again = walkers.frames(index_of(walkers, "001", "nm", 2, 90)).astype(float)
    assert np.abs(frames - again).mean() > 3


def test_identities_differ_more_than_walks_of_one():
    """The average silhouette of a walk is nearest to another walk of its own subject (same view)."""
    source = GeneratedWalkers(subjects=4, frames=16, seed=0)
    subjects = ["001", "002", "003", "004"]
    for view in (36, 90):
        gallery = {s: source.frames(index_of(source, s, "nm", 1, view)).mean(axis=0) for s in subjects}
        for subject in subjects:
            probe = source.frames(index_of(source, subject, "nm", 5, view)).mean(axis=0)
            nearest = min(subjects, key=lambda s: np.abs(gallery[s] - probe).sum())
            assert nearest == subject, (view, subject)


def test_walkers_have_different_bodies_and_gaits():
    population = [sample_walker(np.random.default_rng([0, n])) for n in range(1, 41)]
    for field in ("leg", "shoulders", "depth", "hip_swing", "arm_swing", "cadence", "lean"):
        values = np.array([getattr(w, field) for w in population])
        assert values.std() / abs(values.mean()) > 0.02, field  # a realistic spread, never one size for all


def test_a_bag_and_a_coat_add_to_the_silhouette():
    walker = sample_walker(np.random.default_rng([0, 1]))
    normal = raw(walker, "nm", 90)
    for condition in ("bg", "cl"):
        changed = raw(walker, condition, 90)
        assert (changed >= normal).all()  # the body is still there
        assert changed.sum() > normal.sum() * 1.05, condition


@pytest.mark.parametrize("kind", ["side", "back"])
def test_the_bag_is_a_box_whose_outline_changes_with_the_view(kind):
    """Drawn alone at phase 0 (no swing), the box is as wide as its lateral side head-on and its length side-on."""
    walker = next(w for n in range(1, 30) if (w := sample_walker(np.random.default_rng([0, n]))).bag_kind == kind)
    along, lateral, vertical = walker.bag_size
    joints = _pose(walker, 0.0, walker.lean, np.zeros(6), (walker.arm_swing,) * 2)
    diagonal = (along + lateral) / 2**0.5  # at 45 degrees both faces show
    for view, width, height in ((0, lateral, vertical), (90, along, vertical), (45, diagonal, vertical)):
        canvas = _Canvas(view)
        canvas.hull(_bag_corners(walker, joints, 0.0))
        drawn = np.asarray(canvas.image) > 0
        assert abs(np.flatnonzero(drawn.any(axis=0)).size - SCALE * width) <= 2, view
        assert abs(np.flatnonzero(drawn.any(axis=1)).size - SCALE * height) <= 2, view
    for view in (0, 90):  # and the silhouette shows it, beyond the body's outline
        assert (raw(walker, "bg", view) & ~raw(walker, "nm", view)).sum() > 40, view


def test_views_differ():
    walker = sample_walker(np.random.default_rng([0, 2]))
    drawings = [raw(walker, "nm", view, phase=math.pi / 2) for view in VIEWS]
    widths = [np.ptp(np.flatnonzero(d.any(axis=0))) for d in drawings]
    assert widths[VIEWS.index(90)] > 1.5 * widths[VIEWS.index(0)]  # mid-stride, the legs spread side-on
    for a, b in zip(drawings, drawings[1:]):
        assert (a != b).mean() > 0.002


def test_bad_sizes_are_refused():
    with pytest.raises(ConvzooError, match="subjects >= 1"):
        GeneratedWalkers(subjects=0)
