"""Seeded verification pairs and triplets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convzoo.data.metric import sample_pairs, sample_triplets
from convzoo.errors import ConvzooError

LABELS = torch.tensor([7, 5, 9, 5, 7, 7, 9, 5, 5, 11])  # 11 is a class of one example


def test_pairs_are_balanced_and_valid():
    pairs = sample_pairs(LABELS, 1000, seed=0)
    first, second, same = pairs
    assert first.dtype == second.dtype == torch.int64 and same.dtype == torch.bool and same.shape == (1000,)
    assert same.sum().item() == 500
    assert torch.equal(same, LABELS[first] == LABELS[second])
    assert not (first[same] == second[same]).any()  # a positive is never an image with itself
    assert 11 not in LABELS[first[same]].tolist() and 11 in LABELS[first[~same]].tolist()
    assert set(LABELS[second[~same]].tolist()) == {5, 7, 9, 11}
    assert not same[:500].all()  # positives and negatives are shuffled together


def test_positive_fraction():
    assert sample_pairs(LABELS, 10, positive_fraction=0.3).same.sum().item() == 3
    assert sample_pairs(LABELS, 7, positive_fraction=1.0).same.all()
    assert not sample_pairs([0, 1, 2], 5, positive_fraction=0.0).same.any()  # no class of two is needed


def test_pairs_and_triplets_are_seeded():
    for draw in (sample_pairs, sample_triplets):
        first, again, other = draw(LABELS, 64, seed=3), draw(LABELS.numpy(), 64, seed=3), draw(LABELS, 64, seed=4)
        assert all(torch.equal(a, b) for a, b in zip(first, again))
        assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_positives_are_uniform_over_the_other_members():
    pairs = sample_pairs([0, 0, 0, 1], 3000, positive_fraction=1.0)
    counts = torch.bincount(pairs.second[pairs.first == 0], minlength=3)
    assert counts[0] == 0 and counts[1:].min() > 0.4 * counts[1:].sum()


def test_triplets_are_valid():
    anchor, positive, negative = sample_triplets(np.asarray(LABELS), 500, seed=1)
    assert anchor.shape == positive.shape == negative.shape == (500,)
    assert torch.equal(LABELS[anchor], LABELS[positive]) and not (anchor == positive).any()
    assert (LABELS[anchor] != LABELS[negative]).all() and 11 not in LABELS[anchor].tolist()


def test_errors():
    message = r"cannot draw same-class pairs: no class has 2 examples \(3 examples in 3 classes\)"
    with pytest.raises(ConvzooError, match=message):
        sample_pairs([0, 1, 2], 10)
    with pytest.raises(ConvzooError, match="cannot draw different-class pairs: all 3 examples are of one class"):
        sample_pairs([4, 4, 4], 10)
    with pytest.raises(ConvzooError, match="cannot draw triplets: no class has 2 examples"):
        sample_triplets([0, 1], 10)
    with pytest.raises(ConvzooError, match="cannot draw triplets: all 2 examples are of one class"):
        sample_triplets([1, 1], 10)
    with pytest.raises(ConvzooError, match=r"positive_fraction must be in \[0, 1\]"):
        sample_pairs(LABELS, 10, positive_fraction=1.5)
    with pytest.raises(ConvzooError, match="must be a positive integer, not 0"):
        sample_pairs(LABELS, 0)
    with pytest.raises(ConvzooError, match="1-D tensor of integer class labels"):
        sample_triplets(torch.zeros(4, 2, dtype=torch.long), 10)
