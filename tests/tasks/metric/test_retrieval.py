"""Retrieval scores equal a direct computation from each query's ranked list, and hand-made numbers."""

from __future__ import annotations

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.retrieval import retrieval_scores


def _direct_scores(embeddings: torch.Tensor, labels: list[int], ks: tuple[int, ...]) -> dict[str, float]:
    """Slow reference: rank the others of each query one by one, then read the scores off the list."""
    hits, aps, maprs = {k: [] for k in ks}, [], []
    for query in range(len(labels)):
        others = [item for item in range(len(labels)) if item != query]
        r = sum(labels[item] == labels[query] for item in others)
        if r == 0:
            continue
        ranked = sorted(others, key=lambda item: (float((embeddings[item] - embeddings[query]).norm()), item))
        relevant = [labels[item] == labels[query] for item in ranked]
        for k in ks:
            hits[k].append(any(relevant[:k]))
        precisions = [sum(relevant[:rank]) / rank for rank in range(1, len(ranked) + 1)]
        aps.append(sum(p for p, rel in zip(precisions, relevant) if rel) / r)
        maprs.append(sum(p for p, rel in zip(precisions[:r], relevant[:r]) if rel) / r)
    scores = {f"recall@{k}": sum(hits[k]) / len(aps) for k in ks}
    return scores | {"map": sum(aps) / len(aps), "map@r": sum(maprs) / len(maprs), "queries": len(aps)}


def test_equals_direct_computation_from_ranked_lists():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(6, (58,), generator=generator).tolist() + [7]  # class 7 alone: skipped
    centres = torch.randn(8, 4, generator=generator, dtype=torch.float64)
    embeddings = centres[labels] + 0.8 * torch.randn(59, 4, generator=generator, dtype=torch.float64)
    scores = retrieval_scores(embeddings, torch.tensor(labels), batch_size=5)
    expected = _direct_scores(embeddings, labels, (1, 2, 4, 8))
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, abs=1e-12), key
    assert scores["skipped_queries"] == 1
    assert retrieval_scores(embeddings, torch.tensor(labels)) == pytest.approx(scores)  # batch size does not matter


def test_hand_made_case():
    # points on a line; item 5 is alone in its class. Rankings (relevant in capitals):
    # q0 (x=0):   I1 i2 I3 i4 i5   AP (1 + 2/3)/2 = 5/6, MAP@R (R=2) 1/2
    # q1 (x=1):   I0 i2 I3 i4 i5   AP 5/6, MAP@R 1/2
    # q2 (x=2.2): i1 i3 i0 I4 i5   AP 1/4, MAP@R (R=1) 0
    # q3 (x=3.5): i2 I1 I0 i4 i5   AP (1/2 + 2/3)/2 = 7/12, MAP@R 1/4
    # q4 (x=10):  i3 I2 i1 i0 i5   AP 1/2, MAP@R 0
    embeddings = torch.tensor([[0.0], [1.0], [2.2], [3.5], [10.0], [30.0]])
    labels = torch.tensor([0, 0, 1, 0, 1, 2])
    scores = retrieval_scores(embeddings, labels, ks=(1, 2, 4))
    assert scores["recall@1"] == pytest.approx(2 / 5)
    assert scores["recall@2"] == pytest.approx(4 / 5)
    assert scores["recall@4"] == pytest.approx(1.0)
    assert scores["map"] == pytest.approx((5 / 6 + 5 / 6 + 1 / 4 + 7 / 12 + 1 / 2) / 5)  # 0.6
    assert scores["map@r"] == pytest.approx((1 / 2 + 1 / 2 + 0 + 1 / 4 + 0) / 5)  # 0.25
    assert (scores["queries"], scores["skipped_queries"]) == (5, 1)


def test_separated_classes_score_one():
    labels = torch.arange(4).repeat_interleave(5)
    embeddings = 100 * torch.nn.functional.one_hot(labels).float() + torch.rand(20, 4)
    scores = retrieval_scores(embeddings, labels)
    assert all(scores[key] == pytest.approx(1.0) for key in ("recall@1", "recall@8", "map", "map@r"))


def test_bad_inputs_are_one_line_errors():
    embeddings = torch.randn(6, 3)
    with pytest.raises(ConvzooError, match="K <= 5"):
        retrieval_scores(embeddings, torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ConvzooError, match="alone in its class"):
        retrieval_scores(embeddings, torch.arange(6), ks=(1,))
    with pytest.raises(ConvzooError, match="labels"):
        retrieval_scores(embeddings, torch.arange(5), ks=(1,))
