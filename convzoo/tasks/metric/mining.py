"""Online triplet mining: which (anchor, positive, negative) triplets of a batch the loss sees.

A triplet loss on a batch of ``N`` labelled embeddings could use any of its ``O(N^3)``
valid triplets (anchor and positive share a label, the negative does not). Most are
already satisfied and teach nothing, so the triplets are *mined* from the batch's distance
matrix, all at once with masks (no Python loop over the batch):

- batch hard (Hermans, Beyer and Leibe, "In Defense of the Triplet Loss for Person
  Re-Identification", 2017, https://arxiv.org/abs/1703.07737, Eq. 5): for every anchor
  its farthest positive and its closest negative, one triplet per anchor;
- batch all (ibid., Eq. 6): every valid triplet;
- semi-hard (Schroff, Kalenichenko and Philbin, "FaceNet", CVPR 2015,
  https://arxiv.org/abs/1503.03832, Sec. 3.2, Eq. 4): every anchor-positive pair, with
  the closest negative that is still farther from the anchor than the positive;
- given triplets: rows ``3t, 3t + 1, 3t + 2`` are anchor, positive and negative.

Each miner returns a :class:`MinedTriplets`: the anchor-positive and anchor-negative
distances of its triplets and a mask of those that count; the loss turns them into
``max(0, margin + d_ap - d_an)`` and averages.

Deviations:
    FaceNet does not say which negative to take when no negative of an anchor-positive
    pair is farther than the positive. Like TensorFlow Addons'
    ``triplet_semihard_loss``, :func:`semihard` then takes the anchor's farthest
    negative (the least hard of the hard ones). Taking the closest farther negative
    rather than "the closest one inside the margin" changes no loss value: when the
    closest farther negative lies beyond the margin, so would any other, and the
    triplet's loss is zero either way.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from convzoo.tasks.metric.distances import pair_distances

__all__ = ["MinedTriplets", "batch_all", "batch_hard", "consecutive_triplets", "label_masks", "semihard"]


class MinedTriplets(NamedTuple):
    """Distances of mined triplets; ``positive`` and ``negative`` broadcast to ``valid``'s shape.

    Attributes:
        positive: anchor-positive distances.
        negative: anchor-negative distances.
        valid: true where the triplet exists (an anchor without a positive or a negative
            in the batch has none) and belongs in the loss's average.
    """

    positive: torch.Tensor
    negative: torch.Tensor
    valid: torch.Tensor


def label_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positive, negative)`` boolean ``(N, N)`` masks: same label but not the same row; other label."""
    same = labels[:, None] == labels[None, :]  # (N, N)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def batch_hard(distances: torch.Tensor, labels: torch.Tensor) -> MinedTriplets:
    """Each anchor's hardest positive and hardest negative (Hermans et al. Eq. 5).

    Shape:
        distances ``(N, N)``, labels ``(N,)`` -> fields ``(N,)``.
    """
    positive_mask, negative_mask = label_masks(labels)
    farthest = distances.detach().amax()  # no negative can be farther: a neutral fill for the minimum
    hardest_positive = torch.where(positive_mask, distances, 0).amax(dim=1)  # (N,)
    hardest_negative = torch.where(negative_mask, distances, farthest).amin(dim=1)  # (N,)
    valid = positive_mask.any(dim=1) & negative_mask.any(dim=1)
    return MinedTriplets(hardest_positive, hardest_negative, valid)


def batch_all(distances: torch.Tensor, labels: torch.Tensor) -> MinedTriplets:
    """Every valid triplet ``(a, p, n)`` of the batch (Hermans et al. Eq. 6); memory ``N^3``.

    Shape:
        distances ``(N, N)``, labels ``(N,)`` -> positive ``(N, N, 1)``, negative
        ``(N, 1, N)``, valid ``(N, N, N)`` indexed ``[a, p, n]``.
    """
    positive_mask, negative_mask = label_masks(labels)
    valid = positive_mask[:, :, None] & negative_mask[:, None, :]  # (N, N, N)
    return MinedTriplets(distances[:, :, None], distances[:, None, :], valid)


def semihard(distances: torch.Tensor, labels: torch.Tensor) -> MinedTriplets:
    """Every anchor-positive pair with its semi-hard negative (FaceNet Sec. 3.2; module docstring).

    The negative is the closest of the anchor's negatives farther from it than the
    positive (``d_ap < d_an``, Eq. 4); if there is none, the anchor's farthest negative.

    Shape:
        distances ``(N, N)``, labels ``(N,)`` -> fields ``(N, N)`` indexed ``[a, p]``.
    """
    positive_mask, negative_mask = label_masks(labels)
    to_negative = distances[:, None, :]  # (N, 1, N): [a, ., n]
    farther = negative_mask[:, None, :] & (to_negative > distances[:, :, None])  # (N, N, N): [a, p, n]
    farthest = distances.detach().amax()
    closest_farther = torch.where(farther, to_negative, farthest).amin(dim=2)  # (N, N)
    farthest_negative = torch.where(negative_mask, distances, 0).amax(dim=1, keepdim=True)  # (N, 1)
    negative = torch.where(farther.any(dim=2), closest_farther, farthest_negative)  # (N, N)
    valid = positive_mask & negative_mask.any(dim=1, keepdim=True)
    return MinedTriplets(distances, negative, valid)


def consecutive_triplets(embeddings: torch.Tensor, squared: bool = False) -> MinedTriplets:
    """The triplets given by the batch's order: rows ``3t``, ``3t + 1``, ``3t + 2``.

    Shape:
        embeddings ``(3T, D)`` -> fields ``(T,)``.
    """
    anchor, positive, negative = embeddings[0::3], embeddings[1::3], embeddings[2::3]
    to_positive = pair_distances(anchor, positive, squared)
    to_negative = pair_distances(anchor, negative, squared)
    return MinedTriplets(to_positive, to_negative, torch.ones_like(to_positive, dtype=torch.bool))
