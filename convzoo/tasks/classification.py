"""Image classification: cross-entropy loss, top-1 accuracy, top-k predictions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ClassificationTask", "top_k"]


class ClassificationTask:
    """What the training engine needs to know about classification.

    ``loss`` is averaged over the batch; ``metrics`` returns batch means, which the
    engine weights by batch size.
    """

    name = "classification"
    monitor = "accuracy"

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"accuracy": (logits.argmax(dim=1) == targets).float().mean().item()}


def top_k(logits: torch.Tensor, class_names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each row of ``logits`` with their probabilities."""
    probs = logits.softmax(dim=1)
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    return [
        [(class_names[i], p) for i, p in zip(row_indices.tolist(), row_values.tolist())]
        for row_indices, row_values in zip(indices, values)
    ]
