"""MobileNet V1: Table 1's layers, Tables 6 and 7's costs, timm's weights, the CIFAR-10 course model."""

from __future__ import annotations

import json

import pytest
import timm
import torch
from torch import nn

import convzoo
from convzoo.analysis import profile
from convzoo.cli import main
from convzoo.models.mobilenet_v1 import (
    TABLE_6, TABLE_7, MobileNetV1, input_resolution, mobilenet_v1_cifar, mobilenetv1_025, mobilenetv1_050,
    mobilenetv1_075, mobilenetv1_100, mobilenetv1_125, scale_width,
)
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms, write_cifar10

BUILDERS = {f.__name__: f for f in (
    mobilenetv1_100, mobilenetv1_125, mobilenetv1_075, mobilenetv1_050, mobilenetv1_025, mobilenet_v1_cifar,
)}
PARAMS = {
    "mobilenetv1_100": 4_231_976,  # timm's
    "mobilenetv1_125": 6_270_840,  # timm's
    "mobilenetv1_075": 2_585_560,
    "mobilenetv1_050": 1_331_592,
    "mobilenetv1_025": 470_072,
    "mobilenet_v1_cifar": 2_142_026,
}
WIDTHS = {1.0: mobilenetv1_100, 0.75: mobilenetv1_075, 0.5: mobilenetv1_050, 0.25: mobilenetv1_025}
# Measured mult-adds (convzoo.analysis.profile) at 224x224 for each width.
MACS_224 = {1.0: 568_740_352, 0.75: 325_400_448, 0.5: 149_497_088, 0.25: 41_030_272}
# ... and of 1.0 MobileNet at each resolution.
MACS_1_0 = {224: 568_740_352, 192: 418_121_728, 160: 290_675_200, 128: 186_400_768}


def meta(builder, **kwargs):
    with torch.device("meta"):
        return builder(**kwargs).eval()


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    assert count_parameters(meta(BUILDERS[name])) == PARAMS[name]


@pytest.mark.parametrize("name", ["mobilenetv1_100", "mobilenetv1_125"])
def test_timm_weights_give_timm_outputs(name):
    torch.manual_seed(0)
    theirs = timm.create_model(name).eval()
    randomise_norms(theirs)
    assert count_parameters(theirs) == PARAMS[name]
    ours = load_weights(empty_model(BUILDERS[name]), theirs.state_dict())
    assert list(ours.state_dict()) == list(theirs.state_dict())  # same keys, no remapping
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_layers_are_table_1():
    """(type, output channels, output side) of every conv at 224x224, as in Table 1."""
    model = meta(mobilenetv1_100)
    seen = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            kind = "conv" if name == "conv_stem" else ("dw" if module.groups > 1 else "pw")
            module.register_forward_hook(lambda m, _i, out, kind=kind: seen.append((kind, out.shape[1], out.shape[-1])))
    model(torch.empty(1, 3, 224, 224, device="meta"))
    expected = [("conv", 32, 112)]
    side, channels = 112, 32
    for out_channels, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
        (1024, 2), (1024, 1),  # the paper's table marks this last one 's2', a typo: 7x7 in, 7x7 out
    ]:
        side //= stride
        expected += [("dw", channels, side), ("pw", out_channels, side)]
        channels = out_channels
    assert seen == expected
    assert len(seen) == 27 and model.num_features == 1024  # 28 layers with the fully connected one
    assert sum(isinstance(m, DepthwiseSeparableConv2d) for m in model.modules()) == 13


@pytest.mark.parametrize("alpha", WIDTHS)
def test_table_6_width_multiplier(alpha):
    """Mult-adds and parameters at 224x224 within the rounding of Table 6 (569/325/149/41M; 4.2/2.6/1.3/0.5M)."""
    model = meta(WIDTHS[alpha])
    _top1, paper_macs, paper_params = TABLE_6[alpha]
    macs = profile(model, (3, 224, 224)).macs
    assert macs == MACS_224[alpha]
    assert abs(macs / 1e6 - paper_macs) < 0.5
    assert round(count_parameters(model) / 1e6, 1) == paper_params
    assert model.width_multiplier == alpha


def test_table_7_resolution_multiplier():
    """1.0 MobileNet at 224/192/160/128 (rho = 1, 6/7, 5/7, 4/7): 569/418/290/186M mult-adds.

    The paper's figures are 569 rho^2 rounded; the measured counts are within 1M of them
    (at 160 the exact count is 290.7M: the fully connected layer does not shrink with rho).
    """
    model = meta(mobilenetv1_100)
    params = count_parameters(model)
    for rho, side in [(1, 224), (6 / 7, 192), (5 / 7, 160), (4 / 7, 128)]:
        assert input_resolution(rho) == side
        _top1, paper_macs, paper_params = TABLE_7[side]
        result = profile(model, (3, side, side))
        assert result.macs == MACS_1_0[side]
        assert abs(result.macs / 1e6 - paper_macs) < 1
        assert round(569 * rho**2) == paper_macs
        assert result.params == params and round(params / 1e6, 1) == paper_params  # rho leaves them
    with pytest.raises(ValueError, match="rho"):
        input_resolution(1.5)


def test_width_rounding():
    assert [scale_width(c, 0.25) for c in (32, 64, 1024)] == [8, 16, 256]
    assert [scale_width(c, 1.25) for c in (32, 64, 1024)] == [40, 80, 1280]
    assert scale_width(32, 0.1) == 8  # never below one group of 8
    assert meta(mobilenetv1_125).num_features == 1280


def test_activation_is_relu6_by_default_and_injectable():
    acts = {type(m) for m in meta(mobilenetv1_100).modules() if isinstance(m, (nn.ReLU, nn.ReLU6))}
    assert acts == {nn.ReLU6}  # as in TF-slim and timm
    paper = meta(mobilenetv1_100, act_layer=nn.ReLU)
    assert {type(m) for m in paper.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))} == {nn.ReLU}
    assert count_parameters(paper) == PARAMS["mobilenetv1_100"]
    assert {type(m) for m in meta(mobilenet_v1_cifar).modules() if isinstance(m, (nn.ReLU, nn.ReLU6))} == {nn.ReLU}


def test_cifar_model_is_the_course_architecture():
    model = mobilenet_v1_cifar().eval()
    assert model.num_classes == 10 and model.conv_stem.out_channels == 32 and model.conv_stem.stride == (1, 1)
    layers = [(m.out_channels, m.conv_dw.stride[0]) for m in model.modules() if isinstance(m, DepthwiseSeparableConv2d)]
    assert layers == [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (1024, 2), (1024, 1)]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert model.forward_features(x).shape == (2, 1024, 2, 2)
        assert model(x).shape == (2, 10)
    card = convzoo.model_card("mobilenet_v1_cifar")
    assert card["input_size"] == [3, 32, 32] and card["num_classes"] == 10
    assert card["notes"]["course_test_accuracy"] == 77.85
    assert "eval mode" in card["notes"]["course_evaluation_caveat"]


def test_model_cards_record_the_tables():
    notes = convzoo.model_card("mobilenetv1_100")["notes"]
    assert notes["table_6_width_multiplier"]["0.5"] == dict(top1=63.7, mult_adds_M=149, params_M=1.3)
    assert notes["table_7_resolution"]["160"]["mult_adds_M"] == 290
    assert convzoo.model_card("mobilenetv1_025")["notes"]["paper_mult_adds_millions"] == 41
    assert convzoo.model_card("mobilenetv1_125")["timm_name"] == "mobilenetv1_125"


def test_any_width_and_input():
    model = MobileNetV1(width_multiplier=0.5, in_chans=1, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 1, 1)).shape == (1, 3)  # every conv is padded
    with pytest.raises(ValueError, match="width_multiplier"):
        MobileNetV1(width_multiplier=0)


def test_trains_on_cifar10_files_with_the_course_recipe(tmp_path, capsys):
    write_cifar10(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "mobilenet_v1_cifar", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--recipe", "mobilenet_cifar", "--epochs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["lr"] == 1e-3  # the recipe's Adam at a constant 1e-3
    meta_data = json.loads((out / "model.json").read_text())
    assert meta_data["model"] == "mobilenet_v1_cifar" and meta_data["input_size"] == [3, 32, 32]
    assert meta_data["class_names"][0] == "airplane"
