"""InvertedResidual in the three torchvision key layouts, its options, and stochastic depth."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.fx
import torchvision
from torch import nn
from torchvision.models.efficientnet import MBConv, MBConvConfig
from torchvision.models.mnasnet import _InvertedResidual as MnasBlock
from torchvision.models.mobilenetv2 import InvertedResidual as MobileNetV2Block
from torchvision.models._utils import _make_divisible

from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.ops.stochastic_depth import StochasticDepth, stochastic_depth
from helpers import randomise_norms


def assert_same(ours: nn.Module, theirs: nn.Module, in_channels: int) -> None:
    torch.manual_seed(1)
    randomise_norms(theirs)
    theirs.eval()
    ours.load_state_dict(theirs.state_dict())  # the keys are equal: no mapping
    ours.eval()
    x = torch.randn(2, in_channels, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("in_channels, out_channels, stride, t", [(16, 16, 1, 1), (8, 16, 1, 1), (16, 24, 2, 6), (24, 24, 1, 6)])
def test_mobilenet_v2_layout_equals_torchvision(in_channels, out_channels, stride, t):
    ours = InvertedResidual(in_channels, out_channels, 3, stride, t, key_layout="mobilenet_v2")
    theirs = MobileNetV2Block(in_channels, out_channels, stride, t)
    assert ours.use_residual == theirs.use_res_connect
    assert_same(ours, theirs, in_channels)


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, t", [(32, 16, 3, 1, 1), (16, 24, 3, 2, 6), (40, 40, 5, 1, 6)])
def test_efficientnet_layout_with_se_equals_torchvision_mbconv(in_channels, out_channels, kernel, stride, t):
    config = MBConvConfig(t, kernel, stride, in_channels, out_channels, 1)
    theirs = MBConv(config, 0.1, nn.BatchNorm2d)
    se = partial(SqueezeExcite, reduced_channels=max(1, in_channels // 4), act_layer=nn.SiLU)
    ours = InvertedResidual(in_channels, out_channels, kernel, stride, t, act_layer=nn.SiLU, attn_layer=se,
                            drop_path_rate=0.1, key_layout="efficientnet")
    assert_same(ours, theirs, in_channels)
    assert (ours.stochastic_depth is not None) == ours.use_residual


@pytest.mark.parametrize("in_channels, out_channels, kernel, stride, t", [(16, 24, 3, 2, 3), (40, 40, 5, 1, 3), (80, 96, 3, 1, 6)])
def test_mnasnet_layout_equals_torchvision(in_channels, out_channels, kernel, stride, t):
    ours = InvertedResidual(in_channels, out_channels, kernel, stride, t, act_layer=nn.ReLU, key_layout="mnasnet")
    theirs = MnasBlock(in_channels, out_channels, kernel, stride, t)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_same(ours, theirs, in_channels)


def test_expansion_is_left_out_at_t_1_and_projection_is_linear():
    block = InvertedResidual(16, 16, expand_ratio=1, key_layout="efficientnet")
    assert len(block.block) == 2  # depthwise unit, projection unit
    assert len(block.block[-1]) == 2  # conv and norm, no activation
    assert len(InvertedResidual(16, 16, expand_ratio=6).block) == 3


def test_injected_depthwise_conv_and_attention():
    calls = []

    def dw_conv(in_channels, out_channels, kernel_size, stride):
        calls.append((in_channels, out_channels, kernel_size, stride))
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=in_channels // 2, bias=False)

    block = InvertedResidual(8, 8, 5, 1, 3, dw_conv_layer=dw_conv, attn_layer=lambda c: SqueezeExcite(c, 2), act_layer=nn.SiLU)
    assert calls == [(24, 24, 5, 1)]
    assert isinstance(block.block[2], SqueezeExcite) and block.block[2].fc1.in_channels == 24
    assert block(torch.randn(1, 8, 6, 6)).shape == (1, 8, 6, 6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="key_layout"):
        InvertedResidual(8, 8, key_layout="timm")
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, stride=3)


def test_make_divisible_equals_torchvision():
    for value in [3.2, 12, 16 * 0.35, 24 * 0.75, 35.2, 83, 84, 1280 * 1.4, 0.5, 320 * 1.3]:
        assert make_divisible(value, 8) == _make_divisible(value, 8)


def test_traceable_in_training_mode_with_stochastic_depth():
    block = InvertedResidual(16, 16, drop_path_rate=0.5).train()
    graph = torch.fx.symbolic_trace(block)
    assert any(node.target is stochastic_depth for node in graph.graph.nodes)
    x = torch.randn(64, 16, 4, 4)
    torch.manual_seed(0)
    out = graph(x)
    branch_only = out - x  # zero for the dropped samples, twice the branch for the kept ones
    dropped = branch_only.flatten(1).abs().amax(1) == 0
    assert 0 < dropped.sum() < 64


def test_stochastic_depth_equals_torchvision():
    x = torch.randn(8, 3, 4, 4)
    for mode in ("row", "batch"):
        torch.manual_seed(0)
        ours = stochastic_depth(x, 0.3, mode)
        torch.manual_seed(0)
        theirs = torchvision.ops.stochastic_depth(x, 0.3, mode)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    module = StochasticDepth(0.3).eval()
    assert module(x) is x
    with pytest.raises(ValueError):
        StochasticDepth(1.5)
    with pytest.raises(ValueError):
        StochasticDepth(0.1, "column")


def test_stochastic_depth_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(20000, 1)
    out = stochastic_depth(x, 0.2, "row")
    assert set(out.unique().tolist()) == {0.0, 1.25}
    assert abs(out.mean().item() - 1.0) < 0.02


def test_injected_pointwise_convs():
    made = []

    def pw_conv(in_channels, out_channels):
        made.append((in_channels, out_channels))
        return nn.Conv2d(in_channels, out_channels, 1, groups=2, bias=False)

    block = InvertedResidual(8, 16, 3, 2, 6, expand_conv_layer=pw_conv, project_conv_layer=pw_conv)
    assert made == [(8, 48), (48, 16)] and block.block[0][0].groups == 2
    assert block(torch.randn(1, 8, 6, 6)).shape == (1, 16, 3, 3)


def test_timm_key_map_in_each_layout():
    expanded = {layout: InvertedResidual(16, 16, 3, 1, 6, attn_layer=lambda c: SqueezeExcite(c, 4), key_layout=layout)
                for layout in ("efficientnet", "mobilenet_v2", "mnasnet")}
    assert expanded["efficientnet"].timm_key_map() == {
        "conv_pw": "block.0.0", "bn1": "block.0.1", "conv_dw": "block.1.0", "bn2": "block.1.1",
        "se.conv_reduce": "block.2.fc1", "se.conv_expand": "block.2.fc2", "conv_pwl": "block.3.0", "bn3": "block.3.1",
    }
    assert expanded["mobilenet_v2"].timm_key_map()["conv_pwl"] == "conv.3" and expanded["mobilenet_v2"].timm_key_map()["bn3"] == "conv.4"
    assert expanded["mnasnet"].timm_key_map()["conv_dw"] == "layers.3" and expanded["mnasnet"].timm_key_map()["se.conv_reduce"] == "layers.6.fc1"
    separable = InvertedResidual(16, 8, 3, 1, 1, key_layout="mobilenet_v2").timm_key_map()
    assert separable == {"conv_dw": "conv.0.0", "bn1": "conv.0.1", "conv_pw": "conv.1", "bn2": "conv.2"}
    for block in expanded.values():
        targets = {key.rpartition(".")[0] for key in block.state_dict()}
        assert set(block.timm_key_map().values()) == targets
