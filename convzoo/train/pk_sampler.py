"""P x K batches for metric learning: P classes, K examples of each, resumable mid-epoch.

A triplet loss mined online (batch hard, batch all, semi-hard) needs positives in every
batch, which uniformly shuffled batches over many classes rarely hold. Hermans, Beyer and
Leibe ("In Defense of the Triplet Loss for Person Re-Identification", 2017,
https://arxiv.org/abs/1703.07737, Sec. 3.2) sample P classes and then K examples of each;
:class:`PKBatchSampler` does so with the interface of
:class:`convzoo.train.sampler.EpochBatchSampler`, so the trainer drives either one.

How an epoch's batches are drawn, all from one generator seeded by ``(seed, epoch)``:

- each batch takes P distinct classes uniformly at random;
- a class with at least K examples gives K distinct ones, dealt from its own shuffled
  queue, which is reshuffled when fewer than K remain, so over an epoch its examples come
  up about equally often;
- a class with fewer than K (but at least 2) examples gives every one of them once and
  fills the other places by drawing from them with replacement, so its rows always hold
  at least two distinct examples;
- a class with a single example cannot give a positive pair and is left out.

The whole epoch is drawn before its first batch is yielded, so a run resumed at batch
``b`` sees the batches an uninterrupted run sees from ``b`` on. Under data parallelism
every process draws the same batches and takes an interleaved share of each (process
``r`` of ``w`` takes positions ``r``, ``r + w``, ...); the rows are grouped by class, so
with ``w`` dividing K each process holds K / w examples of each of the P classes and
mines its triplets among them: choose K a multiple of ``2 w``.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from convzoo.errors import ConvzooError

__all__ = ["PKBatchSampler"]


class PKBatchSampler(Sampler[list[int]]):
    """Yields this process's share of each global P x K batch of an epoch (module docstring).

    Args:
        labels: the class of every example of the dataset, ``(N,)``.
        classes_per_batch: P, the distinct classes of a batch.
        samples_per_class: K >= 2, the examples of each class in a batch.
        seed: the run's seed.
        batches_per_epoch: batches in an epoch; by default enough to see about every
            usable example (those of classes with 2 or more) once, at least 1.
        rank: this process's index.
        world_size: number of processes.
    """

    def __init__(
        self, labels: Sequence[int] | np.ndarray | torch.Tensor, classes_per_batch: int, samples_per_class: int, *,
        seed: int = 0, batches_per_epoch: int | None = None, rank: int = 0, world_size: int = 1,
    ) -> None:
        if classes_per_batch < 1:
            raise ConvzooError(f"a P x K batch needs P >= 1 classes, got classes_per_batch={classes_per_batch}")
        if samples_per_class < 2:
            raise ConvzooError(f"a P x K batch needs K >= 2 for positives, got samples_per_class={samples_per_class}")
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise ConvzooError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
        self.members = _usable_class_members(labels)
        if len(self.members) < classes_per_batch:
            raise ConvzooError(
                f"a P x K batch needs classes_per_batch={classes_per_batch} classes with 2 or more examples; "
                f"the labels have {len(self.members)}"
            )
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        usable = sum(len(members) for members in self.members)
        self.batches_per_epoch = batches_per_epoch or max(1, usable // self.batch_size)
        self.epoch = 0
        self.start_batch = 0

    @property
    def batch_size(self) -> int:
        """The global batch size, P x K."""
        return self.classes_per_batch * self.samples_per_class

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's batches and the batch to start from."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.epoch_batches()[self.start_batch:]:
            yield batch[self.rank::self.world_size]

    def epoch_batches(self) -> list[list[int]]:
        """Every global batch of the current epoch, each P classes x K examples, grouped by class."""
        rng = np.random.default_rng([self.seed, self.epoch])
        queues = [rng.permutation(members) for members in self.members]
        cursors = [0] * len(self.members)
        batches = []
        for _ in range(self.batches_per_epoch):
            batch = []
            for label in rng.permutation(len(self.members))[:self.classes_per_batch]:
                batch.extend(self._draw(label, queues, cursors, rng))
            batches.append(batch)
        return batches

    def _draw(self, label: int, queues: list[np.ndarray], cursors: list[int], rng: np.random.Generator) -> list[int]:
        """K examples of class ``label``, advancing its queue (module docstring)."""
        members, k = self.members[label], self.samples_per_class
        if len(members) < k:
            return [*rng.permutation(members).tolist(), *rng.choice(members, k - len(members)).tolist()]
        if cursors[label] + k > len(members):
            queues[label], cursors[label] = rng.permutation(members), 0
        start = cursors[label]
        cursors[label] += k
        return queues[label][start:start + k].tolist()


def _usable_class_members(labels: Sequence[int] | np.ndarray | torch.Tensor) -> list[np.ndarray]:
    """The indices of each class with 2 or more examples, in label order; refuses labels with none."""
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1:
        raise ConvzooError(f"labels must be one class per example, shape (N,), got shape {labels.shape}")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    usable = [members for members in by_class if len(members) >= 2]
    if not usable:
        raise ConvzooError(f"no class has 2 or more examples among the {len(labels)} labels: no positive pairs")
    return usable
