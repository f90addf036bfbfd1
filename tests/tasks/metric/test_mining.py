"""Triplet mining and distances against slow, obvious loops over every triplet."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.tasks.metric.distances import pair_distances, pairwise_distances
from convzoo.tasks.metric.losses import TripletLoss
from convzoo.tasks.metric.mining import batch_hard, label_masks


def per_triplet(d_ap: float, d_an: float, margin: float, soft: bool) -> float:
    return math.log1p(math.exp(d_ap - d_an)) if soft else max(0.0, margin + d_ap - d_an)


def reference(mining: str, d: list[list[float]], labels: list[int], margin: float, soft: bool) -> float:
    """The loss by loops: one Python float per triplet, averaged as the docstrings say."""
    n = len(labels)
    positives = {a: [p for p in range(n) if p != a and labels[p] == labels[a]] for a in range(n)}
    negatives = {a: [x for x in range(n) if labels[x] != labels[a]] for a in range(n)}
    losses = []
    for a in range(n):
        if not positives[a] or not negatives[a]:
            continue
        if mining == "batch_hard":
            hardest_p, hardest_n = max(d[a][p] for p in positives[a]), min(d[a][x] for x in negatives[a])
            losses.append(per_triplet(hardest_p, hardest_n, margin, soft))
        for p in positives[a]:
            if mining == "batch_all":
                losses += [per_triplet(d[a][p], d[a][x], margin, soft) for x in negatives[a]]
            elif mining == "semihard":
                farther = [d[a][x] for x in negatives[a] if d[a][x] > d[a][p]]
                chosen = min(farther) if farther else max(d[a][x] for x in negatives[a])
                losses.append(per_triplet(d[a][p], chosen, margin, soft))
    if mining == "batch_all":
        losses = [value for value in losses if value > 0]
    return sum(losses) / len(losses) if losses else 0.0


def distance_lists(embeddings: torch.Tensor, squared: bool) -> list[list[float]]:
    rows = embeddings.double().tolist()
    return [[math.dist(x, y) ** (2 if squared else 1) for y in rows] for x in rows]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("mining", ["batch_hard", "batch_all", "semihard"])
@pytest.mark.parametrize(("squared", "soft"), [(False, False), (True, False), (False, True)])
def test_mining_equals_the_loop_reference(seed, mining, squared, soft):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (14,), generator=generator)
    embeddings = torch.randn(14, 3, generator=generator)
    margin = 0.5
    loss = TripletLoss(margin=margin, mining=mining, squared=squared, soft=soft)(embeddings, labels)
    expected = reference(mining, distance_lists(embeddings, squared), labels.tolist(), margin, soft)
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_given_triplets_equal_the_loop_reference(soft):
    embeddings = torch.randn(12, 4, generator=torch.Generator().manual_seed(5))
    rows = embeddings.double().tolist()
    expected = [per_triplet(math.dist(rows[t], rows[t + 1]), math.dist(rows[t], rows[t + 2]), 0.3, soft)
                for t in range(0, 12, 3)]
    loss = TripletLoss(margin=0.3, mining="none", soft=soft)(embeddings)
    assert loss.item() == pytest.approx(sum(expected) / 4, rel=1e-5)


def test_distances_equal_cdist_with_exact_zeros():
    embeddings = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
    embeddings[4] = embeddings[1]
    distances = pairwise_distances(embeddings)
    torch.testing.assert_close(distances, torch.cdist(embeddings, embeddings), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pairwise_distances(embeddings, squared=True), distances.pow(2), atol=1e-4, rtol=1e-5)
    assert (distances.diagonal() == 0).all() and (distances >= 0).all()
    torch.testing.assert_close(pair_distances(embeddings[:4], embeddings[4:8]), (embeddings[:4] - embeddings[4:8]).norm(dim=1))
    assert pairwise_distances(embeddings.bfloat16()).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(pairwise_distances(embeddings), distances)


def test_pairwise_distance_gradients_are_finite_at_duplicates():
    embeddings = torch.ones(4, 3, requires_grad=True)
    pairwise_distances(embeddings).sum().backward()
    assert torch.isfinite(embeddings.grad).all()


def test_masks_and_anchors_without_a_positive_or_negative():
    labels = torch.tensor([0, 0, 1, 2])
    positive, negative = label_masks(labels)
    assert positive.tolist() == [[False, True, False, False], [True, False, False, False],
                                 [False] * 4, [False] * 4]
    assert torch.equal(negative, labels[:, None] != labels[None, :])
    mined = batch_hard(pairwise_distances(torch.randn(4, 2)), labels)
    assert mined.valid.tolist() == [True, True, False, False]
