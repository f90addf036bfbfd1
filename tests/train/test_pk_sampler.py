"""P x K batches: composition, seeded order, resuming mid-epoch, shards, refusals."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import TensorDataset

from convzoo.errors import ConvzooError
from convzoo.train.engine import make_loader
from convzoo.train.pk_sampler import PKBatchSampler

# Class sizes 10, 6, 5, 3, 2, 8 and 1: class 6 (one example) cannot give a positive.
COUNTS = [10, 6, 5, 3, 2, 8, 1]
LABELS = [label for label, count in enumerate(COUNTS) for _ in range(count)]


def batches(sampler: PKBatchSampler, epoch: int, start: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch, start)
    return list(sampler)


def test_every_batch_is_p_classes_of_k_examples():
    sampler = PKBatchSampler(LABELS, 3, 4, seed=0, batches_per_epoch=30)
    for batch in batches(sampler, 0):
        assert len(batch) == 12
        blocks = [batch[i:i + 4] for i in range(0, 12, 4)]
        classes = [{LABELS[i] for i in block} for block in blocks]
        assert all(len(c) == 1 for c in classes) and len(set.union(*classes)) == 3  # grouped, distinct
        for block in blocks:
            size = COUNTS[LABELS[block[0]]]
            assert size >= 2
            if size >= 4:
                assert len(set(block)) == 4  # without replacement
            else:
                assert len(set(block)) == size  # every example once, the rest repeated


def test_every_usable_example_comes_up_and_singletons_never():
    sampler = PKBatchSampler(LABELS, 3, 4, seed=2, batches_per_epoch=60)
    seen = Counter(i for batch in batches(sampler, 0) for i in batch)
    usable = [i for i, label in enumerate(LABELS) if COUNTS[label] >= 2]
    assert set(seen) == set(usable)


def test_default_epoch_covers_the_usable_examples_once():
    assert PKBatchSampler(LABELS, 3, 4).batches_per_epoch == 34 // 12
    assert PKBatchSampler(LABELS, 6, 4).batches_per_epoch == 1  # at least one
    assert len(PKBatchSampler(LABELS, 2, 2)) == 34 // 4


def test_order_depends_on_seed_and_epoch_only():
    first, second = PKBatchSampler(LABELS, 3, 4, seed=3), PKBatchSampler(LABELS, 3, 4, seed=3)
    assert batches(first, 2) == batches(second, 2)
    assert batches(first, 2) != batches(first, 3)
    assert batches(first, 2) != batches(PKBatchSampler(LABELS, 3, 4, seed=4), 2)
    assert batches(first, 2) == batches(PKBatchSampler(torch.tensor(LABELS), 3, 4, seed=3), 2)


def test_resuming_mid_epoch_gives_the_remaining_batches():
    sampler = PKBatchSampler(LABELS, 2, 3, seed=0, batches_per_epoch=9)
    whole = batches(sampler, 1)
    assert batches(sampler, 1, start=4) == whole[4:]
    assert len(sampler) == 5


@pytest.mark.parametrize("world", [2, 3, 4])
def test_shards_interleave_to_the_global_batch(world):
    single = batches(PKBatchSampler(LABELS, 3, 4, seed=1, batches_per_epoch=5), 0)
    shards = [batches(PKBatchSampler(LABELS, 3, 4, seed=1, batches_per_epoch=5, rank=r, world_size=world), 0)
              for r in range(world)]
    for index, whole in enumerate(single):
        for rank in range(world):
            assert shards[rank][index] == whole[rank::world]


def test_the_trainer_loader_fetches_whole_batches():
    data = TensorDataset(torch.arange(len(LABELS)).float(), torch.tensor(LABELS))
    sampler = PKBatchSampler(LABELS, 2, 2, seed=0)
    sampler.set_epoch(0)
    inputs, targets = next(iter(make_loader(data, sampler)))
    assert inputs.shape == (4,) and torch.equal(targets, torch.tensor(LABELS)[inputs.long()])


@pytest.mark.parametrize(
    ("labels", "p", "k", "message"),
    [
        (LABELS, 0, 4, "needs P >= 1"),
        (LABELS, 3, 1, "needs K >= 2 for positives"),
        (LABELS, 3, 0, "needs K >= 2 for positives"),
        ([0, 1, 2, 3], 2, 2, "no class has 2 or more examples"),
        ([], 1, 2, "no class has 2 or more examples"),
        (LABELS, 7, 2, "classes_per_batch=7 classes with 2 or more examples; the labels have 6"),
        ([[0, 0], [1, 1]], 1, 2, r"shape \(N,\)"),
    ],
)
def test_refusals(labels, p, k, message):
    with pytest.raises(ConvzooError, match=message):
        PKBatchSampler(labels, p, k)


def test_refuses_an_empty_epoch():
    with pytest.raises(ConvzooError, match="batches_per_epoch must be >= 1"):
        PKBatchSampler(LABELS, 2, 2, batches_per_epoch=0)
