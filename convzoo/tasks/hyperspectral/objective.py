"""Hyperspectral pixel classification for the training engine: cross-entropy, and OA, AA and kappa.

The loss is classification's; the metrics are the field's three scores
(:mod:`~convzoo.tasks.hyperspectral.metrics`), which need the confusion matrix of every
batch, summed over batches and processes.
"""

from __future__ import annotations

import torch

from convzoo.tasks.classification.objective import ClassificationTask, main_logits
from convzoo.tasks.hyperspectral.metrics import scene_scores

__all__ = ["HyperspectralTask"]


class HyperspectralTask(ClassificationTask):
    """Cross-entropy, with OA (``accuracy``), AA and kappa from a confusion matrix summed over batches.

    Args:
        num_classes: classes of the scene.
        label_smoothing: as in :class:`ClassificationTask` (0 in the paper).
    """

    name = "hyperspectral"

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        super().__init__(num_classes, label_smoothing)

    def batch_sums(
        self, output: torch.Tensor, targets: torch.Tensor, detailed: bool = False
    ) -> dict[str, torch.Tensor]:
        """The confusion matrix of the batch (every batch: AA and kappa need it)."""
        predicted = main_logits(output).detach().argmax(dim=1)
        pairs = targets * self.num_classes + predicted
        counts = torch.bincount(pairs, minlength=self.num_classes**2).float()
        return {"confusion": counts.view(self.num_classes, self.num_classes)}  # rows: true, columns: predicted

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        scores = scene_scores(sums["confusion"].cpu())
        return {
            "accuracy": scores["overall_accuracy"],  # OA, under the name every classifier reports
            "average_accuracy": scores["average_accuracy"],
            "kappa": scores["kappa"],
        }
