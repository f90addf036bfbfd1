"""EfficientNet: the compound scaling rule, variants derived from B0, counts, torchvision weights."""

from __future__ import annotations

import math

import pytest
import timm
import torch
import torchvision
from torchvision.models.efficientnet import _efficientnet_conf

import convzoo
from convzoo.blocks.inverted_residual import InvertedResidual
from convzoo.models import efficientnet as en
from convzoo.registry import get_entry
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

# torchvision's counts.
PARAMS = {
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
}
RELEASED = {  # (width, depth, resolution), the released multipliers
    "efficientnet_b0": (1.0, 1.0, 224), "efficientnet_b1": (1.0, 1.1, 240), "efficientnet_b2": (1.1, 1.2, 260),
    "efficientnet_b3": (1.2, 1.4, 300), "efficientnet_b4": (1.4, 1.8, 380), "efficientnet_b5": (1.6, 2.2, 456),
    "efficientnet_b6": (1.8, 2.6, 528), "efficientnet_b7": (2.0, 3.1, 600),
}


def test_compound_rule():
    assert en.ALPHA * en.BETA**2 * en.GAMMA**2 == pytest.approx(1.92, abs=1e-3)  # ~ 2: FLOPs double per phi
    assert en.compound_scaling(0) == en.Scaling(1.0, 1.0, 224)
    one = en.compound_scaling(1)
    assert (one.depth, one.width, one.resolution) == (pytest.approx(1.2), pytest.approx(1.1), 258)
    seven = en.compound_scaling(7)
    assert seven.depth == pytest.approx(3.5832, abs=1e-4) and seven.width == pytest.approx(1.9487, abs=1e-4)
    assert seven.resolution == round(224 * 1.15**7) == 596
    assert [en.scale_width(c, 1.1) for c in (32, 16, 24, 40, 80, 112, 192, 320, 1280)] == [
        32, 16, 24, 48, 88, 120, 208, 352, 1408
    ]
    assert [en.scale_depth(n, 3.1) for n in (1, 2, 3, 4)] == [4, 7, 10, 13]


@pytest.mark.parametrize("name", PARAMS)
def test_variants_are_derived_from_b0_as_torchvision_builds_them(name):
    width, depth, resolution = RELEASED[name]
    variant = en.RELEASED[name]
    assert (variant.width, variant.depth, variant.resolution) == (width, depth, resolution)
    assert convzoo.model_card(name)["input_size"] == [3, resolution, resolution]
    theirs, _ = _efficientnet_conf(name, width_mult=width, depth_mult=depth)
    ours = en.scaled_stages(width, depth)
    assert [(s.out_channels, s.num_layers, s.kernel_size, s.stride) for s in ours] == [
        (c.out_channels, c.num_layers, c.kernel, c.stride) for c in theirs
    ]


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(convzoo.create_model(name)) == PARAMS[name]


def test_model_card_shows_released_and_rule_multipliers():
    notes = convzoo.model_card("efficientnet_b7")["notes"]
    assert notes["phi"] == 7
    assert notes["released_multipliers"] == {"width": 2.0, "depth": 3.1, "resolution": 600}
    assert notes["compound_rule_at_phi"] == {"width": 1.9487, "depth": 3.5832, "resolution": 596}
    assert notes["dropout"] == 0.5 and notes["paper_imagenet_top1"] == 84.3
    assert "released" in convzoo.model_card("efficientnet_b3")["deviations"]


def test_dropout_stochastic_depth_and_norms():
    dropouts = {name: convzoo.create_model(name, num_classes=0).classifier[0].p for name in ("efficientnet_b0", "efficientnet_b2")}
    assert dropouts == {"efficientnet_b0": 0.2, "efficientnet_b2": 0.3}
    with torch.device("meta"):
        b0, b5 = convzoo.create_model("efficientnet_b0"), convzoo.create_model("efficientnet_b5")
    blocks = [m for m in b0.modules() if isinstance(m, InvertedResidual)]
    rates = [b.stochastic_depth.p if b.stochastic_depth is not None else None for b in blocks]
    assert len(blocks) == 16
    assert rates == [None if not b.use_residual else pytest.approx(0.2 * i / 16) for i, b in enumerate(blocks)]
    assert rates[-2] == pytest.approx(0.175) and blocks[-1].stochastic_depth is None  # 192 -> 320: no shortcut
    assert b0.features[0][1].eps == 1e-5 and b5.features[0][1].eps == 1e-3 and b5.features[0][1].momentum == 0.01
    se = blocks[1].block[2]  # 16 -> 24: SE on 96 channels, reduced to 16 // 4
    assert (se.fc1.in_channels, se.fc1.out_channels) == (96, 4)


def test_from_phi_builds_the_rule():
    with torch.device("meta"):
        model = en.EfficientNet.from_phi(1)
    assert model.width_mult == pytest.approx(1.1) and model.depth_mult == pytest.approx(1.2)
    assert sum(isinstance(m, InvertedResidual) for m in model.modules()) == sum(
        math.ceil(n * 1.2) for n in (1, 2, 2, 3, 3, 4, 1)
    )


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b5"])  # b5: the TF batch norm eps
def test_torchvision_weights_give_torchvision_outputs(name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(get_entry(name).builder), theirs.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_training_mode_is_traceable():
    model = convzoo.create_model("efficientnet_b0", num_classes=3).train()
    graph = torch.fx.symbolic_trace(model)
    torch.manual_seed(0)
    assert graph(torch.randn(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize("name, options", [("efficientnet_b0", {}), ("efficientnet_b5", {"norm_layer": torch.nn.BatchNorm2d})])
def test_timm_weights_give_timm_outputs(name, options):
    """timm's B0-B4 are the same networks; its B5-B7 keep eps 1e-5, so they load with PyTorch's norm."""
    torch.manual_seed(0)
    theirs = timm.create_model(name).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(get_entry(name).builder, **options), theirs.state_dict())
    assert get_entry(name).timm_name == (None if options else name)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
