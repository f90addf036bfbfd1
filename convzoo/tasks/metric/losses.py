"""Losses that learn to compare: contrastive (pairs), triplet (online mining), Koch's (pair scores).

- Contrastive loss (Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an
  Invariant Mapping", CVPR 2006, http://yann.lecun.com/exdb/publis/pdf/hadsell-chopra-lecun-06.pdf,
  Eq. 4): with ``d`` the Euclidean distance of a pair and ``y = 1`` for a matching pair,
  ``y d^2 / 2 + (1 - y) max(0, m - d)^2 / 2``, averaged over the pairs. Matching pairs
  are pulled together; other pairs are pushed apart until they are ``m`` apart.
- Triplet loss (Schroff, Kalenichenko and Philbin, "FaceNet", CVPR 2015,
  https://arxiv.org/abs/1503.03832, Eq. 2; Hermans, Beyer and Leibe, "In Defense of the
  Triplet Loss for Person Re-Identification", 2017, https://arxiv.org/abs/1703.07737):
  ``max(0, margin + d(a, p) - d(a, n))`` over triplets mined from the batch
  (:mod:`convzoo.tasks.metric.mining`); the soft margin of Hermans et al. (Sec. 3.2)
  replaces ``max(0, margin + x)`` by ``softplus(x) = log(1 + exp(x))``.
- Koch's loss (Koch, Zemel and Salakhutdinov, "Siamese Neural Networks for One-shot
  Image Recognition", ICML 2015 Deep Learning Workshop, Sec. 3.1): binary cross-entropy
  of the network's score of each pair against ``y``, averaged over the pairs.

The contrastive and Koch losses take pairs. :func:`batch_pairs` makes them from a
labelled batch (a P x K batch from :class:`convzoo.train.pk_sampler.PKBatchSampler`):
every pair ``i < j`` of its rows. Such a batch has ``P K (K - 1) / 2`` matching pairs
and ``K^2 P (P - 1) / 2`` others, so the non-matching ones dominate the average;
``balanced=True`` keeps every matching pair and as many non-matching ones, drawn at
random.

Deviations:
    FaceNet's Eq. 2 uses squared distances; the default here is the plain Euclidean
    distance, which Hermans et al. (Sec. 3.2) found to train more stably
    (``squared=True`` gives FaceNet's). Neither loss normalises the embeddings: FaceNet's
    unit hypersphere is the network's last layer, not the loss's. Koch et al. add an L2
    penalty on every layer's weights to the cross-entropy; here that is the optimiser's
    weight decay.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.tasks.metric.distances import pair_distances, pairwise_distances, safe_sqrt
from convzoo.tasks.metric.flags import MINING_MODES
from convzoo.tasks.metric.mining import MinedTriplets, batch_all, batch_hard, consecutive_triplets, semihard

__all__ = ["ContrastiveLoss", "KochLoss", "TripletLoss", "batch_pairs"]


def _check_embeddings(name: str, embeddings: torch.Tensor) -> None:
    if embeddings.dim() != 2:
        raise InputShapeError(f"{name} must be (N, D) embeddings, got shape {tuple(embeddings.shape)}")


def _check_pair_targets(name: str, values: torch.Tensor, same: torch.Tensor) -> None:
    if same.shape != (len(values),):
        raise InputShapeError(
            f"same must be ({len(values)},), one 0/1 per pair of {name}, got shape {tuple(same.shape)}"
        )


def _masked_mean(values: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``counted``; 0, still attached to the graph, where nothing counts."""
    return torch.where(counted, values, 0).sum() / counted.sum().clamp_min(1)


class ContrastiveLoss(nn.Module):
    """Hadsell et al.'s contrastive loss on pairs of embeddings (module docstring).

    Args:
        margin: ``m``, the distance beyond which a non-matching pair costs nothing.

    Shape:
        a, b ``(N, D)``; same ``(N,)``, 1 (or true) for a matching pair -> scalar.
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def extra_repr(self) -> str:
        return f"margin={self.margin}"

    def forward(self, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        _check_embeddings("a", a)
        if b.shape != a.shape:
            raise InputShapeError(f"b must have a's shape {tuple(a.shape)}, got {tuple(b.shape)}")
        _check_pair_targets("a and b", a, same)
        squared = pair_distances(a, b, squared=True)  # (N,)
        distance = safe_sqrt(squared)
        same = same.to(squared.dtype)
        loss = same * squared / 2 + (1 - same) * F.relu(self.margin - distance).pow(2) / 2  # Eq. 4
        return loss.mean()


class TripletLoss(nn.Module):
    """The triplet loss over triplets mined online from a labelled batch (module docstring).

    Args:
        margin: the gap wanted between anchor-negative and anchor-positive distances
            (unused when ``soft``).
        mining: ``"batch_hard"`` (the mean over anchors with a positive and a negative in
            the batch), ``"batch_all"`` (the mean over the valid triplets whose loss is
            positive, Hermans et al.'s "BA!=0"), ``"semihard"`` (the mean over
            anchor-positive pairs whose anchor has a negative), or ``"none"`` (rows
            ``3t, 3t + 1, 3t + 2`` are a triplet; labels, if given, are checked).
        squared: squared Euclidean distances (FaceNet's) instead of Euclidean ones.
        soft: ``softplus(d_ap - d_an)`` instead of ``max(0, margin + d_ap - d_an)``.

    A batch without any valid triplet (one class only) gives a zero loss that is still
    attached to the graph.

    Shape:
        embeddings ``(N, D)``; labels ``(N,)`` (optional for ``mining="none"``) -> scalar.
    """

    def __init__(
        self, margin: float = 0.2, mining: str = "batch_hard", squared: bool = False, soft: bool = False
    ) -> None:
        super().__init__()
        if mining not in MINING_MODES:
            raise ConvzooError(f"unknown triplet mining {mining!r}: expected one of {', '.join(MINING_MODES)}")
        self.margin = margin
        self.mining = mining
        self.squared = squared
        self.soft = soft

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, squared={self.squared}, soft={self.soft}"

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        _check_embeddings("embeddings", embeddings)
        if labels is not None and labels.shape != (len(embeddings),):
            raise InputShapeError(
                f"labels must be ({len(embeddings)},), one per embedding, got shape {tuple(labels.shape)}"
            )
        triplets = self.mine(embeddings, labels)
        violation = triplets.positive - triplets.negative
        losses = F.softplus(violation) if self.soft else F.relu(self.margin + violation)
        counted = triplets.valid & (losses > 0) if self.mining == "batch_all" else triplets.valid
        return _masked_mean(losses, counted)

    def mine(self, embeddings: torch.Tensor, labels: torch.Tensor | None) -> MinedTriplets:
        """The triplets of ``embeddings`` that this loss's ``mining`` selects."""
        if self.mining == "none":
            _check_consecutive_triplets(embeddings, labels)
            return consecutive_triplets(embeddings, self.squared)
        if labels is None:
            raise ConvzooError(f"triplet mining {self.mining!r} needs the batch's labels")
        miner = {"batch_hard": batch_hard, "batch_all": batch_all, "semihard": semihard}[self.mining]
        return miner(pairwise_distances(embeddings, self.squared), labels)


def _check_consecutive_triplets(embeddings: torch.Tensor, labels: torch.Tensor | None) -> None:
    if len(embeddings) % 3:
        raise InputShapeError(
            f"mining='none' takes rows 3t, 3t+1, 3t+2 as (anchor, positive, negative): "
            f"the batch has {len(embeddings)} rows, not a multiple of 3"
        )
    if labels is None:
        return
    anchor, positive, negative = labels[0::3], labels[1::3], labels[2::3]
    wrong = ((anchor != positive) | (anchor == negative)).nonzero()
    if len(wrong):
        t = int(wrong[0])
        raise ConvzooError(
            f"mining='none': triplet {t} (rows {3 * t}-{3 * t + 2}) has labels "
            f"{labels[3 * t:3 * t + 3].tolist()}; expected anchor = positive != negative"
        )


class KochLoss(nn.Module):
    """Koch et al.'s binary cross-entropy on the scores of pairs (module docstring).

    Shape:
        logits ``(N,)`` or ``(N, 1)``, one unnormalised score per pair; same ``(N,)``,
        1 (or true) for a matching pair -> scalar.
    """

    def forward(self, logits: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        if logits.dim() == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.dim() != 1:
            raise InputShapeError(f"logits must be (N,) or (N, 1) pair scores, got shape {tuple(logits.shape)}")
        _check_pair_targets("logits", logits, same)
        return F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype))


def batch_pairs(
    labels: torch.Tensor, *, balanced: bool = False, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairs ``(i, j)``, ``i < j``, of a labelled batch, and whether each pair matches.

    With ``balanced``, every matching pair and as many non-matching ones (all of them if
    there are fewer), drawn uniformly without replacement from ``generator`` (a CPU
    generator; the global one, which training checkpoints save, when ``None``). Pairs
    keep the order of ``torch.triu_indices``.

    Shape:
        labels ``(N,)`` -> first ``(M,)``, second ``(M,)``, same ``(M,)`` boolean.
    """
    if labels.dim() != 1:
        raise InputShapeError(f"labels must be (N,), one per embedding, got shape {tuple(labels.shape)}")
    first, second = torch.triu_indices(len(labels), len(labels), offset=1, device=labels.device)
    same = labels[first] == labels[second]  # (N (N - 1) / 2,)
    if balanced:
        matching = int(same.sum())
        others = (~same).nonzero()[:, 0]
        drawn = torch.randperm(len(others), generator=generator)[:matching].to(labels.device)
        keep = same.clone()
        keep[others[drawn]] = True
        first, second, same = first[keep], second[keep], same[keep]
    return first, second, same
