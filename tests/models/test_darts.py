"""DARTS's operations, genotypes, cells and evaluation network."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import convzoo
from convzoo.errors import ConvzooError
from convzoo.models._classifier import AuxLogits
from convzoo.models.darts import (
    DARTS_V1,
    DARTS_V2,
    OPS,
    PRIMITIVES,
    DartsCell,
    DartsGenotype,
    DartsNet,
    FactorizedReduce,
    drop_path,
    to_genotype,
)


def test_operations_are_the_papers_eight():
    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    x = torch.randn(2, 6, 9, 9)
    for name in PRIMITIVES:
        for stride, side in ((1, 9), (2, 5)):
            assert OPS[name](6, stride, True)(x).shape == (2, 6, side, side), (name, stride)
    assert isinstance(OPS["skip_connect"](6, 1, True), nn.Identity)
    assert isinstance(OPS["skip_connect"](6, 2, True), FactorizedReduce)
    assert not OPS["none"](6, 2, True)(x).any()


def test_separable_and_dilated_convs_are_built_as_the_paper():
    sep = OPS["sep_conv_5x5"](8, 2, False)
    kinds = [type(m).__name__ for m in sep]
    assert kinds == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d"] * 2
    assert sep[1].stride == (2, 2) and sep[5].stride == (1, 1) and sep[1].groups == 8 and sep[2].kernel_size == (1, 1)
    assert not sep[3].affine
    dil = OPS["dil_conv_3x3"](8, 1, True)
    assert [type(m).__name__ for m in dil] == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d"]
    assert dil[1].dilation == (2, 2) and dil[1].padding == (2, 2) and dil[1].groups == 8
    assert OPS["dil_conv_5x5"](8, 1, True)[1].padding == (4, 4)


def test_average_pooling_excludes_padding():
    out = OPS["avg_pool_3x3"](1, 1, True)(torch.ones(1, 1, 4, 4))
    assert torch.equal(out, torch.ones(1, 1, 4, 4))  # a corner averages its 4 pixels, not 4 of 9


def test_factorized_reduce_is_two_shifted_strided_convs():
    torch.manual_seed(0)
    reduce = FactorizedReduce(3, 8).eval()
    x = torch.randn(2, 3, 6, 6)
    direct = torch.cat([reduce.conv_1(x.relu()), reduce.conv_2(x.relu()[:, :, 1:, 1:])], dim=1)
    assert torch.allclose(reduce(x), reduce.bn(direct))
    assert reduce(torch.randn(1, 3, 7, 5)).shape == (1, 8, 4, 3)  # odd sides: padded (a deviation)


def test_drop_path_keeps_or_drops_whole_samples():
    torch.manual_seed(0)
    x = torch.rand(64, 2, 3, 3) + 1
    out = drop_path(x, 0.25)
    kept = out.flatten(1).ne(0).all(dim=1)
    assert torch.allclose(out[kept], x[kept] / 0.75) and not out[~kept].any()
    assert 0 < (~kept).sum() < 64


def test_genotype_round_trip(tmp_path):
    values = DARTS_V2.to_dict()
    assert values["normal"][:2] == [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]] and len(values["reduce"]) == 8
    assert json.loads(json.dumps(values)) == values
    assert DartsGenotype.from_dict(values) == DARTS_V2
    path = tmp_path / "g.json"
    DARTS_V1.save(path)
    assert DartsGenotype.load(path) == DARTS_V1 == to_genotype(str(path))
    assert to_genotype(None) == DARTS_V2 and to_genotype(values) == DARTS_V2


@pytest.mark.parametrize("change, message", [
    ({"space": "mnas"}, "space"),
    ({"normal": [["conv_7x7", 0], ["sep_conv_3x3", 1]]}, "normal\\[0\\]"),
    ({"normal": [["none", 0], ["sep_conv_3x3", 1]]}, "normal\\[0\\]"),
    ({"reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 2]]}, "input in 0..1"),
    ({"reduce": [["max_pool_3x3", 0]]}, "2 per node"),
    ({"normal_concat": [2, 9]}, "normal_concat"),
    ({"extra": 1}, "unknown key"),
])
def test_bad_genotypes_fail_in_one_line(change, message):
    values = {**DARTS_V2.to_dict(), **change}
    with pytest.raises(ConvzooError, match=message) as error:
        DartsGenotype.from_dict(values)
    assert "\n" not in str(error.value)


def test_bad_genotype_file(tmp_path):
    with pytest.raises(ConvzooError, match="cannot read"):
        to_genotype(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConvzooError, match="not JSON"):
        to_genotype(tmp_path / "bad.json")


def test_cell_sums_the_genotypes_edges():
    """A cell equals its nodes computed by hand from the genotype (DARTS_V2's normal cell, Fig. 4)."""
    torch.manual_seed(0)
    cell = DartsCell(DARTS_V2.normal, DARTS_V2.normal_concat, 10, 12, 4, reduction=False,
                     reduction_prev=True).eval()
    s0, s1 = torch.randn(2, 10, 8, 8), torch.randn(2, 12, 4, 4)
    p0, p1 = cell.preprocess0(s0), cell.preprocess1(s1)
    op = cell.ops
    n0 = op[0](p0) + op[1](p1)  # sep3(0) + sep3(1)
    n1 = op[2](p0) + op[3](p1)  # sep3(0) + sep3(1)
    n2 = op[4](p1) + p0  # sep3(1) + skip(0)
    n3 = p0 + op[7](n0)  # skip(0) + dil3(node 0)
    assert torch.allclose(cell(s0, s1), torch.cat([n0, n1, n2, n3], dim=1))
    assert isinstance(op[5], nn.Identity) and isinstance(op[7][1], nn.Conv2d) and op[7][1].dilation == (2, 2)


def test_reduction_cell_strides_only_the_input_edges():
    cell = DartsCell(DARTS_V2.reduce, DARTS_V2.reduce_concat, 8, 8, 4, reduction=True, reduction_prev=False)
    strided = [isinstance(op, FactorizedReduce) or getattr(op, "stride", 1) in (2, (2, 2)) for op in cell.ops]
    assert strided == [source < 2 for _, source in DARTS_V2.reduce]
    assert cell(torch.randn(1, 8, 8, 8), torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)


def test_darts_v2_parameter_count_matches_the_reference():
    """3.3M in the paper (Table 1); the reference train.py prints 'param size = 3.349342MB' without the aux head."""
    with torch.device("meta"):
        model = DartsNet(DARTS_V2, init_channels=36, layers=20, num_classes=10)
    total = sum(p.numel() for p in model.parameters())
    aux = sum(p.numel() for p in model.auxiliary_head.parameters())
    assert total - aux == 3_349_342
    assert aux == 476_426


def test_network_layout():
    model = DartsNet(DARTS_V1, init_channels=4, layers=5, num_classes=3, in_chans=1)
    reductions = [cell.reduction for cell in model.cells]
    assert reductions == [False, True, False, True, False]  # at layers // 3 and 2 * layers // 3
    assert model.stem[0].out_channels == 12 and model.num_features == 4 * 16
    assert [info["reduction"] for info in model.feature_info] == [1, 2, 4]
    assert model.auxiliary_head.features[2].in_channels == 4 * 16  # after the cell at 2/3 depth
    out = model(torch.randn(2, 1, 32, 32))
    assert isinstance(out, AuxLogits) and out.logits.shape == (2, 3) and out.aux[0].shape == (2, 3)
    model.eval()
    assert model(torch.randn(2, 1, 9, 9)).shape == (2, 3)  # any size without the auxiliary head


def test_drop_path_is_used_in_training_only():
    torch.manual_seed(0)
    model = DartsNet(None, init_channels=4, layers=3, num_classes=3, auxiliary=False, drop_path=0.5).eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(1)
    first = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(first, model(x))


def test_reset_classifier_resets_the_auxiliary_head():
    model = DartsNet(None, init_channels=4, layers=3, num_classes=3)
    model.reset_classifier(5)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.logits.shape == (2, 5) and out.aux[0].shape == (2, 5)
    model.reset_classifier(0)
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, model.num_features)


def test_registered_builder_takes_dicts_and_paths(tmp_path):
    card = convzoo.model_card("darts_net")
    assert card["family"] == "nas" and card["input_size"] == [3, 32, 32] and card["num_classes"] == 10
    path = tmp_path / "g.json"
    DARTS_V1.save(path)
    for genotype in (DARTS_V1, DARTS_V1.to_dict(), path, str(path)):
        model = convzoo.create_model("darts_net", genotype=genotype, init_channels=4, layers=3, num_classes=2,
                                     in_chans=1, auxiliary=False)
        assert model.genotype == DARTS_V1
        assert model(torch.randn(1, 1, 8, 8)).shape == (1, 2)
