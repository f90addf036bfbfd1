"""GaitSet's per-strip batch-all triplet loss against a direct loop over strips and triplets, and its engine task."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from convzoo.errors import InputShapeError
from convzoo.tasks.gait import strip_triplet_loss
from convzoo.tasks.gait.losses import strip_distances
from convzoo.tasks.gait.objective import GaitTask


def direct_loss(features: torch.Tensor, labels: list[int], margin: float) -> tuple[float, list[int], int]:
    """The released code's loss by loops: each strip's mean over its non-zero triplets, then the strips' mean."""
    n, strips, _ = features.shape
    per_strip, active = [], []
    triplets = 0
    for s in range(strips):
        losses = []
        for a, p, q in itertools.product(range(n), repeat=3):
            if a == p or labels[a] != labels[p] or labels[a] == labels[q]:
                continue
            d_ap = math.dist(features[a, s].tolist(), features[p, s].tolist())
            d_an = math.dist(features[a, s].tolist(), features[q, s].tolist())
            losses.append(max(0.0, margin + d_ap - d_an))
        triplets = len(losses)
        nonzero = [value for value in losses if value > 0]
        active.append(len(nonzero))
        per_strip.append(sum(nonzero) / len(nonzero) if nonzero else 0.0)
    return sum(per_strip) / strips, active, triplets


@pytest.mark.parametrize("margin", [0.2, 1.5])
def test_loss_equals_a_loop_over_strips_and_triplets(margin):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(7, 5, 3, generator=generator, dtype=torch.float64)
    labels = [0, 0, 1, 1, 1, 2, 2]
    result = strip_triplet_loss(features, torch.tensor(labels), margin)
    expected, active, triplets = direct_loss(features, labels, margin)
    assert result.loss.item() == pytest.approx(expected, rel=1e-5)
    assert result.active.tolist() == active and result.triplets == triplets
    assert triplets == 2 * 5 + 6 * 4 + 2 * 5  # anchor-positive pairs of each class times its negatives


def test_a_strip_with_every_triplet_satisfied_adds_zero_not_nan():
    """Strip 0 separates the subjects by far more than the margin; strip 1 does not separate them at all."""
    features = torch.zeros(4, 2, 1)
    features[:, 0, 0] = torch.tensor([0.0, 0.1, 10.0, 10.1])
    labels = torch.tensor([0, 0, 1, 1])
    result = strip_triplet_loss(features, labels, 0.2)
    assert result.active.tolist() == [0, 8]
    # strip 1: all distances 0, every triplet costs the margin
    assert result.loss.item() == pytest.approx((0.0 + 0.2) / 2)


def test_gradients_are_finite_with_duplicate_sets():
    features = (0.01 * torch.randn(4, 3, 8)).repeat(2, 1, 1).requires_grad_()  # each set twice: zero distances
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    strip_triplet_loss(features, labels).loss.backward()
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


def test_strip_distances_are_each_strips_euclidean_distances():
    features = torch.randn(5, 4, 6, dtype=torch.float64)
    distances = strip_distances(features)
    assert distances.shape == (4, 5, 5)
    for s in range(4):
        torch.testing.assert_close(distances[s], torch.cdist(features[:, s], features[:, s]).float(),
                                   atol=1e-5, rtol=1e-5)


def test_bad_shapes_are_named():
    with pytest.raises(InputShapeError, match=r"\(N, strips, D\)"):
        strip_triplet_loss(torch.zeros(4, 8), torch.zeros(4))
    with pytest.raises(InputShapeError, match=r"labels must be \(4,\)"):
        strip_triplet_loss(torch.zeros(4, 2, 8), torch.zeros(3))


def test_task_logs_the_active_share_and_in_batch_recall():
    """Sets 0-1 of subject 0 and 2-3 of subject 1 lie apart on every strip: recall 1, no active triplet."""
    features = torch.zeros(4, 3, 2)
    features[2:, :, 0] = 5.0
    features[[1, 3], :, 1] = 0.1
    labels = torch.tensor([0, 0, 1, 1])
    task = GaitTask(margin=0.2)
    sums = task.batch_sums(features, labels)
    assert sums["triplets"].item() == 8 * 3 and sums["active_triplets"].item() == 0
    assert task.summarize(sums, 4) == {"active": 0.0, "recall@1": 1.0}
    assert task.loss(features, labels).item() == 0.0
    swapped = features[[0, 2, 1, 3]]  # the same points, now labelled across the gap: every triplet active
    sums = task.batch_sums(swapped, labels)
    assert task.summarize(sums, 4) == {"active": 1.0, "recall@1": 0.0}
    assert task.summarize({}, 0) == {"active": 0.0, "recall@1": 0.0}  # a split with no batch
