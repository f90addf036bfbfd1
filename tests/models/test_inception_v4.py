"""Inception-v4 and Inception-ResNet-v2: parameter counts and timm equivalence."""

from __future__ import annotations

import pytest
import timm
import torch

from convzoo.blocks.inception import InceptionResidual
from convzoo.models.inception_v4 import InceptionV4, inception_resnet_v2, inception_v4
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

BUILDERS = {"inception_v4": inception_v4, "inception_resnet_v2": inception_resnet_v2}
PARAMS = {"inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464}  # timm's


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count_equals_timm(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]
        assert count_parameters(timm.create_model(name)) == PARAMS[name]


@pytest.mark.parametrize("name", PARAMS)
def test_timm_weights_give_timm_outputs(name):
    torch.manual_seed(0)
    theirs = timm.create_model(name).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(BUILDERS[name]), theirs.state_dict())
    x = torch.randn(1, 3, 75, 75)  # the smallest input both take
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
        assert ours.forward_features(x).shape == (1, 1536, 1, 1)


def test_inception_resnet_v2_keys_are_timms_unmapped():
    with torch.device("meta"):
        ours = inception_resnet_v2()
        theirs = timm.create_model("inception_resnet_v2")
    assert set(ours.state_dict()) == set(theirs.state_dict())
    assert not hasattr(ours, "remap_state_dict")


def test_v4_remap_rules():
    keys = {
        "features.19.branch1_0.conv.weight": "features.19.branch1.0.conv.weight",
        "features.20.branch1_1a.bn.bias": "features.20.branch1.1.a.bn.bias",
        "features.21.branch2_3b.conv.weight": "features.21.branch2.3.b.conv.weight",
        "features.21.branch2_2.conv.weight": "features.21.branch2.2.conv.weight",
        "features.6.branch3.1.conv.weight": "features.6.branch3.1.conv.weight",
        "features.3.conv.bn.weight": "features.3.conv.bn.weight",
        "last_linear.weight": "last_linear.weight",
    }
    assert list(InceptionV4.remap_state_dict({k: torch.zeros(1) for k in keys})) == list(keys.values())


def test_residual_blocks_and_scales():
    with torch.device("meta"):
        model = inception_resnet_v2()
    blocks = [m for m in model.modules() if isinstance(m, InceptionResidual)]
    assert len(blocks) == 10 + 20 + 10
    assert [b.scale for b in model.repeat] == [0.17] * 10
    assert [b.scale for b in model.repeat_1] == [0.10] * 20
    assert [b.scale for b in model.repeat_2] == [0.20] * 9 and model.block8.scale == 1.0
    assert isinstance(model.block8.act, torch.nn.Identity)  # the last block has no ReLU
    assert [b.concat_channels for b in (model.repeat[0], model.repeat_1[0], model.repeat_2[0])] == [128, 384, 448]
    assert [m.out_channels for m in (model.mixed_5b, model.mixed_6a, model.mixed_7a)] == [320, 1088, 2080]


def test_v4_stage_widths():
    with torch.device("meta"):
        model = inception_v4()
    widths = [model.features[i].out_channels for i in (3, 4, 5, 9, 10, 17, 18, 21)]
    assert widths == [160, 192, 384, 384, 1024, 1024, 1536, 1536]
