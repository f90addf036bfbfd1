"""nas_net: genotypes (validation, files), MobileNetV2-CIFAR as a genotype, SE, latency units, a pinned count."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from torch import nn

import convzoo
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.errors import ConvzooError
from convzoo.models.mobilenet_v2 import mobilenet_v2_cifar
from convzoo.models.nas_net import DEFAULT_GENOTYPE, MnasGenotype, NasNet, StageGene, nas_net
from helpers import count_parameters, randomise_norms


def stage(blocks=1, kernel_size=3, expand_ratio=6, se=False, out_channels=16, stride=1) -> dict:
    return dict(blocks=blocks, kernel_size=kernel_size, expand_ratio=expand_ratio, se=se, out_channels=out_channels,
                stride=stride)


def genotype(*stages: dict, stem=(8, 1), head=32) -> dict:
    return {"space": "mnas", "stem": {"out_channels": stem[0], "stride": stem[1]}, "stages": list(stages),
            "head_channels": head}


# A small genotype with every option: SE, kernels 5 and 7, expansion 1 and 3, a stride-2 stem and stages.
MIXED = genotype(stage(1, 3, 1, False, 8, 1), stage(2, 5, 3, True, 16, 2), stage(2, 7, 6, False, 24, 2),
                 stage(1, 3, 3, True, 24, 1), stem=(8, 2), head=48)


def test_genotype_dict_round_trip_and_json_file(tmp_path):
    parsed = MnasGenotype.from_dict(MIXED)
    assert parsed.to_dict() == MIXED
    assert parsed.stages[1] == StageGene(2, 5, 3, True, 16, 2)
    path = tmp_path / "g.json"
    parsed.save(path)
    assert json.loads(path.read_text()) == MIXED
    assert MnasGenotype.load(path) == parsed


def test_default_genotype_is_mobilenet_v2_cifar_table():
    rows = [(s.expand_ratio, s.out_channels, s.blocks, s.stride, s.kernel_size, s.se) for s in DEFAULT_GENOTYPE.stages]
    assert rows == [(1, 16, 1, 1, 3, False), (6, 24, 2, 1, 3, False), (6, 32, 3, 2, 3, False), (6, 64, 4, 2, 3, False),
                    (6, 96, 3, 1, 3, False), (6, 160, 3, 2, 3, False), (6, 320, 1, 1, 3, False)]
    assert (DEFAULT_GENOTYPE.stem_channels, DEFAULT_GENOTYPE.stem_stride, DEFAULT_GENOTYPE.head_channels) == (32, 1, 1280)


def test_reference_genotype_is_mobilenet_v2_cifar_weight_for_weight():
    """Same parameter count, same parameters in the same order: with ReLU6, loaded by position, same outputs."""
    torch.manual_seed(0)
    reference = mobilenet_v2_cifar().eval()
    randomise_norms(reference)
    ours = nas_net(act_layer=partial(nn.ReLU6, inplace=True)).eval()
    assert count_parameters(ours) == count_parameters(reference) == 2_236_682
    theirs = list(reference.state_dict().values())
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in theirs]
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs)))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
        relu = nas_net().eval()  # MnasNet's ReLU: the same weights give other outputs (no clipping at 6)
        relu.load_state_dict(ours.state_dict())
        assert not torch.equal(relu(x), reference(x))
    stages = [(i["num_chs"], i["reduction"]) for i in ours.feature_info]
    assert stages == [(i["num_chs"], i["reduction"]) for i in reference.feature_info]


def test_hand_computed_parameter_count():
    g = genotype(stage(1, 3, 1, False, 8, 1), stage(2, 5, 3, True, 16, 2), stem=(8, 1), head=32)
    bn = 2  # weight and bias per channel
    stem = 1 * 8 * 9 + 8 * bn
    first = 8 * 9 + 8 * bn + 8 * 8 + 8 * bn  # t = 1: depthwise and projection only
    # in 8 -> 16, expanded 24, SE bottleneck 8 / 4 = 2 (with biases)
    block1 = 8 * 24 + 24 * bn + 24 * 25 + 24 * bn + (24 * 2 + 2) + (2 * 24 + 24) + 24 * 16 + 16 * bn
    # in 16 -> 16, expanded 48, SE bottleneck 16 / 4 = 4
    block2 = 16 * 48 + 48 * bn + 48 * 25 + 48 * bn + (48 * 4 + 4) + (4 * 48 + 48) + 48 * 16 + 16 * bn
    head = 16 * 32 + 32 * bn + 32 * 10 + 10
    expected = stem + first + block1 + block2 + head
    assert expected == 5984
    assert count_parameters(nas_net(g, in_chans=1)) == expected


def test_se_only_in_se_stages_with_a_quarter_of_the_block_input():
    model = nas_net(MIXED)
    found = {name: m.fc1.out_channels for name, m in model.named_modules() if isinstance(m, SqueezeExcite)}
    assert found == {"stages.1.0.block.2": 2, "stages.1.1.block.2": 4, "stages.3.0.block.2": 6}


def test_builder_takes_a_dict_a_genotype_or_a_path(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps(MIXED))
    models = [convzoo.create_model("nas_net", genotype=g, in_chans=1) for g in
              (MIXED, MnasGenotype.from_dict(MIXED), path, str(path))]
    shapes = [{k: v.shape for k, v in m.state_dict().items()} for m in models]
    assert all(s == shapes[0] for s in shapes)
    assert models[0].num_classes == 10 and models[0].genotype == MnasGenotype.from_dict(MIXED)


def test_feature_info_marks_each_resolution():
    model = nas_net(MIXED)
    assert [(i["module"], i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        ("stages.0", 8, 2), ("stages.1", 16, 4), ("stages.3", 24, 8), ("head", 48, 8)]
    first_downsamples = genotype(stage(1, 3, 6, False, 16, 2), stem=(8, 2), head=32)
    assert nas_net(first_downsamples).feature_info[0] == dict(num_chs=8, reduction=2, module="stem")


@pytest.mark.parametrize("side", [15, 32])
def test_latency_units_chained_are_the_forward_pass(side):
    torch.manual_seed(0)
    model = nas_net(MIXED, in_chans=1).eval()
    randomise_norms(model)
    x = torch.randn(1, 1, side, side)
    units = model.latency_units((1, side, side))
    assert len(units) == 1 + 6 + 1 and units[0][0].startswith("stem:") and units[-1][0].startswith("head:")
    with torch.no_grad():
        y = x
        for key, unit, shape in units:
            assert tuple(y.shape) == shape, key
            y = unit(y)
        assert torch.equal(y, model(x))
    with_batch = model.latency_units((1, 1, side, side))  # a leading batch is taken too
    assert [(key, shape) for key, _, shape in with_batch] == [(key, shape) for key, _, shape in units]


def test_latency_keys_name_each_block_configuration():
    keys = [key for key, _, _ in nas_net(MIXED).latency_units((3, 32, 32))]
    assert keys[0] == "stem:in=3,out=8,k=3,s=2,hw=32x32"
    assert keys[2] == "ir:in=8,out=16,k=5,t=3,se=1,s=2,hw=16x16"
    assert keys[3] == "ir:in=16,out=16,k=5,t=3,se=1,s=1,hw=8x8"
    assert keys[-1] == "head:in=24,out=48,classes=10,hw=4x4"
    assert len(set(keys)) == len(keys)
    # Two identical blocks at the same size share a key (one measurement in the table).
    repeated = nas_net(genotype(stage(3, 3, 6, False, 16, 1), stem=(16, 1))).latency_units((3, 8, 8))
    assert repeated[1][0] == repeated[2][0] == repeated[3][0]


@pytest.mark.parametrize("change, fragments", [
    (lambda g: g.update(extra=1), ["genotype extra", "unknown key"]),
    (lambda g: g.pop("head_channels"), ["genotype head_channels", "missing"]),
    (lambda g: g.update(space="darts"), ["genotype space", "'mnas'"]),
    (lambda g: g.update(stages=[]), ["genotype stages", "non-empty list"]),
    (lambda g: g["stem"].update(stride=3), ["genotype stem.stride", "1 or 2"]),
    (lambda g: g["stages"][1].update(kernel_size=4), ["genotype stages[1].kernel_size", "odd"]),
    (lambda g: g["stages"][1].update(kernel_size=-1), ["genotype stages[1].kernel_size", "positive odd"]),
    (lambda g: g["stages"][2].update(stride=3), ["genotype stages[2].stride", "1 or 2"]),
    (lambda g: g["stages"][0].update(blocks=0), ["genotype stages[0].blocks", ">= 1"]),
    (lambda g: g["stages"][3].update(expand_ratio=0), ["genotype stages[3].expand_ratio", ">= 1"]),
    (lambda g: g["stages"][3].update(expand_ratio=2.5), ["genotype stages[3].expand_ratio", "integer"]),
    (lambda g: g["stages"][3].update(se="yes"), ["genotype stages[3].se", "true or false"]),
    (lambda g: g["stages"][3].pop("out_channels"), ["genotype stages[3].out_channels", "missing"]),
    (lambda g: g["stages"][3].update(width=2), ["genotype stages[3].width", "unknown key"]),
])
def test_bad_genotype_is_one_line_naming_the_field(change, fragments):
    bad = json.loads(json.dumps(MIXED))
    change(bad)
    with pytest.raises(ConvzooError) as error:
        convzoo.create_model("nas_net", genotype=bad)
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_bad_genotype_file_is_one_line_naming_it(tmp_path):
    not_json = tmp_path / "broken.json"
    not_json.write_text("{\"space\": ")
    bad_field = tmp_path / "bad.json"
    bad_field.write_text(json.dumps({**MIXED, "head_channels": 0}))
    cases = [(tmp_path / "missing.json", "cannot read"), (not_json, "is not JSON"), (bad_field, "head_channels")]
    for path, fragment in cases:
        with pytest.raises(ConvzooError) as error:
            nas_net(path)
        assert "\n" not in str(error.value) and str(path) in str(error.value) and fragment in str(error.value)
    with pytest.raises(ConvzooError, match="genotype: expected a dict"):
        NasNet(genotype=[1, 2])


def test_model_card_says_what_it_is():
    card = convzoo.model_card("nas_net")
    assert card["family"] == "nas" and card["input_size"] == [3, 32, 32]
    assert "genotype of the search space, not a paper's network" in card["deviations"]
    assert card["paper"]["url"] == "https://arxiv.org/abs/1807.11626"
