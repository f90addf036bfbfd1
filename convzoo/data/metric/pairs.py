"""Seeded verification pairs and triplets drawn from the labels of a split.

Verification asks "same class or not?" of a pair of images (Bromley et al. 1993; Koch,
Zemel and Salakhutdinov 2015 score it on Omniglot pairs); a triplet (anchor, positive,
negative) holds an anchor, another image of its class and an image of another class
(Schroff, Kalenichenko and Philbin, FaceNet, CVPR 2015). Both are drawn here as index
tensors into a split, from its labels alone, so the same labels, count and seed always
give the same pairs: the fixed verification pairs of a validation or test split.

How they are drawn (all at once, no Python loop over examples):

* an anchor is an example drawn uniformly, among those whose class has a second example
  when it needs a positive, so larger classes supply more anchors;
* its positive is uniform among the *other* examples of its class (never itself);
* its negative is uniform among the examples of all other classes.

Draws are with replacement: a pair may occur twice in a large sample of a small split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from convzoo.errors import ConvzooError

__all__ = ["Pairs", "Triplets", "sample_pairs", "sample_triplets"]


class Pairs(NamedTuple):
    """Index pairs into a split; ``same[k]`` is True where ``first[k]`` and ``second[k]`` share a class."""

    first: torch.Tensor
    second: torch.Tensor
    same: torch.Tensor


class Triplets(NamedTuple):
    """Index triplets into a split: ``positive`` shares ``anchor``'s class, ``negative`` does not."""

    anchor: torch.Tensor
    positive: torch.Tensor
    negative: torch.Tensor


class _Classes:
    """The examples grouped by class: the sorted order and, per sorted position, its class's extent."""

    def __init__(self, labels: torch.Tensor) -> None:
        self.order = torch.argsort(labels, stable=True)  # sorted position -> example index
        _, counts = torch.unique_consecutive(labels[self.order], return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        self.count = counts.repeat_interleave(counts)  # (N,): size of the class at each sorted position
        self.start = starts.repeat_interleave(counts)  # (N,): first sorted position of that class
        self.total = len(labels)
        self.num_classes = len(counts)


def _uniform_below(high: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One integer uniform in ``[0, high[k])`` for every entry of ``high`` (all positive)."""
    draws = torch.rand(high.shape, generator=generator, dtype=torch.float64)
    return torch.minimum((draws * high).long(), high - 1)


def _anchors(classes: _Classes, count: int, need_positive: bool, generator: torch.Generator) -> torch.Tensor:
    """Sorted positions of ``count`` anchors drawn uniformly from the eligible examples."""
    eligible = torch.nonzero(classes.count >= 2).flatten() if need_positive else torch.arange(classes.total)
    return eligible[_uniform_below(torch.full((count,), len(eligible)), generator)]


def _positives(classes: _Classes, anchors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sorted positions of another example of each anchor's class."""
    size, start = classes.count[anchors], classes.start[anchors]
    step = 1 + _uniform_below(size - 1, generator)  # 1 .. size - 1: never the anchor itself
    return start + (anchors - start + step) % size


def _negatives(classes: _Classes, anchors: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Sorted positions of an example of another class than each anchor's."""
    size, start = classes.count[anchors], classes.start[anchors]
    rank = _uniform_below(classes.total - size, generator)  # among the examples outside the class
    return torch.where(rank < start, rank, rank + size)


def _check_labels(labels: torch.Tensor | Sequence[int], count: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.is_floating_point() or labels.is_complex():
        raise ConvzooError(
            f"labels must be a 1-D tensor of integer class labels, not {labels.dtype} of shape {tuple(labels.shape)}"
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConvzooError(f"the number of pairs or triplets must be a positive integer, not {count!r}")
    return labels.long()


def _check_positives(classes: _Classes, what: str) -> None:
    if not bool((classes.count >= 2).any()):
        raise ConvzooError(
            f"cannot draw {what}: no class has 2 examples ({classes.total} examples in {classes.num_classes} classes)"
        )


def _check_negatives(classes: _Classes, what: str) -> None:
    if classes.num_classes < 2:
        raise ConvzooError(f"cannot draw {what}: all {classes.total} examples are of one class; 2 classes are needed")


def sample_pairs(
    labels: torch.Tensor | Sequence[int],
    count: int,
    seed: int = 0,
    positive_fraction: float = 0.5,
) -> Pairs:
    """``count`` seeded pairs of indices, ``round(count * positive_fraction)`` of them of one class.

    Args:
        labels: the split's class labels, shape ``(N,)``.
        count: the number of pairs.
        seed: the pairs are a function of ``labels``, ``count``, ``seed`` and
            ``positive_fraction`` alone.
        positive_fraction: the share of same-class pairs, in [0, 1].

    Returns:
        :class:`Pairs` ``(first, second, same)``: ``int64`` indices into ``labels`` and a
        ``bool`` mask, ``(count,)`` each, positives and negatives shuffled together.
    """
    labels = _check_labels(labels, count)
    if not 0.0 <= positive_fraction <= 1.0:
        raise ConvzooError(f"positive_fraction must be in [0, 1], not {positive_fraction!r}")
    classes = _Classes(labels)
    positives = round(count * positive_fraction)
    negatives = count - positives
    if positives:
        _check_positives(classes, "same-class pairs")
    if negatives:
        _check_negatives(classes, "different-class pairs")
    generator = torch.Generator().manual_seed(seed)

    same_first = _anchors(classes, positives, True, generator)
    same_second = _positives(classes, same_first, generator)
    other_first = _anchors(classes, negatives, False, generator)
    other_second = _negatives(classes, other_first, generator)

    shuffle = torch.randperm(count, generator=generator)
    first = classes.order[torch.cat([same_first, other_first])][shuffle]
    second = classes.order[torch.cat([same_second, other_second])][shuffle]
    same = torch.cat([torch.ones(positives, dtype=torch.bool), torch.zeros(negatives, dtype=torch.bool)])[shuffle]
    return Pairs(first, second, same)


def sample_triplets(labels: torch.Tensor | Sequence[int], count: int, seed: int = 0) -> Triplets:
    """``count`` seeded (anchor, positive, negative) index triplets.

    Args:
        labels: the split's class labels, shape ``(N,)``.
        count: the number of triplets.
        seed: the triplets are a function of ``labels``, ``count`` and ``seed`` alone.

    Returns:
        :class:`Triplets` of ``int64`` indices into ``labels``, ``(count,)`` each.
    """
    labels = _check_labels(labels, count)
    classes = _Classes(labels)
    _check_positives(classes, "triplets")
    _check_negatives(classes, "triplets")
    generator = torch.Generator().manual_seed(seed)
    anchor = _anchors(classes, count, True, generator)
    positive = _positives(classes, anchor, generator)
    negative = _negatives(classes, anchor, generator)
    return Triplets(classes.order[anchor], classes.order[positive], classes.order[negative])
