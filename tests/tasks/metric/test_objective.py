"""The metric task's engine objective: each --loss on a labelled batch, and recall@1 inside the batch."""

from __future__ import annotations

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric import ContrastiveLoss, KochLoss, TripletLoss, batch_pairs
from convzoo.tasks.metric.objective import MetricTask


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.randn(12, 5), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])


def test_triplet_is_the_mined_triplet_loss():
    embeddings, labels = batch()
    task = MetricTask("triplet", "batch_all", margin=0.5)
    assert torch.equal(task.loss(embeddings, labels), TripletLoss(0.5, "batch_all")(embeddings, labels))


def test_triplet_and_contrastive_default_margins():
    embeddings, labels = batch()
    assert torch.equal(MetricTask("triplet").loss(embeddings, labels), TripletLoss(0.2)(embeddings, labels))
    with torch.no_grad():
        first, second, same = batch_pairs(labels, balanced=True, generator=torch.Generator().manual_seed(0))
        expected = ContrastiveLoss(1.0)(embeddings[first], embeddings[second], same.float())
        assert torch.equal(MetricTask("contrastive").loss(embeddings, labels), expected)


def test_koch_scores_balanced_pairs_with_the_network():
    embeddings, labels = batch()
    weight = torch.randn(5)

    def pair_logits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs() @ weight

    with torch.no_grad():
        first, second, same = batch_pairs(labels, balanced=True, generator=torch.Generator().manual_seed(0))
        expected = KochLoss()(pair_logits(embeddings[first], embeddings[second]), same.float())
        assert torch.equal(MetricTask("koch", pair_logits=pair_logits).loss(embeddings, labels), expected)


def test_training_pairs_come_from_the_global_generator():
    embeddings, labels = batch()
    task = MetricTask("contrastive")
    torch.manual_seed(3)
    first = task.loss(embeddings, labels)
    torch.manual_seed(3)
    assert torch.equal(task.loss(embeddings, labels), first)


def test_koch_without_a_pair_scorer_and_unknown_loss_are_refused():
    with pytest.raises(ConvzooError, match="siamese_koch"):
        MetricTask("koch")
    with pytest.raises(ConvzooError, match="triplet, contrastive, koch"):
        MetricTask("arcface")


def test_recall_at_one_inside_the_batch():
    embeddings = torch.tensor([[0.0], [0.1], [5.0], [5.2], [5.1], [9.0]])
    labels = torch.tensor([0, 0, 1, 1, 2, 3])  # 4 (class 2) and 5 (class 3) have no other member: not queries
    sums = MetricTask().batch_sums(embeddings, labels)
    assert sums["recall_queries"].item() == 4
    assert sums["recall_hits"].item() == 2  # items 2 and 3 (class 1) have item 4 (class 2) nearest
    assert MetricTask().summarize(sums, 6) == {"recall@1": 0.5}
