"""N-way one-shot trials: seeded, well formed; perfect embeddings score 1, random ones chance."""

from __future__ import annotations

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.one_shot import one_shot_accuracy, one_shot_scores, one_shot_trials

LABELS = torch.arange(30).repeat_interleave(4)[torch.randperm(120, generator=torch.Generator().manual_seed(0))]


def test_same_seed_same_trials():
    first, again = one_shot_trials(LABELS, 5, 50, seed=1), one_shot_trials(LABELS.tolist(), 5, 50, seed=1)
    other = one_shot_trials(LABELS, 5, 50, seed=2)
    for name in ("query", "supports", "correct"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.equal(first.supports, other.supports)


@pytest.mark.parametrize("n_way", [5, 20])
def test_trials_are_well_formed(n_way):
    trials = one_shot_trials(LABELS, n_way, 200, seed=0)
    assert trials.supports.shape == (200, n_way) and trials.n_way == n_way and len(trials) == 200
    support_labels = LABELS[trials.supports]  # (T, N)
    rows = torch.arange(200)
    for row in support_labels:
        assert len(set(row.tolist())) == n_way  # N distinct classes
    assert torch.equal(support_labels[rows, trials.correct], LABELS[trials.query])  # the query's class is there
    assert not (trials.supports == trials.query.unsqueeze(1)).any()  # and never the query itself
    assert len(set(trials.correct.tolist())) == n_way  # the right answer moves around


def test_perfect_embeddings_score_one_and_random_ones_chance():
    perfect = torch.nn.functional.one_hot(LABELS).float()
    assert one_shot_accuracy(perfect, one_shot_trials(LABELS, 20, 300)) == 1.0
    noise = torch.randn(120, 16, generator=torch.Generator().manual_seed(5))
    assert one_shot_accuracy(noise, one_shot_trials(LABELS, 5, 3000, seed=1)) == pytest.approx(0.2, abs=0.03)
    assert one_shot_accuracy(noise, one_shot_trials(LABELS, 20, 3000, seed=1)) == pytest.approx(0.05, abs=0.015)


def test_pair_scores_callable_or_precomputed():
    noise = torch.rand(120, 30, generator=torch.Generator().manual_seed(6))
    embeddings = torch.nn.functional.one_hot(LABELS).float() + 0.02 * noise
    trials = one_shot_trials(LABELS, 5, 100)

    def minus_l1(query: torch.Tensor, support: torch.Tensor) -> torch.Tensor:  # a pair-scoring "network"
        return -(query - support).abs().sum(dim=1, keepdim=True)

    by_callable = one_shot_accuracy(embeddings, trials, score=minus_l1)
    precomputed = minus_l1(embeddings[trials.query].repeat_interleave(5, 0),
                           embeddings[trials.supports].reshape(-1, 30)).view(100, 5)
    assert one_shot_accuracy(None, trials, score=precomputed) == by_callable == 1.0
    scores = one_shot_scores(embeddings, LABELS, trials=50)
    assert set(scores) == {"one_shot@5", "one_shot@20"}


def test_too_few_classes_is_one_line_error():
    labels = torch.tensor([0, 0, 1, 1, 2, 3, 4, 5])  # two classes with two items
    with pytest.raises(ConvzooError, match="5-way one-shot trials need 5 classes with two or more items; .* 2"):
        one_shot_trials(labels, 5, 10)
