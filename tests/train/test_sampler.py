"""Seeded, resumable, shardable batch order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from convzoo.train.sampler import EpochBatchSampler


def batches(sampler: EpochBatchSampler, epoch: int, start: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch, start)
    return list(sampler)


def test_order_depends_on_seed_and_epoch_only():
    first, second = EpochBatchSampler(50, 8, seed=3), EpochBatchSampler(50, 8, seed=3)
    assert batches(first, 2) == batches(second, 2)
    assert batches(first, 2) != batches(first, 3)
    assert batches(first, 2) != batches(EpochBatchSampler(50, 8, seed=4), 2)


def test_resuming_mid_epoch_gives_the_remaining_batches():
    sampler = EpochBatchSampler(50, 8, seed=0)
    whole = batches(sampler, 1)
    assert batches(sampler, 1, start=4) == whole[4:]
    assert len(sampler) == len(whole) - 4 == 3


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 200), batch=st.integers(1, 32), world=st.integers(1, 4), drop_last=st.booleans())
def test_shards_rebuild_the_single_process_batches(size, batch, world, drop_last):
    single = batches(EpochBatchSampler(size, batch, seed=1, drop_last=drop_last), 0)
    shards = [batches(EpochBatchSampler(size, batch, seed=1, drop_last=drop_last, rank=r, world_size=world), 0)
              for r in range(world)]
    for index, whole in enumerate(single):
        assert sorted(i for shard in shards for i in shard[index]) == sorted(whole)
    covered = sorted(i for whole in single for i in whole)
    assert covered == (sorted(covered) if drop_last else list(range(size)))
    assert len(set(covered)) == len(covered)


def test_unshuffled_is_in_order():
    assert batches(EpochBatchSampler(5, 2, shuffle=False), 0) == [[0, 1], [2, 3], [4]]
