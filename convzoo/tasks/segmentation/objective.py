"""Semantic segmentation for the training engine: cross-entropy + soft Dice, and scores from a confusion matrix.

A segmentation model gives class scores for every pixel, ``(B, K, *S)``, in one of three forms:

* a tensor (U-Net, FCN-8s, ...);
* a dict ``{"out": ..., "aux": ...}`` (torchvision's FCN with ``aux_loss``): the
  auxiliary head's loss is added times ``aux_weight`` (0.5, torchvision's reference
  training script's weight);
* a list of maps, one per head (UNet++ with deep supervision, in training mode): the
  loss is the average of the heads' losses (Zhou et al. 2018, Sec. 2: a loss on each of
  the four semantic levels), and the scores use the heads' average map (the accurate
  mode's output).

The loss of one map is :func:`~convzoo.tasks.segmentation.losses.segmentation_loss`. The
metric numerator of a batch is its confusion matrix, an int64 tensor summed over batches
and processes, read by :func:`~convzoo.tasks.segmentation.metrics.segmentation_scores`.
"""

from __future__ import annotations

from typing import Union

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.segmentation.losses import segmentation_loss
from convzoo.tasks.segmentation.metrics import confusion_matrix, segmentation_scores

__all__ = ["AUX_WEIGHT", "SegmentationOutput", "SegmentationTask", "main_map"]

AUX_WEIGHT = 0.5  # torchvision's references/segmentation/train.py

SegmentationOutput = Union[torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor], tuple[torch.Tensor, ...]]


def main_map(output: SegmentationOutput) -> torch.Tensor:
    """The class scores ``(B, K, *S)`` a prediction is read from: the tensor, ``out``, or the heads' average."""
    if isinstance(output, dict):
        return output["out"]
    if isinstance(output, (list, tuple)):
        return torch.stack(list(output)).mean(dim=0)
    return output


def _check_shape(logits: torch.Tensor, target: torch.Tensor, num_classes: int) -> None:
    if logits.shape[1] != num_classes or logits.shape[2:] != target.shape[1:]:
        raise ConvzooError(
            f"the model's output {tuple(logits.shape)} does not fit masks {tuple(target.shape)} of {num_classes} "
            f"classes; expected (B, {num_classes}, {', '.join(str(s) for s in target.shape[1:])})"
        )


class SegmentationTask:
    """What the training engine needs to know about semantic segmentation.

    Args:
        num_classes: classes scored at every pixel (the background included).
        ignore_index: the mask value that no loss or score counts.
        dice_weight: weight of the soft Dice loss added to the cross-entropy (0: cross-entropy alone).
        aux_weight: weight of an auxiliary head's loss (a dict output's ``"aux"``).
    """

    name = "segmentation"

    def __init__(self, num_classes: int, ignore_index: int = 255, dice_weight: float = 1.0,
                 aux_weight: float = AUX_WEIGHT) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.dice_weight = dice_weight
        self.aux_weight = aux_weight

    def _map_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_shape(logits, target, self.num_classes)
        return segmentation_loss(logits, target, self.ignore_index, self.dice_weight)

    def loss(self, output: SegmentationOutput, target: torch.Tensor) -> torch.Tensor:
        if isinstance(output, dict):
            loss = self._map_loss(output["out"], target)
            if output.get("aux") is not None:
                loss = loss + self.aux_weight * self._map_loss(output["aux"], target)
            return loss
        if isinstance(output, (list, tuple)):
            return torch.stack([self._map_loss(head, target) for head in output]).mean()
        return self._map_loss(output, target)

    def batch_sums(self, output: SegmentationOutput, target: torch.Tensor,
                   detailed: bool = False) -> dict[str, torch.Tensor]:
        """The batch's confusion matrix (every batch: every score needs it)."""
        predicted = main_map(output).detach().argmax(dim=1)
        return {"confusion": confusion_matrix(predicted, target, self.num_classes, self.ignore_index)}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        return segmentation_scores(sums["confusion"]).summary()
