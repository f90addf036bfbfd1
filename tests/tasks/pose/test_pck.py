"""PCK and PCKh on hand-made cases: thresholds inclusive, unlabelled joints left out, MPII's head size and mean."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.pose.pck import MPII_MEAN_JOINTS, mpii_head_size, pck, pckh


def _truth(visibility: list[list[int]]) -> torch.Tensor:
    """Joints at the origin with the given visibility flags, shape (N, J, 3)."""
    flags = torch.tensor(visibility, dtype=torch.float64)
    return torch.stack([torch.zeros_like(flags), torch.zeros_like(flags), flags], -1)


def test_pck_counts_distances_up_to_the_threshold_over_labelled_joints():
    truth = _truth([[2, 1, 2, 0], [2, 2, 0, 0]])
    predicted = torch.tensor([[[3.0, 4.0], [0.0, 20.0], [0.0, 21.0], [99.0, 0.0]],  # distances 5, 20, 21, 99
                              [[0.0, 0.0], [10.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])  # 0, 10, (0), (0)
    result = pck(predicted, truth, normaliser=torch.tensor([100.0, 40.0]), threshold=0.2)
    # example 0: 5/100, 20/100 (= 0.2: correct), 21/100 (wrong); example 1: 0/40, 10/40 (wrong)
    torch.testing.assert_close(result["per_joint"][:3], torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64))
    assert math.isnan(result["per_joint"][3])
    assert result["counts"].tolist() == [2, 2, 1, 0]
    assert result["mean"] == pytest.approx(3 / 5)
    assert pck(predicted, truth, torch.tensor([100.0, 40.0]), mean_joints=[0])["mean"] == pytest.approx(1.0)


def test_pck_ignores_the_normaliser_of_examples_without_labelled_joints_and_rejects_bad_ones():
    truth = _truth([[2, 2], [0, 0]])
    result = pck(torch.zeros(2, 2, 3), truth, torch.tensor([10.0, 0.0]))
    assert result["mean"] == 1.0
    with pytest.raises(ConvzooError, match="normaliser of example 0 is 0.0"):
        pck(torch.zeros(2, 2, 2), truth, torch.tensor([0.0, 1.0]))
    with pytest.raises(ConvzooError, match="one normaliser per example"):
        pck(torch.zeros(2, 2, 2), truth, torch.ones(3))
    with pytest.raises(ConvzooError, match="predictions of shape"):
        pck(torch.zeros(2, 3, 2), truth, torch.ones(2))


def test_mpii_head_size_is_six_tenths_of_the_head_box_diagonal():
    boxes = torch.tensor([[10.0, 20.0, 40.0, 60.0], [0.0, 0.0, 0.0, 0.0]])  # diagonals 50 and 0
    torch.testing.assert_close(mpii_head_size(boxes), torch.tensor([30.0, 0.0]))
    assert mpii_head_size([5, 5, 8, 9]).item() == pytest.approx(3.0)
    with pytest.raises(ConvzooError, match=r"\(\.\.\., 4\)"):
        mpii_head_size(torch.zeros(2, 3))


def test_pckh_uses_the_head_size_and_leaves_pelvis_and_thorax_out_of_the_mean():
    truth = _truth([[2] * 16])
    predicted = torch.zeros(1, 16, 2)
    predicted[0, :, 0] = 16.0  # 16 px off: wrong at a head size of 30 (0.5 x 30 = 15) ...
    predicted[0, 2:8, 0] = 15.0  # ... but right for joints 2 to 7 (right hip to thorax): the bound is inclusive
    head = mpii_head_size(torch.tensor([[0.0, 0.0, 30.0, 40.0]]))  # 0.6 x 50 = 30
    result = pckh(predicted, truth, head)
    assert result["per_joint"].tolist() == [0.0, 0.0] + [1.0] * 6 + [0.0] * 8
    assert 6 not in MPII_MEAN_JOINTS and 7 not in MPII_MEAN_JOINTS and len(MPII_MEAN_JOINTS) == 14
    assert result["mean"] == pytest.approx(4 / 14)  # joints 2, 3, 4, 5 of the 14; pelvis and thorax left out
    assert pckh(predicted, truth, head, mean_joints=None)["mean"] == pytest.approx(6 / 16)
    assert pckh(predicted, truth, head, threshold=0.6)["mean"] == 1.0
    with pytest.raises(ConvzooError, match="mean_joints=None"):
        pckh(torch.zeros(1, 17, 2), _truth([[2] * 17]), head)
