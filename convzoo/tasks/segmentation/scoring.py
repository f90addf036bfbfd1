"""A split's segmentation report: per-class IoU and Dice, the summary scores, and a picture of its first images.

:func:`split_report` turns the confusion matrix of a split (summed by the training
engine over batches and processes) into the JSON-ready report that a run writes into
``test_metrics.json`` and ``convzoo eval`` prints (:func:`class_table`);
:func:`sample_rows` draws the first images of a split (image, ground truth, prediction,
prediction over the image) for :func:`~convzoo.tasks.segmentation.overlay.write_panels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.tasks.segmentation.metrics import segmentation_scores
from convzoo.tasks.segmentation.overlay import class_colours, colour_mask, image_panel, overlay
from convzoo.tasks.segmentation.tiling import segment_whole

__all__ = ["SAMPLE_COUNT", "class_table", "sample_rows", "sample_scale", "scores_line", "split_report"]

SAMPLE_COUNT = 4  # images drawn in a run's sample
SAMPLE_SIDE = 128  # small images are enlarged (nearest) to about this side in the sample's picture


def split_report(confusion: torch.Tensor, class_names: list[str], loss: float | None = None) -> dict[str, Any]:
    """mIoU, pixel accuracy, mean Dice, loss, and per class its IoU, Dice and pixels; the confusion matrix."""
    scores = segmentation_scores(confusion)
    report: dict[str, Any] = dict(scores.summary())
    if loss is not None:
        report["loss"] = loss
    report["per_class"] = {
        name: {"iou": iou, "dice": dice, "pixels": pixels}
        for name, iou, dice, pixels in zip(class_names, scores.iou, scores.dice, scores.pixels)
    }
    report["confusion"] = confusion.long().tolist()
    return report


def scores_line(report: dict[str, Any]) -> str:
    """The summary scores of a report on one line."""
    return (f"mIoU {report['miou']:.2%}  pixel accuracy {report['pixel_accuracy']:.2%}  "
            f"mean Dice {report['mean_dice']:.2%}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def class_table(report: dict[str, Any]) -> list[str]:
    """One line per class: name, IoU, Dice, target pixels; ``-`` for a class absent from targets and predictions."""
    rows = report["per_class"]
    width = max(len("class"), *(len(name) for name in rows))
    lines = [f"{'class':<{width}}  {'IoU':>7}  {'Dice':>7}  {'pixels':>10}"]
    for name, row in rows.items():
        lines.append(f"{name:<{width}}  {_percent(row['iou']):>7}  {_percent(row['dice']):>7}  {row['pixels']:>10,}")
    return lines


def _middle_slice(array: np.ndarray | torch.Tensor, dims: int) -> np.ndarray | torch.Tensor:
    """A volume's middle slice along its depth axis (the first spatial one); an image as it is."""
    return array[..., array.shape[-3] // 2, :, :] if dims == 3 else array


@torch.no_grad()
def sample_rows(model: nn.Module, data: Dataset, num_classes: int, *, count: int = SAMPLE_COUNT, dims: int = 2,
                ignore_index: int = 255, device: torch.device | str = "cpu") -> list[list[np.ndarray]]:
    """The first ``count`` items of ``data`` as panel rows: image, ground truth, prediction, prediction over the image.

    A volume is shown by its middle slice along the depth axis. The model runs in eval mode
    on the whole image (:func:`~convzoo.tasks.segmentation.tiling.segment_whole`).
    """
    was_training = model.training
    model.eval()
    colours = class_colours(num_classes)
    rows = []
    try:
        for index in range(min(count, len(data))):
            image, mask = data[index]
            predicted = segment_whole(model, image[None].to(device))[0].argmax(dim=0).cpu().numpy()
            picture = image_panel(_middle_slice(image, dims))
            shown_truth, shown_prediction = _middle_slice(mask.numpy(), dims), _middle_slice(predicted, dims)
            rows.append([picture, colour_mask(shown_truth, colours, ignore_index), colour_mask(shown_prediction, colours),
                         overlay(picture, shown_prediction, colours)])
    finally:
        model.train(was_training)
    return rows


def sample_scale(rows: list[list[np.ndarray]]) -> int:
    """The whole enlargement that brings the sample's panels to about :data:`SAMPLE_SIDE` pixels (1 for larger ones)."""
    side = max(rows[0][0].shape[:2]) if rows else SAMPLE_SIDE
    return max(1, SAMPLE_SIDE // side)
