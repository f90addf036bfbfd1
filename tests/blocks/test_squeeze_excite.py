"""SqueezeExcite: the equations, torchvision's and timm's SE modules load with identical outputs."""

from __future__ import annotations

import pytest
import timm.layers
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation

from convzoo.blocks.squeeze_excite import SqueezeExcite
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
