"""Segmentation scores, all read off one confusion matrix of pixels.

Every batch adds its pixels to a ``K x K`` confusion matrix ``C`` (rows: true class,
columns: predicted; pixels whose target is ``ignore_index`` are not counted); the
matrices of all batches and processes add up to the matrix of the whole split, so the
scores of a split do not depend on how it was batched or spread over processes. With
``TP_k = C_kk``, ``T_k`` the pixels of class ``k`` (row sum) and ``P_k`` the pixels
predicted ``k`` (column sum):

* IoU (Jaccard index) of class ``k``: ``TP_k / (T_k + P_k - TP_k)``;
* Dice (F1) of class ``k``: ``2 TP_k / (T_k + P_k)``;
* mean IoU and mean Dice: the averages over the classes;
* pixel accuracy: ``trace(C) / sum(C)``, the share of counted pixels labelled right.

A class absent from both the targets and the predictions of the split has no IoU or Dice
(0 / 0): it is reported as ``None`` and left out of the means. A class that is present in
either counts, with 0 if it is never right. The background (class 0) is a class like any
other, as in the Pascal VOC protocol. These are torchmetrics' ``MulticlassJaccardIndex``
and ``MulticlassF1Score`` (``average="macro"``, or ``None`` per class) and
``MulticlassAccuracy(average="micro")`` with the same ``ignore_index``, computed once per
split from the summed matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from convzoo.errors import ConvzooError

__all__ = ["SegmentationScores", "confusion_matrix", "segmentation_scores"]


def confusion_matrix(predicted: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """The ``(K, K)`` int64 pixel counts of (true class, predicted class), ``ignore_index`` pixels left out.

    ``predicted`` and ``target`` are class indices of the same shape (any number of axes).
    """
    counted = target != ignore_index
    truth, guess = target[counted], predicted[counted]
    if truth.numel() and (int(truth.min()) < 0 or int(truth.max()) >= num_classes):
        bad = truth[(truth < 0) | (truth >= num_classes)][0].item()
        raise ConvzooError(f"mask value {bad} is not a class of the {num_classes} (0 to {num_classes - 1}) "
                           f"nor the ignore value {ignore_index}")
    pairs = truth * num_classes + guess
    return torch.bincount(pairs, minlength=num_classes**2).view(num_classes, num_classes)


@dataclass(frozen=True)
class SegmentationScores:
    """The scores of one confusion matrix (see the module docstring); ``None`` for a class absent from both sides.

    Attributes:
        iou, dice: per class.
        pixels: pixels of each class in the targets (the row sums).
        miou, mean_dice: averages over the classes with a score.
        pixel_accuracy: share of counted pixels labelled right.
    """

    iou: list[float | None]
    dice: list[float | None]
    pixels: list[int]
    miou: float
    mean_dice: float
    pixel_accuracy: float

    def summary(self) -> dict[str, float]:
        """The three scalar scores, under the names the training engine logs."""
        return {"miou": self.miou, "pixel_accuracy": self.pixel_accuracy, "mean_dice": self.mean_dice}


def _mean(values: list[float | None]) -> float:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else 0.0


def segmentation_scores(confusion: torch.Tensor) -> SegmentationScores:
    """Per-class IoU and Dice, their means and the pixel accuracy of a confusion matrix (rows: true)."""
    confusion = confusion.double().cpu()
    hits = confusion.diagonal()
    truth, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
    union = truth + predicted - hits
    iou = [h / u if u else None for h, u in zip(hits.tolist(), union.tolist())]
    dice = [2 * h / s if s else None for h, s in zip(hits.tolist(), (truth + predicted).tolist())]
    total = confusion.sum().item()
    return SegmentationScores(
        iou=iou, dice=dice, pixels=[int(n) for n in truth.tolist()], miou=_mean(iou), mean_dice=_mean(dice),
        pixel_accuracy=hits.sum().item() / total if total else 0.0,
    )
