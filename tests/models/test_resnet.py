"""ResNet: parameter counts, dilation, options, feature_info (weights: test_torchvision_equivalence, test_timm_equivalence)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from convzoo.blocks.residual import BasicBlock, Bottleneck
from convzoo.models.resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms, state_shapes

BUILDERS = {f.__name__: f for f in (resnet18, resnet34, resnet50, resnet101, resnet152)}

# torchvision's counts, which the paper's architectures (with option B shortcuts) give.
PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]  # torchvision's: see test_torchvision_equivalence


def test_dilated_resnet_matches_torchvision():
    torch.manual_seed(0)
    dilate = (False, True, True)
    theirs = torchvision.models.resnet50(replace_stride_with_dilation=list(dilate)).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(resnet50, replace_stride_with_dilation=dilate), theirs.state_dict())
    assert [info["reduction"] for info in ours.feature_info] == [2, 4, 8, 8, 8]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert ours.forward_features(x).shape == (1, 2048, 8, 8)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("reference, groups, width_per_group", [
    ("resnext50_32x4d", 32, 4), ("wide_resnet50_2", 1, 128),
])
def test_resnext_and_wide_resnet_are_options(reference, groups, width_per_group):
    with torch.device("meta"):
        ours = ResNet(Bottleneck, (3, 4, 6, 3), groups=groups, width_per_group=width_per_group)
        theirs = getattr(torchvision.models, reference)()
    assert state_shapes(ours) == state_shapes(theirs)


def test_zero_init_residual_zeroes_the_last_norm_of_every_block():
    model = resnet50(zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    assert all(torch.count_nonzero(b.bn3.weight) == 0 for b in blocks)
    assert all(torch.count_nonzero(b.bn2.weight) == b.bn2.weight.numel() for b in blocks)
    basic = [m for m in resnet18(zero_init_residual=True).modules() if isinstance(m, BasicBlock)]
    assert len(basic) == 8 and all(torch.count_nonzero(b.bn2.weight) == 0 for b in basic)
    default = [m for m in resnet18().modules() if isinstance(m, BasicBlock)]
    assert all(torch.equal(b.bn2.weight, torch.ones_like(b.bn2.weight)) for b in default)


def test_attn_layer_reaches_every_block():
    model = ResNet(BasicBlock, (1, 1, 1, 1), num_classes=3, attn_layer=lambda c: nn.Conv2d(c, c, 1))
    assert [m.se.in_channels for m in model.modules() if isinstance(m, BasicBlock)] == [64, 128, 256, 512]
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_feature_info_matches_the_feature_maps():
    model = resnet50().eval()
    side = 64
    outputs = {}
    modules = dict(model.named_modules())
    for info in model.feature_info:
        modules[info["module"]].register_forward_hook(
            lambda _m, _i, out, name=info["module"]: outputs.__setitem__(name, out.shape)
        )
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, side, side))
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        (64, 2), (256, 4), (512, 8), (1024, 16), (2048, 32)
    ]
    for info in model.feature_info:
        size = side // info["reduction"]
        assert outputs[info["module"]] == (1, info["num_chs"], size, size)
    assert features.shape == outputs[model.feature_info[-1]["module"]]


def test_head_interface_and_any_input():
    model = resnet18(in_chans=5, num_classes=7).eval()
    assert model.num_features == 512 and resnet50().num_features == 2048
    x = torch.randn(2, 5, 40, 40)
    with torch.no_grad():
        assert model(x).shape == (2, 7)
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 512)
        model.reset_classifier(0)
        assert model(x).shape == (2, 512)
        assert "fc.weight" not in model.state_dict()


def test_min_input_size_is_one_pixel():
    """Every conv and pool pads by half its kernel, so a 1x1 image runs through the whole net."""
    model = resnet18(num_classes=4).eval()
    assert model.min_input_size == 1
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 1, 1)).shape == (1, 512, 1, 1)
        assert model(torch.randn(1, 3, 1, 1)).shape == (1, 4)
