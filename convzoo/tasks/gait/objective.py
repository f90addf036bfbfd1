"""GaitSet for the training engine: the per-strip triplet loss on a P x K batch of sets, and what it logs.

The engine hands :class:`GaitTask` the network's strip features ``(N, 62, 256)`` for a batch of
sets of silhouettes (P subjects, K sequences each: :class:`~convzoo.train.pk_sampler.PKBatchSampler`)
and their subjects. The loss is :func:`~convzoo.tasks.gait.losses.strip_triplet_loss`.

The per-epoch scores are:

* ``active``: the share of the batch's (strip, triplet) pairs with a non-zero loss, the
  released code's "hard" count over its "full" count; it falls as the strips learn;
* ``recall@1``: the share of the sets whose nearest other set of the batch (the strips
  flattened, Euclidean) is of their subject, over the sets whose subject has another in the
  batch (the metric task's in-batch recall).

The protocol's rank-1 accuracies come at the end of the run (:mod:`~convzoo.tasks.gait.scoring`).
"""

from __future__ import annotations

import torch

from convzoo.tasks.gait.losses import MARGIN, strip_triplet_loss
from convzoo.tasks.metric.distances import pairwise_distances

__all__ = ["GaitTask"]


class GaitTask:
    """GaitSet's objective: the batch-all triplet loss of every strip, with ``margin``."""

    name = "gait"

    def __init__(self, margin: float = MARGIN) -> None:
        self.margin = margin

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return strip_triplet_loss(output, target, self.margin).loss

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        """Active and valid (strip, triplet) counts, and the hits and queries of recall@1 inside the batch."""
        output = output.detach().float()
        mined = strip_triplet_loss(output, target, self.margin)
        distances = pairwise_distances(output.flatten(1))  # (N, N)
        distances.fill_diagonal_(float("inf"))
        same = target[:, None] == target[None, :]
        has_other = same.sum(dim=1) > 1
        hits = (target[distances.argmin(dim=1)] == target) & has_other
        strips = output.shape[1]
        triplets = torch.tensor(mined.triplets * strips, device=target.device)
        return {"active_triplets": mined.active.sum(), "triplets": triplets, "recall_hits": hits.sum(),
                "recall_queries": has_other.sum()}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        """The shares; 0 for a split with no batch (a source too small to hold validation sequences out)."""
        total = {name: float(sums[name].item()) if name in sums else 0.0
                 for name in ("active_triplets", "triplets", "recall_hits", "recall_queries")}
        return {"active": total["active_triplets"] / max(total["triplets"], 1),
                "recall@1": total["recall_hits"] / max(total["recall_queries"], 1)}
