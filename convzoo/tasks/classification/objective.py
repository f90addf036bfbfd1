"""Image classification: cross-entropy (optionally label-smoothed), top-1/top-5 accuracy,
per-class accuracy and the confusion matrix.

A model with auxiliary classifiers (GoogLeNet, Inception-v3) returns
:class:`~convzoo.models._classifier.AuxLogits` in training mode: the loss then adds each
auxiliary head's cross-entropy times ``aux_loss_weight`` (GoogLeNet's paper: 0.3), and
the metrics use the main logits.

Metrics are computed from numerators summed over batches (correct counts, the confusion
matrix), so they add up exactly across batches and processes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convzoo.models._classifier import AuxLogits

__all__ = ["ClassificationTask", "main_logits", "per_class_accuracy"]


def main_logits(output: torch.Tensor | AuxLogits) -> torch.Tensor:
    """The main head's logits, whether or not the model also returned auxiliary ones."""
    return output.logits if isinstance(output, AuxLogits) else output


class ClassificationTask:
    """What the training engine needs to know about classification.

    Args:
        num_classes: number of classes; top-5 accuracy is reported when there are at
            least 5.
        label_smoothing: mass moved from the true class to all classes uniformly
            (Szegedy et al. 2016); 0 for plain cross-entropy.
        aux_loss_weight: weight of each auxiliary head's loss, for models that return
            :class:`AuxLogits` in training mode.
    """

    name = "classification"

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, aux_loss_weight: float = 0.0) -> None:
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.aux_loss_weight = aux_loss_weight

    def loss(self, output: torch.Tensor | AuxLogits, targets: torch.Tensor) -> torch.Tensor:
        loss = self._cross_entropy(main_logits(output), targets)
        if isinstance(output, AuxLogits):
            for aux in output.aux:
                loss = loss + self.aux_loss_weight * self._cross_entropy(aux, targets)
        return loss

    def _cross_entropy(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)

    def batch_sums(
        self, output: torch.Tensor | AuxLogits, targets: torch.Tensor, detailed: bool = False
    ) -> dict[str, torch.Tensor]:
        """Correct top-1 (and top-5) counts; with ``detailed`` the confusion matrix too."""
        logits = main_logits(output).detach().float()
        k = min(5, self.num_classes)
        ranked = logits.topk(k, dim=1).indices  # (B, k)
        hits = ranked == targets.unsqueeze(1)
        sums = {"top1": hits[:, 0].sum().float()}
        if self.num_classes >= 5:
            sums["top5"] = hits.any(dim=1).sum().float()
        if detailed:
            pairs = targets * self.num_classes + ranked[:, 0]
            counts = torch.bincount(pairs, minlength=self.num_classes**2).float()
            sums["confusion"] = counts.view(self.num_classes, self.num_classes)  # rows: true, columns: predicted
        return sums

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        metrics = {"accuracy": sums["top1"].item() / max(count, 1)}
        if "top5" in sums:
            metrics["top5"] = sums["top5"].item() / max(count, 1)
        return metrics


def per_class_accuracy(confusion: torch.Tensor) -> list[float | None]:
    """Recall of each class: its diagonal entry over its row (``None`` for a class with no samples)."""
    totals = confusion.sum(dim=1).tolist()
    return [hits / total if total else None for hits, total in zip(confusion.diagonal().tolist(), totals)]

