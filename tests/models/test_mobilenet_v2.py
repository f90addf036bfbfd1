"""MobileNetV2: parameter counts, the width multiplier against torchvision, the CIFAR-10 variant and its recipe."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import torchvision

import convzoo
from convzoo.blocks.inverted_residual import InvertedResidual
from convzoo.cli import main
from convzoo.models.mobilenet_v2 import MobileNetV2, mobilenet_v2, mobilenet_v2_cifar
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms, state_shapes, write_cifar10


def test_parameter_counts():
    with torch.device("meta"):
        assert count_parameters(mobilenet_v2()) == 3_504_872  # torchvision's
        assert count_parameters(mobilenet_v2_cifar()) == 2_236_682


@pytest.mark.parametrize("width_mult", [0.35, 0.5, 0.75, 1.4])
def test_width_multiplier_rounds_like_torchvision(width_mult):
    with torch.device("meta"):
        ours = mobilenet_v2(width_mult=width_mult)
        theirs = torchvision.models.mobilenet_v2(width_mult=width_mult)
    assert state_shapes(ours) == state_shapes(theirs)
    assert ours.num_features == (1792 if width_mult == 1.4 else 1280)  # the last conv only grows


def test_width_multiplier_weights_give_torchvision_outputs():
    torch.manual_seed(0)
    theirs = torchvision.models.mobilenet_v2(width_mult=0.5).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(mobilenet_v2, width_mult=0.5), theirs.state_dict())
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_table_2_blocks():
    model = mobilenet_v2()
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17
    assert sum(b.use_residual for b in blocks) == 10  # n - 1 per row: 0 + 1 + 2 + 3 + 2 + 2 + 0
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        (16, 2), (24, 4), (32, 8), (96, 16), (320, 32), (1280, 32)
    ]


def test_cifar_variant_keeps_32x32_to_a_4x4_map():
    model = mobilenet_v2_cifar().eval()
    card = convzoo.model_card("mobilenet_v2_cifar")
    assert card["input_size"] == [3, 32, 32] and card["num_classes"] == 10 == model.num_classes
    assert "82.13%" in card["notes"]["reference_result"] and "eval mode" in card["notes"]["reference_caveat"]
    assert model.features[0][0].stride == (1, 1)
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        (24, 1), (32, 2), (96, 4), (320, 8), (1280, 8)
    ]
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 1280, 4, 4)
    assert isinstance(model, MobileNetV2) and model.classifier[0].p == 0.0


def test_cifar_variant_trains_with_the_course_recipe(tmp_path, capsys):
    write_cifar10(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "mobilenet_v2_cifar", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                 "--recipe", "mobilenet_cifar", "--epochs", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["lr"] == 1e-3
    meta = json.loads((out / "model.json").read_text())
    assert meta["input_size"] == [3, 32, 32]


def test_timm_weights_give_timm_outputs():
    torch.manual_seed(0)
    theirs = timm.create_model("mobilenetv2_100").eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(mobilenet_v2), theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
