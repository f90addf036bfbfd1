"""SqueezeExcite: the equations, an identity when the gate is open, SENet's reduction ratio, and torchvision's
and timm's SE modules load with identical outputs."""

from __future__ import annotations

import pytest
import timm.layers
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from convzoo.blocks.squeeze_excite import SqueezeExcite, reduced_width, se_layer
from convzoo.weights import load_weights


def test_follows_eq_2_to_4():
    torch.manual_seed(0)
    se = SqueezeExcite(8, 2)
    x = torch.randn(2, 8, 5, 6)
    z = x.mean((2, 3))  # Eq. (2)
    s = torch.sigmoid(se.fc2.weight.flatten(1) @ torch.relu(se.fc1.weight.flatten(1) @ z.T + se.fc1.bias[:, None])
                      + se.fc2.bias[:, None]).T  # Eq. (3)
    torch.testing.assert_close(se(x), x * s[:, :, None, None])  # Eq. (4)
    assert sum(p.numel() for p in se.parameters()) == 8 * 2 + 2 + 2 * 8 + 8


def test_equals_torchvision_squeeze_excitation():
    torch.manual_seed(0)
    theirs = SqueezeExcitation(48, 4, activation=nn.SiLU).eval()
    ours = load_weights(SqueezeExcite(48, 4, act_layer=nn.SiLU), theirs.state_dict())
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    x = torch.randn(2, 48, 7, 7)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_equals_timm_se_module():
    torch.manual_seed(0)
    theirs = timm.layers.SEModule(64, rd_channels=4).eval()
    ours = load_weights(SqueezeExcite(64, 4), theirs.state_dict())
    x = torch.randn(2, 64, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


def test_gate_and_activation_are_injectable():
    se = SqueezeExcite(4, 2, act_layer=nn.Identity, gate_layer=nn.Hardsigmoid)
    assert isinstance(se.act, nn.Identity) and isinstance(se.gate, nn.Hardsigmoid)
    with pytest.raises(ValueError, match="reduced_channels"):
        SqueezeExcite(4, 0)


def test_excitation_forced_to_one_leaves_the_input_unchanged():
    torch.manual_seed(0)
    se = SqueezeExcite.with_reduction(32)
    nn.init.zeros_(se.fc2.weight)
    nn.init.constant_(se.fc2.bias, 100.0)  # sigmoid(100) rounds to exactly 1 in float32
    x = torch.randn(2, 32, 4, 4)
    assert torch.equal(se(x), x)


def test_reduction_ratio_gives_c_over_r():
    se = SqueezeExcite.with_reduction(256)
    assert se.fc1.out_channels == 16 and se.fc2.in_channels == 16  # r = 16 by default
    assert SqueezeExcite.with_reduction(256, reduction=4).fc1.out_channels == 64
    assert [reduced_width(c, 16) for c in (16, 40, 2048)] == [1, 3, 128]  # divisor 1: the paper's C / r, rounded half up
    with pytest.raises(ValueError, match="reduction"):
        reduced_width(64, 0)


@pytest.mark.parametrize("channels", [16, 24, 64, 72, 100, 200, 256, 520, 1000, 2048])
def test_divisor_8_rounds_like_timm(channels):
    rd = timm.layers.make_divisible(channels / 16, 8, round_limit=0.0)
    assert reduced_width(channels, 16, divisor=8) == rd
    assert se_layer(16, divisor=8)(channels).fc1.out_channels == rd


def test_se_layer_factory_equals_timm_default_se_module():
    torch.manual_seed(0)
    theirs = timm.layers.SEModule(512).eval()  # rd_ratio 1/16, divisor 8, ReLU, sigmoid
    ours = se_layer(16)(512)
    assert isinstance(ours, SqueezeExcite) and ours.fc1.out_channels == 32
    load_weights(ours, theirs.state_dict())
    x = torch.randn(2, 512, 3, 3)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)
