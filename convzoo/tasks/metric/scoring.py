"""The whole-split scores of a metric-learning network: verification, retrieval, one-shot, and their pictures.

A split of classes never seen in training is embedded once (eval mode), then scored
three ways:

* verification: :data:`VERIFICATION_PAIRS` seeded pairs (half matching,
  :func:`~convzoo.data.metric.pairs.sample_pairs`); a pair's distance is the Euclidean
  distance of its embeddings, or minus the network's score for a network that scores
  pairs (``pair_logits``: Koch's). AUC, EER, TAR at FAR 1e-3 and 1e-2, and the accuracy at
  the threshold chosen on the validation split (never on the split being scored);
* retrieval: Recall@1, 2, 4, 8, mAP and MAP@R, each item a query against the rest;
* one-shot: 5- and 20-way accuracy over :data:`ONE_SHOT_TRIALS` seeded trials (the
  ways the split's classes allow).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from convzoo.data.metric.pairs import sample_pairs
from convzoo.tasks.metric.distances import pair_distances
from convzoo.tasks.metric.one_shot import ONE_SHOT_WAYS, one_shot_scores
from convzoo.tasks.metric.projection import plot_embeddings
from convzoo.tasks.metric.retrieval import retrieval_scores
from convzoo.tasks.metric.verification import best_threshold, plot_roc, roc_curve, verification_scores

__all__ = ["EMBEDDINGS_FILE", "ONE_SHOT_TRIALS", "RECALL_KS", "ROC_FILE", "VERIFICATION_PAIRS", "EmbeddedSplit", "embed_split",
           "pair_distance_fn", "split_report", "validation_threshold"]

VERIFICATION_PAIRS = 2000
RECALL_KS = (1, 2, 4, 8)  # as in the deep metric learning literature; a small split keeps those below its size
ONE_SHOT_TRIALS = 1000
ROC_FILE = "roc.png"
EMBEDDINGS_FILE = "embeddings.png"
_TSNE_LIMIT = 3000  # items; beyond it the picture is a PCA projection


class EmbeddedSplit:
    """A split's embeddings ``(N, D)`` and labels ``(N,)``, and the network that scores its pairs."""

    def __init__(self, embeddings: torch.Tensor, labels: torch.Tensor, model: nn.Module) -> None:
        self.embeddings = embeddings
        self.labels = labels
        self.distance = pair_distance_fn(model)

    def verification_pairs(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances and matches of :data:`VERIFICATION_PAIRS` seeded pairs."""
        pairs = sample_pairs(self.labels, VERIFICATION_PAIRS, seed=seed)
        return self.distance(self.embeddings[pairs.first], self.embeddings[pairs.second]), pairs.same


def pair_distance_fn(model: nn.Module):
    """Distance of pairs of embeddings: Euclidean, or minus the network's pair score where it has one."""
    pair_logits = getattr(model, "pair_logits", None)
    if pair_logits is None:
        return pair_distances

    def negative_score(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return -pair_logits(a, b).reshape(-1)

    return negative_score


@torch.no_grad()
def embed_split(model: nn.Module, data: Dataset, *, batch_size: int = 256,
                device: torch.device | str = "cpu") -> EmbeddedSplit:
    """Every item of ``data`` through ``model`` in eval mode."""
    was_training = model.training
    model.eval()
    embeddings, labels = [], []
    try:
        for images, targets in DataLoader(data, batch_size=batch_size):
            embeddings.append(model(images.to(device)).float().cpu())
            labels.append(targets)
    finally:
        model.train(was_training)
    return EmbeddedSplit(torch.cat(embeddings), torch.cat(labels), model)


def validation_threshold(val: EmbeddedSplit) -> float:
    """The distance threshold that verifies the validation pairs best."""
    distances, same = val.verification_pairs(seed=0)
    return best_threshold(distances, same)


def split_report(split: EmbeddedSplit, threshold: float, *, seed: int = 1) -> dict[str, Any]:
    """Verification at ``threshold``, retrieval and one-shot scores of ``split`` (a flat dict)."""
    distances, same = split.verification_pairs(seed)
    classes = int(torch.unique(split.labels).numel())
    ways = tuple(n for n in ONE_SHOT_WAYS if n <= classes) or (classes,)
    score = None if split.distance is pair_distances else (lambda a, b: -split.distance(a, b))
    return {
        **verification_scores(distances, same, threshold=threshold),
        **retrieval_scores(split.embeddings, split.labels, ks=tuple(k for k in RECALL_KS if k < len(split.labels))),
        **one_shot_scores(split.embeddings, split.labels, ways=ways, trials=ONE_SHOT_TRIALS, score=score),
        "items": len(split.labels), "classes": classes,
    }


def write_pictures(out: Path, splits: dict[str, EmbeddedSplit], scored: str, class_names: list[str],
                   title: str) -> dict[str, str]:
    """The ROC curves of ``splits`` and a 2-D map of split ``scored``'s embeddings; their paths."""
    curves = {}
    for name, split in splits.items():
        distances, same = split.verification_pairs(seed=0 if name == "val" else 1)
        curves[name] = roc_curve(distances, same)
    roc = plot_roc(curves, out / ROC_FILE, log_far=True, title=f"{title}: verification ROC")
    split = splits[scored]
    method = "tsne" if len(split.labels) <= _TSNE_LIMIT else "pca"
    picture = plot_embeddings(split.embeddings, split.labels, out / EMBEDDINGS_FILE, method=method,
                              class_names=class_names, title=f"{title}: {scored} embeddings ({method})")
    return {"roc": str(roc), "embeddings": str(picture)}
