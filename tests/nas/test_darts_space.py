"""DARTS's cell space as 32 categorical decisions: round trip, sampling, mutation, building."""

from __future__ import annotations

import random

import pytest
import torch

import convzoo
from convzoo.errors import ConvzooError
from convzoo.models.darts import DARTS_V1, DARTS_V2
from convzoo.nas.darts_space import OPERATIONS, DartsSpace


def test_decisions():
    space = DartsSpace()
    assert space.name == "darts" and space.model_name == "darts_net"
    assert space.decisions() == [2, 2, 7, 7, 3, 3, 7, 7, 4, 4, 7, 7, 5, 5, 7, 7] * 2
    assert "none" not in OPERATIONS and len(OPERATIONS) == 7
    assert space.model_kwargs() == {"init_channels": 16, "layers": 8, "auxiliary": False}


def test_paper_genotypes_round_trip():
    space = DartsSpace()
    for genotype in (DARTS_V2.to_dict(), DARTS_V1.to_dict()):
        choices = space.encode(genotype)
        assert all(0 <= c < n for c, n in zip(choices, space.decisions()))
        assert space.decode(choices) == genotype
    sep3 = OPERATIONS.index("sep_conv_3x3")
    assert space.encode(DARTS_V2.to_dict())[:4] == [0, 1, sep3, sep3]  # node 0: sep_conv_3x3 on inputs 0 and 1


def test_samples_are_seeded_valid_and_round_trip():
    space = DartsSpace()
    first = [space.sample(random.Random(3)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(0)
    seen_ops, seen_inputs = set(), set()
    for _ in range(200):
        g = space.sample(rng)
        assert space.decode(space.encode(g)) == g
        for cell in ("normal", "reduce"):
            gene = g[cell]
            for i in range(4):
                (op_a, a), (op_b, b) = gene[2 * i], gene[2 * i + 1]
                assert a != b and 0 <= a < i + 2 and 0 <= b < i + 2
                seen_ops |= {op_a, op_b}
                seen_inputs.add((i, a, b))
    assert seen_ops == set(OPERATIONS)
    assert len(seen_inputs) == sum((i + 2) * (i + 1) for i in range(4))  # every ordered distinct pair


def test_mutate_changes_exactly_one_decision():
    space = DartsSpace()
    rng = random.Random(1)
    g = space.sample(rng)
    changed_positions = set()
    for _ in range(300):
        child = space.mutate(g, rng)
        before, after = space.encode(g), space.encode(child)  # encode rejects repeated inputs
        diff = [k for k, (x, y) in enumerate(zip(before, after)) if x != y]
        assert len(diff) == 1 and child != g
        changed_positions.add(diff[0])
        g = child
    # Node 0's inputs (positions 0, 1 of each cell) can only be 0 and 1: never mutated alone.
    assert changed_positions == set(range(32)) - {0, 1, 16, 17}


def test_mutate_is_seeded():
    space = DartsSpace()
    g = DARTS_V2.to_dict()
    assert space.mutate(g, random.Random(5)) == space.mutate(g, random.Random(5))


def test_decode_moves_a_repeated_input_to_the_next():
    space = DartsSpace()
    choices = space.encode(DARTS_V2.to_dict())
    choices[12:14] = [4, 4]  # normal node 3: both inputs 4
    choices[8:10] = [0, 0]  # normal node 2: both inputs 0
    choices[0:2] = [1, 1]  # normal node 0: both inputs 1 -> (1 + 1) mod 2 = 0
    g = space.decode(choices)
    assert [g["normal"][k][1] for k in (0, 1, 4, 5, 6, 7)] == [1, 0, 0, 1, 4, 0]


def test_bad_input_is_explained():
    space = DartsSpace()
    with pytest.raises(ConvzooError, match="expected 32 choices"):
        space.decode([0] * 5)
    with pytest.raises(ConvzooError, match="choice 0 must be in 0..1"):
        space.decode([2] + [0] * 31)
    g = DARTS_V2.to_dict()
    g["reduce"][6][1] = g["reduce"][7][1]
    with pytest.raises(ConvzooError, match="two distinct inputs"):
        space.encode(g)
    with pytest.raises(ConvzooError, match="4 nodes"):
        space.encode({**DARTS_V2.to_dict(), "normal_concat": [2, 3, 4]})
    with pytest.raises(ConvzooError, match="init_channels"):
        DartsSpace(init_channels=5)


def test_sampled_genotypes_build_and_run():
    space = DartsSpace(init_channels=4, layers=3)
    rng = random.Random(2)
    for _ in range(2):
        g = space.sample(rng)
        model = convzoo.create_model(space.model_name, genotype=g, num_classes=10, in_chans=1,
                                     **space.model_kwargs())
        out = model(torch.randn(2, 1, 8, 8))  # training mode: no auxiliary head in the proxy
        assert out.shape == (2, 10)
