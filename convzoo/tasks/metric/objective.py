"""Metric learning for the training engine: a loss on a labelled batch of embeddings, and recall@1 inside it.

The network maps a batch of images to embeddings ``(B, D)``; the engine hands them to
:class:`MetricTask` with the images' labels (a P x K batch in training,
:class:`~convzoo.train.pk_sampler.PKBatchSampler`). ``--loss`` decides what the batch
becomes:

* ``triplet``: :class:`~convzoo.tasks.metric.losses.TripletLoss` with ``--mining``
  (batch hard by default) over every triplet the batch holds;
* ``contrastive``: :class:`~convzoo.tasks.metric.losses.ContrastiveLoss` over the batch's
  pairs, every matching pair and as many non-matching ones (:func:`batch_pairs`,
  ``balanced=True``);
* ``koch``: :class:`~convzoo.tasks.metric.losses.KochLoss` on the network's own score of
  the same balanced pairs (``pair_logits``, which ``siamese_koch`` has).

Training draws the non-matching pairs from the global generator (saved in checkpoints,
so a resumed run draws the same); validation draws them from a generator seeded 0, so
that scoring never moves the training's random state.

The per-epoch score is recall@1 inside each batch: the share of the embeddings whose
nearest other embedding of the batch has their label, over those whose class has another
member in the batch. The whole-split scores (verification, retrieval, one-shot) come at
the end of the run (:mod:`~convzoo.tasks.metric.scoring`).
"""

from __future__ import annotations

from typing import Callable

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.distances import pairwise_distances
from convzoo.tasks.metric.flags import DEFAULT_MARGINS, LOSSES
from convzoo.tasks.metric.losses import ContrastiveLoss, KochLoss, TripletLoss, batch_pairs

__all__ = ["MetricTask", "PairScorer"]

PairScorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (N, D), (N, D) -> (N,) logits


class MetricTask:
    """What the training engine needs to know about learning to compare.

    Args:
        loss: one of :data:`~convzoo.tasks.metric.flags.LOSSES`.
        mining: the triplet loss's mining (``batch_hard``, ``batch_all``, ``semihard``).
        margin: the triplet or contrastive margin; ``None``: the loss's default.
        pair_logits: the network's score of pairs of embeddings, needed by ``koch``.
    """

    name = "metric"

    def __init__(self, loss: str = "triplet", mining: str = "batch_hard", margin: float | None = None,
                 pair_logits: PairScorer | None = None) -> None:
        if loss not in LOSSES:
            raise ConvzooError(f"unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        if loss == "koch" and pair_logits is None:
            raise ConvzooError("--loss koch needs a network that scores pairs (pair_logits), such as siamese_koch; "
                               "use --loss triplet or contrastive for an embedding network")
        margin = DEFAULT_MARGINS.get(loss) if margin is None else margin
        self.kind = loss
        self.pair_logits = pair_logits
        if loss == "triplet":
            self.criterion = TripletLoss(margin=margin, mining=mining)
        elif loss == "contrastive":
            self.criterion = ContrastiveLoss(margin=margin)
        else:
            self.criterion = KochLoss()

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "triplet":
            return self.criterion(output, target)
        generator = None if torch.is_grad_enabled() else torch.Generator().manual_seed(0)
        first, second, same = batch_pairs(target, balanced=True, generator=generator)
        if self.kind == "contrastive":
            return self.criterion(output[first], output[second], same.float())
        return self.criterion(self.pair_logits(output[first], output[second]), same.float())

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        """Hits and queries of recall@1 inside the batch."""
        distances = pairwise_distances(output.detach().float())
        distances.fill_diagonal_(float("inf"))
        nearest = distances.argmin(dim=1)
        same = target[:, None] == target[None, :]
        has_other = same.sum(dim=1) > 1
        hits = (target[nearest] == target) & has_other
        return {"recall_hits": hits.sum(), "recall_queries": has_other.sum()}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        return {"recall@1": sums["recall_hits"].item() / max(sums["recall_queries"].item(), 1)}
