"""MixNet: parameter counts, timm weights, mixed kernels and grouped 1x1 convs where the tables put them."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.models.mixnet import MIXNET_M, MixNet, mixnet_l, mixnet_m, mixnet_s
from convzoo.ops.mixconv import MixConv2d
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

BUILDERS = {f.__name__: f for f in (mixnet_s, mixnet_m, mixnet_l)}

# timm's counts (timm.create_model(name)); the paper rounds them to 4.1M, 5.0M and 7.3M.
PARAMS = {
    "mixnet_s": 4_134_606,
    "mixnet_m": 5_014_382,
    "mixnet_l": 7_329_252,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]
        assert count_parameters(timm.create_model(name)) == PARAMS[name]


@pytest.mark.parametrize("name", ["mixnet_s", "mixnet_m"])  # mixnet_l: tests/models/test_timm_equivalence.py
def test_timm_weights_give_timm_outputs(name):
    torch.manual_seed(0)
    theirs = timm.create_model(name).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(BUILDERS[name]), theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def _convs(module: nn.Module) -> list[tuple[int, int, int, int]]:
    """(in, out, kernel, groups) of each conv of a plain conv or a MixConv, in group order."""
    convs = list(module) if isinstance(module, MixConv2d) else [module]
    return [(c.in_channels, c.out_channels, c.kernel_size[0], c.groups) for c in convs]


def test_mixed_kernels_and_grouped_pointwise_convs():
    model = mixnet_s()
    expand, depthwise, se, project = model.features[6][0].block  # 120 -> 720 -> 200, k3.5.7.9.11, stride 2
    assert isinstance(depthwise[0], MixConv2d)
    assert _convs(depthwise[0]) == [(144, 144, k, 144) for k in (3, 5, 7, 9, 11)]  # depthwise, 720 / 5 each
    assert depthwise[0][4].stride == (2, 2) and depthwise[0][4].padding == (5, 5)
    assert _convs(expand[0]) == [(120, 720, 1, 1)] and _convs(project[0]) == [(720, 200, 1, 1)]
    assert isinstance(se, SqueezeExcite) and se.fc1.out_channels == 60  # half the block's input width

    expand, depthwise, se, project = model.features[3][1].block  # 40 -> 240 -> 40, k3.5, a1.1, p1.1
    assert _convs(depthwise[0]) == [(120, 120, 3, 120), (120, 120, 5, 120)]
    assert _convs(expand[0]) == [(20, 120, 1, 1), (20, 120, 1, 1)]  # two dense 1x1 convs on halves
    assert _convs(project[0]) == [(120, 20, 1, 1), (120, 20, 1, 1)]

    expand, _, _, project = model.features[4][0].block  # 40 -> 240 -> 80, p1.1 only
    assert _convs(expand[0]) == [(40, 240, 1, 1)] and len(_convs(project[0])) == 2

    first = model.features[1][0].block  # the depthwise-separable block: no expansion
    assert len(first) == 2 and _convs(first[0][0]) == [(16, 16, 3, 16)]


def test_relu_early_swish_late():
    model = mixnet_m()
    assert isinstance(model.features[2][0].block[0][2], nn.ReLU)
    assert isinstance(model.features[3][0].block[0][2], nn.SiLU)
    assert isinstance(model.features[3][0].block[2].act, nn.SiLU)  # the SE takes the block's activation


def test_mixnet_l_is_mixnet_m_widened():
    with torch.device("meta"):
        large, medium = mixnet_l(), MixNet(MIXNET_M, stem_channels=24, width_mult=1.3)
    assert [i["num_chs"] for i in large.feature_info] == [32, 40, 56, 160, 264, 1536]  # the head stays 1536
    assert [i["reduction"] for i in large.feature_info] == [2, 4, 8, 16, 32, 32]
    assert count_parameters(medium) == PARAMS["mixnet_l"]


def test_small_input_and_options():
    model = mixnet_s(num_classes=5, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 1, 1)).shape == (1, 5)
        assert model.forward_features(torch.randn(2, 1, 64, 64)).shape == (2, 1536, 2, 2)
