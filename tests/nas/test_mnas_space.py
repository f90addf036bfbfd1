"""The mnas search space: decisions, encode/decode, seeded sampling, mutation, building, files, the reference."""

from __future__ import annotations

import json
import random

import pytest
import torch

import convzoo
from convzoo.errors import ConvzooError
from convzoo.models.mobilenet_v2 import mobilenet_v2_cifar
from convzoo.models.nas_net import DEFAULT_GENOTYPE, MnasGenotype
from convzoo.nas.mnas_space import MnasSpace
from helpers import count_parameters, randomise_norms

SMALL = MnasSpace(width_mult=0.25, stem_stride=2)  # a CPU proxy's space: 8x8 maps after the stem at 16x16


def test_decisions_and_size():
    space = MnasSpace()
    assert space.decisions() == [4, 3, 2, 2, 3] * 6
    assert space.size() == 144 ** 6 == 8_916_100_448_256
    assert (space.name, space.model_name, space.model_kwargs()) == ("mnas", "nas_net", {})
    # MobileNetV2's base widths x 0.75, 1.0, 1.25, to the nearest multiple of 8.
    assert space.widths == [[16, 24, 32], [24, 32, 40], [48, 64, 80], [72, 96, 120], [120, 160, 200],
                            [240, 320, 400]]


def test_width_mult_scales_stem_base_widths_and_head():
    space = MnasSpace(width_mult=0.5)
    g = space.reference_genotype()
    assert g["stem"] == {"out_channels": 16, "stride": 1} and g["head_channels"] == 640
    assert [s["out_channels"] for s in g["stages"]] == [8, 16, 16, 32, 48, 80, 160]


@pytest.mark.parametrize("space", [MnasSpace(), SMALL], ids=["full", "small"])
def test_decode_inverts_encode_and_genotypes_are_json(space):
    rng = random.Random(1)
    for _ in range(50):
        g = space.sample(rng)
        assert space.decode(space.encode(g)) == g
        assert json.loads(json.dumps(g)) == g
        assert MnasGenotype.from_dict(g).to_dict() == g


def test_encode_of_decode_on_the_full_space():
    space, rng = MnasSpace(), random.Random(2)
    for _ in range(50):
        choices = [rng.randrange(n) for n in space.decisions()]
        assert space.encode(space.decode(choices)) == choices  # no two width choices coincide at width 1.0


def test_sampling_is_reproducible_from_the_seed():
    space = MnasSpace()
    first = [space.sample(random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]
    run = random.Random(7)
    again = random.Random(7)
    assert [space.sample(run) for _ in range(5)] == [space.sample(again) for _ in range(5)]
    assert space.sample(random.Random(7)) != space.sample(random.Random(8))


@pytest.mark.parametrize("space", [MnasSpace(), SMALL], ids=["full", "small"])
def test_mutate_changes_exactly_one_decision(space):
    rng = random.Random(3)
    g = space.sample(rng)
    positions = set()
    for _ in range(100):
        mutated = space.mutate(g, rng)
        assert mutated != g  # never a no-op, even where width choices round to the same count
        changed = [i for i, (a, b) in enumerate(zip(space.encode(g), space.encode(mutated))) if a != b]
        assert len(changed) == 1
        positions.add(changed[0])
        g = mutated
    assert len(positions) > 15  # every kind of decision gets mutated


def test_mutate_is_reproducible_from_the_seed():
    g = MnasSpace().reference_genotype()
    assert MnasSpace().mutate(g, random.Random(5)) == MnasSpace().mutate(g, random.Random(5))


def test_every_sampled_genotype_builds_and_runs():
    rng = random.Random(4)
    for _ in range(4):
        g = SMALL.sample(rng)
        model = convzoo.create_model(SMALL.model_name, genotype=g, num_classes=10, in_chans=1, **SMALL.model_kwargs())
        logits = model(torch.randn(2, 1, 16, 16))
        assert logits.shape == (2, 10) and torch.isfinite(logits).all()
        blocks = sum(len(stage) for stage in model.stages)
        assert blocks == sum(stage["blocks"] for stage in g["stages"])


def test_full_width_samples_build_for_32x32():
    space, rng = MnasSpace(), random.Random(9)
    with torch.device("meta"):  # shapes only: the full space's networks are millions of parameters
        for _ in range(3):
            model = convzoo.create_model(space.model_name, genotype=space.sample(rng), num_classes=10, in_chans=1)
            assert model(torch.empty(2, 1, 32, 32)).shape == (2, 10)


def test_genotype_file_round_trip(tmp_path):
    torch.manual_seed(0)
    g = SMALL.sample(random.Random(6))
    path = tmp_path / "best.json"
    path.write_text(json.dumps(g, indent=1))
    original = convzoo.create_model("nas_net", genotype=g, in_chans=1).eval()
    randomise_norms(original)
    loaded = convzoo.create_model("nas_net", genotype=path, in_chans=1).eval()
    assert {k: v.shape for k, v in loaded.state_dict().items()} == {k: v.shape for k, v in original.state_dict().items()}
    loaded.load_state_dict(original.state_dict())
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), original(x))


def test_reference_genotype_is_mobilenet_v2_cifar():
    space = MnasSpace()
    g = space.reference_genotype()
    assert g == DEFAULT_GENOTYPE.to_dict()
    assert space.encode(g)[:5] == [1, 0, 1, 0, 1]  # 2 blocks, kernel 3, t 6, no SE, width x1.0
    with torch.device("meta"):
        ours = convzoo.create_model("nas_net", genotype=g)
        theirs = mobilenet_v2_cifar()
    # Same stem, blocks, head conv and classifier: every count equal (only the key names differ).
    assert count_parameters(ours) == count_parameters(theirs) == 2_236_682
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in theirs.state_dict().values()]


@pytest.mark.parametrize("edit, fragment", [
    (lambda g: g["stages"][3].update(kernel_size=9), "stages[3].kernel_size: expected one of 3, 5, 7"),
    (lambda g: g["stages"][2].update(out_channels=33), "stages[2].out_channels: expected one of 24, 32, 40"),
    (lambda g: g["stages"][2].update(stride=1), "stages[2].stride: expected 2"),
    (lambda g: g["stages"][1].update(blocks=5), "stages[1].blocks: expected one of 1, 2, 3, 4"),
    (lambda g: g["stages"].pop(), "searched stages"),
    (lambda g: g["stem"].update(stride=2), "stem/head"),
    (lambda g: g["stages"][0].update(kernel_size=5), "fixed first stage"),
    (lambda g: g.update(colour="red"), "genotype colour: unknown key"),
])
def test_a_genotype_outside_the_space_is_one_line(edit, fragment):
    g = MnasSpace().reference_genotype()
    edit(g)
    with pytest.raises(ConvzooError) as error:
        MnasSpace().encode(g)
    assert "\n" not in str(error.value) and fragment in str(error.value)


def test_bad_choices_and_options_are_one_line():
    space = MnasSpace()
    with pytest.raises(ConvzooError, match="expected 30 choices, got 3"):
        space.decode([0, 0, 0])
    with pytest.raises(ConvzooError, match=r"choice 2 must be an integer in \[0, 2\), got 2"):
        space.decode([0, 0, 2] + [0] * 27)
    with pytest.raises(ConvzooError, match="width_mult must be a positive number"):
        MnasSpace(width_mult=0)
    with pytest.raises(ConvzooError, match="stem_stride must be 1 or 2"):
        MnasSpace(stem_stride=4)
