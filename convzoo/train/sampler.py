"""Batches of indices whose order depends only on (seed, epoch), resumable mid-epoch.

Each epoch's permutation comes from its own generator seeded by the run's seed and the
epoch, never from the global random state, so a resumed run sees exactly the batches an
uninterrupted run would have seen, starting from any batch of the epoch.

Under data parallelism every process draws the same permutation and takes an
interleaved share of each *global* batch (process ``r`` of ``w`` takes positions ``r``,
``r + w``, ...), so the processes together see the same global batches as a single
process with the same global batch size.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["EpochBatchSampler"]

_EPOCH_STRIDE = 1_000_003  # a prime, so (seed, epoch) pairs do not collide in practice


class EpochBatchSampler(Sampler[list[int]]):
    """Yields this process's share of each global batch of an epoch.

    Args:
        size: number of samples in the dataset.
        batch_size: global batch size (over all processes).
        seed: the run's seed.
        shuffle: permute each epoch; in order when false.
        drop_last: drop a last, incomplete global batch.
        rank: this process's index.
        world_size: number of processes.
    """

    def __init__(
        self, size: int, batch_size: int, *, seed: int = 0, shuffle: bool = True, drop_last: bool = False,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's permutation and the batch to start from."""
        self.epoch = epoch
        self.start_batch = start_batch

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start_batch

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * _EPOCH_STRIDE + self.epoch)
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        for batch in range(self.start_batch, self.batches_per_epoch):
            indices = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield indices[self.rank::self.world_size].tolist()
