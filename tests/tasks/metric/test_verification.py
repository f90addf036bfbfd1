"""Verification scores: the ROC curve and AUC equal scikit-learn's; EER, TAR@FAR and the threshold by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.verification import (
    best_threshold, equal_error_rate, plot_roc, roc_curve, tar_at_far, threshold_accuracy, verification_scores,
)


def _random_pairs(ties: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """300 pairs, genuine ones nearer on average; with ties, distances rounded to 20 values."""
    generator = torch.Generator().manual_seed(3)
    same = torch.rand(300, generator=generator) < 0.4
    distances = torch.rand(300, generator=generator) + 0.5 * (~same)
    return ((distances * 10).round() / 10 if ties else distances), same


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_and_auc_equal_sklearn(ties):
    distances, same = _random_pairs(ties)
    far, tar, thresholds = roc_curve(distances, same)
    expected_far, expected_tar, expected_thresholds = sklearn_roc_curve(
        same.numpy(), -distances.double().numpy(), drop_intermediate=False)
    np.testing.assert_allclose(far.numpy(), expected_far, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tar.numpy(), expected_tar, rtol=0, atol=1e-12)
    np.testing.assert_allclose(thresholds.numpy(), -expected_thresholds, rtol=0, atol=0)
    scores = verification_scores(distances, same)
    assert scores["auc"] == pytest.approx(roc_auc_score(same.numpy(), -distances.double().numpy()), abs=1e-12)
    for target in (1e-3, 1e-2, 0.1):  # the best TPR among sklearn's points with FPR <= target
        assert tar_at_far(far, tar, target) == pytest.approx(expected_tar[expected_far <= target].max())


def test_numpy_and_list_inputs_give_the_same_scores():
    distances, same = _random_pairs(ties=False)
    assert verification_scores(distances.numpy(), same.numpy().astype(int)) == verification_scores(distances, same)


def test_equal_error_rate_at_a_point_and_between_points():
    # sorted: .1G .2G .3G .4I .5I .6G .7I .8I; at distance .4 FAR = 1/4 and FRR = 1/4
    distances = [0.1, 0.2, 0.3, 0.6, 0.4, 0.5, 0.7, 0.8]
    same = [1, 1, 1, 1, 0, 0, 0, 0]
    assert verification_scores(distances, same)["eer"] == pytest.approx(0.25)
    # genuine .1 .2 .5, impostor .3 .4: FRR stays 1/3 while FAR goes 0 -> 1/2; they meet at 1/3
    far, tar, _ = roc_curve([0.1, 0.2, 0.5, 0.3, 0.4], [1, 1, 1, 0, 0])
    assert equal_error_rate(far, tar) == pytest.approx(1 / 3)


def test_tar_at_fixed_far_by_hand():
    impostor = torch.arange(1, 1001, dtype=torch.float64)  # 1000 impostor pairs at 1, 2, ..., 1000
    genuine = torch.tensor([0.5, 1.5, 5.5, 10.5, 2000.0])
    distances = torch.cat([genuine, impostor])
    same = torch.cat([torch.ones(5), torch.zeros(1000)]).bool()
    scores = verification_scores(distances, same)
    assert scores["tar@far=1e-3"] == pytest.approx(2 / 5)  # one impostor accepted (d <= 1.x): 0.5 and 1.5
    assert scores["tar@far=1e-2"] == pytest.approx(4 / 5)  # ten impostors accepted (d <= 10.x): and 5.5, 10.5
    assert (scores["genuine_pairs"], scores["impostor_pairs"]) == (5, 1000)


def test_best_threshold_on_validation_applied_to_test():
    # validation, sorted: .1G .2G .3G .35I .45G .5I .6I .9I: 7 of 8 right accepting up to .3 or up to .45;
    # the tie goes to the stricter cut, and the threshold lies halfway to the first rejected distance
    val_distances = [0.1, 0.2, 0.3, 0.45, 0.5, 0.6, 0.35, 0.9]
    val_same = [1, 1, 1, 1, 0, 0, 0, 0]
    threshold = best_threshold(val_distances, val_same)
    assert threshold == pytest.approx(0.325)
    assert threshold_accuracy(val_distances, val_same, threshold) == pytest.approx(7 / 8)
    # test: accepted at <= .325 are .2G .32G .31I; rejected .33G .4G .5I .6I .7I -> 2 + 3 right of 8
    test_distances = [0.2, 0.32, 0.33, 0.4, 0.31, 0.5, 0.6, 0.7]
    test_same = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = verification_scores(test_distances, test_same, threshold=threshold)
    assert scores["accuracy"] == pytest.approx(5 / 8)
    assert scores["threshold"] == threshold
    assert best_threshold(test_distances, test_same) != threshold  # test's own best differs: not used


def test_best_threshold_when_accepting_all_or_nothing_is_best():
    assert best_threshold([0.2, 0.4], [0, 0]) < 0.2
    assert threshold_accuracy([0.2, 0.4], [0, 0], best_threshold([0.2, 0.4], [0, 0])) == 1.0
    assert best_threshold([0.2, 0.4], [1, 1]) == 0.4


def test_bad_pairs_are_one_line_errors():
    with pytest.raises(ConvzooError, match="genuine and impostor"):
        verification_scores([0.1, 0.2], [1, 1])
    with pytest.raises(ConvzooError, match="shapes"):
        verification_scores([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(ConvzooError, match="finite"):
        verification_scores([0.1, float("nan")], [1, 0])


@pytest.mark.parametrize("log_far", [False, True])
def test_plot_roc_writes_a_png(tmp_path, log_far):
    distances, same = _random_pairs(ties=False)
    curves = {"test": roc_curve(distances, same), "val": roc_curve(distances[:150], same[:150])[:2]}
    path = plot_roc(curves, tmp_path / "roc.png", log_far=log_far)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
