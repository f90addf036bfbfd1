"""Hyperspectral scores: overall and average accuracy and Cohen's kappa, from a confusion matrix.

A hyperspectral classifier labels every pixel of a scene from the patch around it; the
loss is the cross-entropy of classification. The field reports three scores, all read
off the confusion matrix ``C`` (rows: true class, columns: predicted), with ``n`` test
pixels:

* overall accuracy, ``OA = trace(C) / n``: the share of pixels labelled right;
* average accuracy, ``AA``: the mean over classes of each class's accuracy (its recall,
  ``C_kk / sum_j C_kj``). Scenes are very unbalanced (Indian Pines has 2,455 pixels of
  Soybean-mintill and 20 of Oats), so OA can be high while small classes are missed; AA
  weighs every class the same;
* Cohen's kappa, ``(p_o - p_e) / (1 - p_e)`` with ``p_o = OA`` and
  ``p_e = sum_k (row_k / n)(col_k / n)``, the agreement expected by chance from the
  class frequencies of the truth and of the predictions: 0 for a classifier no better
  than chance at those frequencies, 1 for a perfect one.

Papers quote all three in percent, with the per-class accuracies.
"""

from __future__ import annotations

import torch

from convzoo.tasks.classification.objective import per_class_accuracy

__all__ = ["cohen_kappa", "scene_scores"]


def cohen_kappa(confusion: torch.Tensor) -> float:
    """Cohen's kappa of a confusion matrix (rows: true class, columns: predicted)."""
    confusion = confusion.double()
    total = confusion.sum()
    if total == 0:
        return 0.0
    observed = confusion.trace() / total
    expected = (confusion.sum(dim=1) * confusion.sum(dim=0)).sum() / total**2
    if expected == 1:  # a single class in truth and prediction: agreement cannot beat chance
        return 1.0 if observed == 1 else 0.0
    return ((observed - expected) / (1 - expected)).item()


def scene_scores(confusion: torch.Tensor) -> dict[str, float | list[float | None]]:
    """OA, AA, kappa and per-class accuracy of a confusion matrix; AA averages the classes present."""
    confusion = confusion.double()
    per_class = per_class_accuracy(confusion)
    present = [accuracy for accuracy in per_class if accuracy is not None]
    total = confusion.sum().item()
    return {
        "overall_accuracy": confusion.trace().item() / total if total else 0.0,
        "average_accuracy": sum(present) / len(present) if present else 0.0,
        "kappa": cohen_kappa(confusion),
        "per_class_accuracy": per_class,
    }
