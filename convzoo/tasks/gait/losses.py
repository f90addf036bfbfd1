"""GaitSet's loss: a batch-all triplet loss on every horizontal strip at once.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 3.5 and 4.1

The network gives each set of silhouettes one 256-d feature per strip of its horizontal
pyramid, ``(N, S, D)`` with ``S = 62``. Each strip is its own embedding space: for strip
``s`` and every valid triplet of the batch (anchor ``a`` and positive ``p`` of one subject,
negative ``n`` of another; Hermans, Beyer and Leibe's batch all,
:func:`convzoo.tasks.metric.mining.batch_all`),

    l_s(a, p, n) = max(0, margin + d_s(a, p) - d_s(a, n)),

with ``d_s`` the Euclidean distance between the strip's features. The distances of all
strips are one batched ``(S, N, N)`` computation and the triplets one ``(S, N, N, N)`` mask,
with no loop over the strips. As in the authors' release, each strip's loss is the *mean over
its triplets with a non-zero loss* (0 when none has), not over all valid triplets, so that the
loss does not fade as more triplets are satisfied; the total is the mean over the strips. The
number of non-zero triplets is returned with it (the release logs it as its "hard" count).

Deviations:
    The paper's text only says "batch all triplet loss"; the averaging over non-zero
    triplets is the released code's. The released code computes the distances from the
    Gram expansion and takes ``sqrt(relu(.))``, whose gradient is infinite at zero; here a
    zero distance has a zero gradient (:func:`convzoo.tasks.metric.distances.safe_sqrt`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from convzoo.errors import InputShapeError
from convzoo.tasks.metric.distances import safe_sqrt
from convzoo.tasks.metric.mining import batch_all

__all__ = ["MARGIN", "StripTripletLoss", "strip_distances", "strip_triplet_loss"]

MARGIN = 0.2  # the paper's (Sec. 4.1)


class StripTripletLoss(NamedTuple):
    """The loss and what it was averaged over.

    Attributes:
        loss: scalar, the mean over the strips of each strip's mean non-zero triplet loss.
        active: ``(S,)``, each strip's number of triplets with a non-zero loss.
        triplets: the number of valid triplets of the batch (the same for every strip).
    """

    loss: torch.Tensor
    active: torch.Tensor
    triplets: int


def strip_distances(features: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between the sets of a batch, strip by strip.

    Shape:
        features ``(N, S, D)`` -> ``(S, N, N)``, zero on each strip's diagonal.
    """
    strips = features.float().transpose(0, 1)  # (S, N, D)
    with torch.autocast(strips.device.type, enabled=False):
        gram = strips @ strips.transpose(1, 2)  # (S, N, N)
    norms = gram.diagonal(dim1=1, dim2=2)  # (S, N)
    squared = (norms[:, :, None] + norms[:, None, :] - 2 * gram).clamp_min(0)
    eye = torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
    return safe_sqrt(squared.masked_fill(eye, 0))


def strip_triplet_loss(features: torch.Tensor, labels: torch.Tensor, margin: float = MARGIN) -> StripTripletLoss:
    """GaitSet's batch-all triplet loss per strip (module docstring).

    Shape:
        features ``(N, S, D)``, labels ``(N,)`` -> loss scalar, active ``(S,)``.
    """
    if features.dim() != 3:
        raise InputShapeError(f"strip features must be (N, strips, D), got shape {tuple(features.shape)}")
    if labels.shape != features.shape[:1]:
        raise InputShapeError(f"labels must be ({features.shape[0]},), one per set, got shape {tuple(labels.shape)}")
    distances = strip_distances(features)  # (S, N, N)
    mined = torch.vmap(batch_all, in_dims=(0, None))(distances, labels)  # fields (S, N, N, 1), (S, N, 1, N), (S, N, N, N)
    losses = torch.where(mined.valid, (margin + mined.positive - mined.negative).clamp_min(0), 0)  # (S, N, N, N)
    active = (losses > 0).flatten(1).sum(dim=1)  # (S,)
    per_strip = losses.flatten(1).sum(dim=1) / active.clamp_min(1)  # (S,): 0 where no triplet is active
    return StripTripletLoss(per_strip.mean(), active, int(mined.valid[0].sum()))
