"""Rank-1 under CASIA-B's protocol on hand-made features whose answer is known: the view table, the identical view
left out, the per-view and condition means, the JSON report and its printed table."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from convzoo.tasks.gait import rank1_table, view_scores
from convzoo.tasks.gait.scoring import (
    EmbeddedSequences,
    embed_sequences,
    plot_tables,
    protocol_report,
    summary_line,
    table_lines,
)

VIEWS = (0, 90, 180)
# 1-D features. Gallery: subject A at 0, 10, 20 and B at 1, 13, 30 for views 0, 90, 180.
GALLERY = {("A", 0): 0.0, ("A", 90): 10.0, ("A", 180): 20.0, ("B", 0): 1.0, ("B", 90): 13.0, ("B", 180): 30.0}
# Probes, and what their nearest gallery item of each other view is (worked out by hand):
#   A@0 0.1:   90 -> A (9.9 < 12.9), 180 -> A           row 0: [-, 1, 1]
#   B@0 29:    90 -> B (16 < 19),    180 -> B
#   A@90 14:    0 -> B (13 < 14),    180 -> A (6 < 16)  row 1: [1/2, -, 1/2]
#   B@90 12:    0 -> B (11 < 12),    180 -> A (8 < 18)
#   A@180 0.4:  0 -> A,               90 -> A           row 2: [1, 1/2, -]
#   B@180 0.6:  0 -> B (0.4 < 0.6),   90 -> A (9.4 < 12.4)
# A@90's nearest gallery item of all is B@90 (1 away): counting the identical view would change row 1.
PROBES = {("A", 0): 0.1, ("B", 0): 29.0, ("A", 90): 14.0, ("B", 90): 12.0, ("A", 180): 0.4, ("B", 180): 0.6}
EXPECTED = np.array([[np.nan, 1.0, 1.0], [0.5, np.nan, 0.5], [1.0, 0.5, np.nan]])


def as_arguments(items: dict[tuple[str, int], float]) -> tuple[torch.Tensor, list[str], list[int]]:
    keys = list(items)
    return torch.tensor([[items[key]] for key in keys]), [s for s, _ in keys], [v for _, v in keys]


def test_rank1_table_on_known_features():
    table = rank1_table(*as_arguments(PROBES), *as_arguments(GALLERY), VIEWS)
    np.testing.assert_array_equal(table, EXPECTED)  # NaN where the views are identical
    per_view, mean = view_scores(table)
    np.testing.assert_allclose(per_view, [1.0, 0.5, 0.75])
    assert mean == pytest.approx(0.75)


def test_the_order_of_the_items_does_not_matter():
    shuffled_probes = dict(reversed(list(PROBES.items())))
    shuffled_gallery = dict(sorted(GALLERY.items(), key=lambda item: -item[1]))
    table = rank1_table(*as_arguments(shuffled_probes), *as_arguments(shuffled_gallery), VIEWS)
    np.testing.assert_array_equal(table, EXPECTED)


def test_a_view_without_probes_is_nan_and_left_out_of_the_mean():
    probes = {key: value for key, value in PROBES.items() if key[1] != 90}
    table = rank1_table(*as_arguments(probes), *as_arguments(GALLERY), VIEWS)
    assert np.isnan(table[1]).all()
    per_view, mean = view_scores(table)
    assert np.isnan(per_view[1]) and mean == pytest.approx((1.0 + 0.75) / 2)


def sequence(name: str, condition: str, index: int, view: int) -> SimpleNamespace:
    return SimpleNamespace(subject=name, condition=condition, index=index, view=view)


def test_protocol_report_scores_each_condition_and_is_strict_json(tmp_path):
    """NM probes are the table above; BG probes of B are nearest A at every view: 0 for B, 1 for A."""
    sequences, features = [], []
    for (name, view), value in GALLERY.items():
        sequences.append(sequence(name, "nm", 1, view))
        features.append(value)
    gallery = list(range(len(sequences)))
    for (name, view), value in PROBES.items():
        sequences.append(sequence(name, "nm", 5, view))
        features.append(value)
    nm = list(range(len(gallery), len(sequences)))
    for (name, view), value in GALLERY.items():  # BG probes: every one lies on subject A's gallery item
        sequences.append(sequence(name, "bg", 1, view))
        features.append(GALLERY[("A", view)] + 0.01)
    bg = list(range(len(gallery) + len(nm), len(sequences)))
    source = SimpleNamespace(sequences=sequences)
    split = SimpleNamespace(gallery=gallery, probes={"NM": nm, "BG": bg})
    protocol = SimpleNamespace(gallery=("nm", (1, 2, 3, 4)), probes={"NM": ("nm", (5, 6)), "BG": ("bg", (1, 2))})
    order = list(reversed(range(len(sequences))))  # embedded in another order than the source's
    embedded = EmbeddedSequences(order, torch.tensor([[features[i]] for i in order]))
    report = protocol_report(source, split, protocol, embedded)
    assert report["rank1_nm"] == pytest.approx(0.75) and report["rank1_bg"] == pytest.approx(0.5)
    assert report["views"] == [0, 90, 180] and report["subjects"] == 2 and report["gallery"] == 6
    assert report["tables"]["NM"][1] == [0.5, None, 0.5] and report["per_view"]["NM"] == [1.0, 0.5, 0.75]
    assert report["protocol"] == {"gallery": "NM #1-4", "NM": "NM #5-6", "BG": "BG #1-2"}
    json.dumps(report, allow_nan=False)
    assert summary_line(report).startswith("rank-1  NM 75.0%  BG 50.0%")
    lines = table_lines(report)
    assert lines[1].split() == ["probe", "view", "0", "90", "180", "mean"]
    assert lines[2].split() == ["NM", "#5-6", "100.0", "50.0", "75.0", "75.0"]
    plot_tables(report, tmp_path / "tables.png", "test")
    assert (tmp_path / "tables.png").stat().st_size > 1000


def test_a_condition_without_probes_reports_none():
    report = {"subjects": 3, "per_view": {"NM": [1.0], "CL": [math.nan]}, "rank1_nm": 1.0, "rank1_cl": None}
    assert summary_line(report).startswith("rank-1  NM 100.0%  CL n/a%")


class LengthSource:
    """Sequences of 1-4 frames whose pixels encode the sequence and the frame."""

    name = "stand-in"

    def __init__(self, lengths: list[int]) -> None:
        self.lengths = lengths
        self.sequences = [sequence(f"{i:03d}", "nm", 1, 0) for i in range(len(lengths))]

    def frames(self, i: int) -> np.ndarray:
        return np.stack([np.full((64, 44), 10 * i + t, np.uint8) for t in range(self.lengths[i])])


class SetFeatures(torch.nn.Module):
    """(B, T, 64, 44) -> (B, 2, 2): each set's max and mean pixel, and its frame count, as two 'strips'."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        count = torch.full((x.shape[0],), float(x.shape[1]))
        return self.scale * torch.stack([torch.stack([x.amax((1, 2, 3)), x.mean((1, 2, 3))], 1),
                                         torch.stack([count, count], 1)], 1)


@pytest.mark.parametrize("max_frames", [1, 4, 1024])
def test_embedding_groups_sequences_by_length_and_keeps_their_order(max_frames):
    lengths = [3, 1, 3, 2, 3, 1]
    source, model = LengthSource(lengths), SetFeatures()
    indices = [5, 0, 2, 3, 1, 4]
    embedded = embed_sequences(model, source, indices, max_frames=max_frames)
    assert embedded.features.shape == (6, 4)
    for row, index in enumerate(indices):
        values = (10 * index + np.arange(lengths[index])) / 255
        expected = [values.max(), values.mean(), lengths[index], lengths[index]]
        np.testing.assert_allclose(embedded.features[row].numpy(), expected, rtol=1e-6)
    assert all(shape[0] * shape[1] <= max(max_frames, shape[1]) for shape in model.calls)  # the frame budget
    assert len(model.calls) == {1: 6, 4: 5, 1024: 3}[max_frames]  # 4: each 3-frame set alone, both 1-frame sets together
    torch.testing.assert_close(embedded.rows([3, 5]), embedded.features[[3, 0]])
