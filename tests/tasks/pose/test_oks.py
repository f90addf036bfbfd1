"""OKS: equal to a loop over the formula, 1 on the spot, blind to unlabelled joints, COCO's box rule."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.data.pose.skeleton import COCO
from convzoo.errors import ConvzooError
from convzoo.tasks.pose.oks import oks


def _poses(count: int, seed: int) -> torch.Tensor:
    """``count`` random COCO poses in float64, about a third of their joints unlabelled."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(count, 17, 2, generator=generator, dtype=torch.float64) * 100
    visibility = torch.randint(0, 3, (count, 17, 1), generator=generator).double()
    return torch.cat([points, visibility], -1)


def _oks_loop(truth: list, detected: list, area: float, box: list | None = None) -> float:
    """COCO's OKS of one pair, term by term; a pose with no labelled joint is measured from its grown box."""
    labelled = [v > 0 for _, _, v in truth]
    total, count = 0.0, 0
    for (xg, yg, _), (xd, yd, *_), sigma, counts in zip(truth, detected, COCO.sigmas, labelled):
        if any(labelled):
            if not counts:
                continue
            dx, dy = xd - xg, yd - yg
        else:
            x, y, w, h = box
            dx = max(0.0, x - w - xd) + max(0.0, xd - (x + 2 * w))
            dy = max(0.0, y - h - yd) + max(0.0, yd - (y + 2 * h))
        total += math.exp(-(dx * dx + dy * dy) / (2 * (area + 2.0**-52) * (2 * sigma) ** 2))
        count += 1
    return total / count


def test_oks_equals_the_formula_term_by_term():
    truth, detected = _poses(3, seed=0), _poses(4, seed=1)
    truth[2, :, 2] = 0  # no labelled joint: measured from the box
    detected[0, :, :2] = truth[0, :, :2] + 1.0
    area = torch.tensor([900.0, 2500.0, 400.0], dtype=torch.float64)
    boxes = torch.tensor([[0, 0, 50, 50], [10, 10, 30, 60], [40, 40, 10, 10]], dtype=torch.float64)
    result = oks(truth, detected, area, boxes=boxes)
    assert result.shape == (4, 3) and result.dtype == torch.float64
    expected = torch.tensor([[_oks_loop(g.tolist(), d.tolist(), float(a), b.tolist())
                              for g, a, b in zip(truth, area, boxes)] for d in detected], dtype=torch.float64)
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-15)
    assert result[0, 0] > 0.5 and result[1:, 0].max() < result[0, 0]


def test_oks_is_one_for_identical_keypoints_and_small_for_far_ones():
    truth = _poses(2, seed=2)
    result = oks(truth, truth, torch.tensor([1000.0, 1000.0]))
    torch.testing.assert_close(torch.diagonal(result), torch.ones(2, dtype=torch.float64))
    far = truth.clone()
    far[..., :2] += 500
    assert oks(truth, far, torch.tensor([1000.0, 1000.0])).max() < 1e-6


def test_oks_ignores_unlabelled_joints_of_the_truth():
    truth = _poses(2, seed=3)
    truth[:, :4, 2] = 0
    truth[:, 4:, 2] = 2
    detected = _poses(3, seed=4)
    area = torch.tensor([700.0, 3000.0])
    moved = detected.clone()
    moved[:, :4, :2] = torch.tensor([1e4, -1e4], dtype=torch.float64)  # anywhere: those joints are not labelled
    torch.testing.assert_close(oks(truth, moved, area), oks(truth, detected, area))
    relabelled = truth.clone()
    relabelled[:, :4, :2] = 12345.0  # the coordinates of unlabelled joints are not read either
    torch.testing.assert_close(oks(relabelled, detected, area), oks(truth, detected, area))
    torch.testing.assert_close(oks(truth, detected[..., :2], area), oks(truth, detected, area))


def test_a_pose_without_labelled_joints_scores_one_inside_its_grown_box_and_zero_without_a_box():
    truth = torch.zeros(1, 17, 3, dtype=torch.float64)
    inside = torch.full((1, 17, 3), 5.0, dtype=torch.float64)  # within (10, 10, 20, 20) grown to (-10, -10)-(50, 50)
    area, box = torch.tensor([400.0]), torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    assert oks(truth, inside, area, boxes=box).item() == pytest.approx(1.0)
    assert oks(truth, inside, area).item() == 0.0


def test_oks_rejects_bad_shapes():
    with pytest.raises(ConvzooError, match=r"\(N, 17, 3\)"):
        oks(torch.zeros(2, 16, 3), torch.zeros(1, 17, 3), torch.ones(2))
    with pytest.raises(ConvzooError, match="one area per true pose"):
        oks(torch.zeros(2, 17, 3), torch.zeros(1, 17, 3), torch.ones(3))
    with pytest.raises(ConvzooError, match="boxes"):
        oks(torch.zeros(2, 17, 3), torch.zeros(1, 17, 3), torch.ones(2), boxes=torch.zeros(2, 2))
