"""DepthwiseSeparableConv2d: it is a depthwise conv then a pointwise conv, and it costs 1/N + 1/D_K^2."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.analysis.design import depthwise_separable_cost
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d, separable_cost_ratio


@pytest.mark.parametrize("stride, depth_multiplier, bias", [(1, 1, False), (2, 1, True), (1, 3, False), (2, 2, True)])
def test_equals_depthwise_then_pointwise_conv(stride, depth_multiplier, bias):
    torch.manual_seed(0)
    layer = DepthwiseSeparableConv2d(4, 6, kernel_size=3, stride=stride, depth_multiplier=depth_multiplier, bias=bias)
    x = torch.randn(2, 4, 9, 9)
    depthwise = F.conv2d(x, layer.conv_dw.weight, stride=stride, padding=1, groups=4)
    expected = F.conv2d(depthwise, layer.conv_pw.weight, layer.conv_pw.bias)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)
    assert sorted(layer.state_dict()) == sorted(["conv_dw.weight", "conv_pw.weight"] + ["conv_pw.bias"] * bias)


@pytest.mark.parametrize("depth_multiplier", [1, 2, 4])
def test_depth_multiplier_widens_the_depthwise_output(depth_multiplier):
    layer = DepthwiseSeparableConv2d(5, 7, kernel_size=5, depth_multiplier=depth_multiplier)
    assert layer.conv_dw.weight.shape == (5 * depth_multiplier, 1, 5, 5)  # d filters per input channel
    assert layer.conv_pw.weight.shape == (7, 5 * depth_multiplier, 1, 1)
    outputs = {}
    layer.conv_dw.register_forward_hook(lambda _m, _i, out: outputs.setdefault("dw", out))
    assert layer(torch.randn(1, 5, 8, 8)).shape == (1, 7, 8, 8)
    assert outputs["dw"].shape == (1, 5 * depth_multiplier, 8, 8)


def test_depthwise_filters_never_mix_channels():
    layer = DepthwiseSeparableConv2d(3, 3, depth_multiplier=2).eval()
    x = torch.zeros(1, 3, 6, 6)
    x[0, 1] = torch.randn(6, 6)
    with torch.no_grad():
        depthwise = layer.conv_dw(x)
    # Input channel c feeds depthwise outputs c*d .. c*d + d - 1 only.
    assert torch.count_nonzero(depthwise[0, [0, 1, 4, 5]]) == 0
    assert torch.count_nonzero(depthwise[0, [2, 3]]) > 0


def test_norms_and_activations_follow_each_conv():
    torch.manual_seed(0)
    layer = DepthwiseSeparableConv2d(
        4, 8, stride=2, dw_norm_layer=nn.BatchNorm2d, dw_act_layer=nn.ReLU,
        pw_norm_layer=nn.BatchNorm2d, pw_act_layer=nn.ReLU6,
    ).eval()
    for bn in (layer.bn1, layer.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.weight.data.uniform_(0.5, 1.5)
    reference = nn.Sequential(layer.conv_dw, layer.bn1, nn.ReLU(), layer.conv_pw, layer.bn2, nn.ReLU6()).eval()
    x = torch.randn(2, 4, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=0)
    assert {"bn1.running_mean", "bn2.running_var"} <= set(layer.state_dict())
    assert isinstance(DepthwiseSeparableConv2d(4, 8).bn1, nn.Identity)  # Xception's: nothing in between


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, depth_multiplier, size", [
    (32, 64, 3, 1, 14), (512, 512, 3, 1, 14), (16, 24, 5, 1, 7), (8, 10, 3, 2, 5), (6, 9, 7, 3, 4),
])
def test_profiled_mac_ratio_is_eq_5(in_channels, out_channels, kernel_size, depth_multiplier, size):
    """MobileNets Eq. (5) for a stride-1 same-padded layer: separable / standard = d (1/N + 1/D_K^2)."""
    with torch.device("meta"):
        separable = DepthwiseSeparableConv2d(in_channels, out_channels, kernel_size, depth_multiplier=depth_multiplier)
        standard = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    shape = (in_channels, size, size)
    ratio = Fraction(profile(separable, shape).macs, profile(standard, shape).macs)
    expected = depth_multiplier * (Fraction(1, out_channels) + Fraction(1, kernel_size**2))
    assert ratio == expected == separable_cost_ratio(out_channels, kernel_size, depth_multiplier)


def test_cost_ratio_agrees_with_the_worked_comparison():
    cost = depthwise_separable_cost(512, 512, 3, 14)  # MobileNets Table 3's layer
    assert separable_cost_ratio(512, 3) == cost.closed_form == cost.ratio == Fraction(521, 4608)
    assert 8 < 1 / separable_cost_ratio(512, 3) < 9  # "8 to 9 times less computation"
    with pytest.raises(ValueError, match="out_channels"):
        separable_cost_ratio(0, 3)
