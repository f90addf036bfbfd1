"""DSCMR's three losses against their formulas computed element by element."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.tasks.crossmodal import dscmr_loss
from convzoo.tasks.crossmodal.losses import (
    common_space_loss,
    label_similarity,
    label_space_loss,
    modality_invariance_loss,
)
from convzoo.tasks.crossmodal.objective import CrossModalTask


def _batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    u, v = torch.randn(5, 4, generator=generator, dtype=torch.float64), torch.randn(5, 4, generator=generator,
                                                                                      dtype=torch.float64)
    pu, pv = torch.randn(5, 3, generator=generator, dtype=torch.float64), torch.randn(5, 3, generator=generator,
                                                                                        dtype=torch.float64)
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 1]], dtype=torch.float64)  # one multi-hot
    return u, v, pu, pv, labels


def _direct_pairs(a, b, la, lb) -> float:
    total = 0.0
    for i in range(len(a)):
        for j in range(len(b)):
            theta = float(a[i] @ b[j]) / (float(a[i].norm()) * float(b[j].norm())) / 2
            similar = 1.0 if any(x > 0 and y > 0 for x, y in zip(la[i], lb[j])) else 0.0
            total += math.log(1 + math.exp(theta)) - similar * theta
    return total / (len(a) * len(b))


def test_each_loss_matches_its_formula():
    u, v, pu, pv, labels = _batch()
    j1 = sum(math.sqrt(sum((float(p[k]) - float(y[k])) ** 2 for k in range(3))) for p, y in zip(pu, labels)) / 5
    j1 += sum(math.sqrt(sum((float(p[k]) - float(y[k])) ** 2 for k in range(3))) for p, y in zip(pv, labels)) / 5
    j2 = _direct_pairs(u, u, labels, labels) + _direct_pairs(u, v, labels, labels) + _direct_pairs(v, v, labels, labels)
    j3 = sum(math.sqrt(sum((float(a[k]) - float(b[k])) ** 2 for k in range(4))) for a, b in zip(u, v)) / 5
    assert float(label_space_loss(pu, pv, labels, labels)) == pytest.approx(j1, rel=1e-10)
    assert float(common_space_loss(u, v, labels, labels)) == pytest.approx(j2, rel=1e-10)
    assert float(modality_invariance_loss(u, v)) == pytest.approx(j3, rel=1e-10)
    total = dscmr_loss(u, v, pu, pv, labels, labels)
    assert total.dim() == 0 and float(total) == pytest.approx(j1 + 1e-3 * j2 + 1e-1 * j3, rel=1e-10)
    assert float(dscmr_loss(u, v, pu, pv, labels, labels, alpha=0.5, beta=2.0, label_weight=0.0)) == pytest.approx(
        0.5 * j2 + 2.0 * j3, rel=1e-10)


def test_similarity_is_sharing_a_class():
    _, _, _, _, labels = _batch()
    similar = label_similarity(labels, labels)
    assert similar[4, 1] == 1 and similar[4, 3] == 1 and similar[0, 1] == 0 and similar[0, 2] == 1
    assert set(similar.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(("ablate", "weights"), [("none", (1, 1e-3, 1e-1)), ("label", (0, 1e-3, 1e-1)),
                                                 ("common", (1, 0, 1e-1)), ("invariance", (1, 1e-3, 0))])
def test_the_ablation_drops_one_term(ablate, weights):
    u, v, pu, pv, labels = _batch(1)
    task = CrossModalTask(ablate=ablate)
    expected = (weights[0] * label_space_loss(pu, pv, labels, labels)
                + weights[1] * common_space_loss(u, v, labels, labels) + weights[2] * modality_invariance_loss(u, v))
    torch.testing.assert_close(task.loss((u, v, pu, pv), labels), expected.float())
