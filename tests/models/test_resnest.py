"""ResNeSt: parameter counts and timm's weights giving timm's outputs."""

from __future__ import annotations

import pytest
import timm
import torch

import convzoo
from convzoo.models.resnest import resnest50d
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

# timm's counts (1000 classes), pinned.
PARAMETERS = {"resnest50d": 27_483_240, "resnest101e": 48_275_016}


@pytest.mark.parametrize("name", PARAMETERS)
def test_parameter_counts(name):
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert count_parameters(model) == PARAMETERS[name]


def test_keys_are_timms():
    with torch.device("meta"):
        ours, theirs = resnest50d(), timm.create_model("resnest50d")
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_deep_stem_and_avg_down_shortcuts():
    with torch.device("meta"):
        model = convzoo.create_model("resnest101e")
    assert [m.out_channels for m in model.conv1 if isinstance(m, torch.nn.Conv2d)] == [64, 64, 128]
    assert isinstance(model.layer1[0].downsample[0], torch.nn.Identity)  # stride 1: no pool
    assert isinstance(model.layer2[0].downsample[0], torch.nn.AvgPool2d)
    assert model.layer2[0].downsample[1].stride == (1, 1)


def test_timm_weights_give_timm_outputs():
    """At an odd side, where the shortcut pool must round up like the avd pool (64 is checked registry-wide)."""
    torch.manual_seed(0)
    ours = empty_model(resnest50d)
    theirs = timm.create_model("resnest50d").eval()
    randomise_norms(theirs)
    load_weights(ours, theirs.state_dict())
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)

