"""Whole-gallery mAP by cosine distance against a direct, slow computation; precision-recall curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.crossmodal import cross_modal_map
from convzoo.tasks.crossmodal.retrieval import precision_recall_curve


def _slow_map(queries, gallery, query_labels, gallery_labels) -> float:
    """For each query: sort the gallery by cosine distance (stable), then average the precisions at the hits."""
    precisions = []
    for q, q_label in zip(queries.tolist(), query_labels.tolist()):
        distances = []
        for g in gallery.tolist():
            cosine = np.dot(q, g) / (np.linalg.norm(q) * np.linalg.norm(g))
            distances.append(1 - cosine)
        order = sorted(range(len(distances)), key=lambda i: distances[i])
        hits, found = [], 0
        for rank, index in enumerate(order, start=1):
            if any(a > 0 and b > 0 for a, b in zip(q_label, gallery_labels[index].tolist())):
                found += 1
                hits.append(found / rank)
        precisions.append(np.mean(hits) if hits else 0.0)
    return float(np.mean(precisions))


def test_map_matches_the_direct_computation_with_one_hot_and_multi_hot_labels():
    generator = torch.Generator().manual_seed(0)
    queries, gallery = torch.randn(9, 5, generator=generator), torch.randn(13, 5, generator=generator)
    query_classes, gallery_classes = torch.randint(0, 4, (9,), generator=generator), torch.randint(0, 4, (13,),
                                                                                                   generator=generator)
    one_hot_q, one_hot_g = torch.eye(4)[query_classes], torch.eye(4)[gallery_classes]
    expected = _slow_map(queries, gallery, one_hot_q, one_hot_g)
    assert cross_modal_map(queries, gallery, one_hot_q, one_hot_g) == pytest.approx(expected, abs=1e-9)
    assert cross_modal_map(queries, gallery, query_classes, gallery_classes) == pytest.approx(expected, abs=1e-9)
    multi_g = one_hot_g.clone()
    multi_g[::3, 0] = 1  # every third gallery item is also in class 0
    assert cross_modal_map(queries, gallery, one_hot_q, multi_g) == pytest.approx(
        _slow_map(queries, gallery, one_hot_q, multi_g), abs=1e-9)


def test_a_perfect_space_scores_one_and_the_curve_reaches_full_recall():
    labels = torch.tensor([0, 0, 1, 1, 2])
    points = torch.eye(3)[labels] + 0.01 * torch.arange(5.0)[:, None]
    assert cross_modal_map(points, points, labels, labels) == pytest.approx(1.0)
    recall, precision = precision_recall_curve(points, points, labels, labels)
    assert recall[-1] == pytest.approx(1.0) and precision[0] == pytest.approx(1.0) and len(recall) == 5


def test_bad_shapes_are_one_line():
    with pytest.raises(ConvzooError, match="queries and"):
        cross_modal_map(torch.randn(3, 4), torch.randn(3, 5), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ConvzooError, match="query labels"):
        cross_modal_map(torch.randn(3, 4), torch.randn(3, 4), torch.zeros(2), torch.zeros(3))
