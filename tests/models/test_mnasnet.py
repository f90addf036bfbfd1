"""MnasNet: parameter counts of the four widths, the search on the model card, structure."""

from __future__ import annotations

import pytest
import timm
import torch

import convzoo
from convzoo.blocks.inverted_residual import InvertedResidual
from convzoo.models.mnasnet import MNASNet, mnasnet0_5, mnasnet0_75, mnasnet1_0, mnasnet1_3
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

# torchvision's counts (its weight metadata); its weights load with identical outputs:
# see tests/models/test_torchvision_equivalence.py.
PARAMS = {mnasnet0_5: 2_218_512, mnasnet0_75: 3_170_208, mnasnet1_0: 4_383_312, mnasnet1_3: 6_282_256}


@pytest.mark.parametrize("builder", PARAMS, ids=lambda b: b.__name__)
def test_parameter_count(builder):
    with torch.device("meta"):
        assert count_parameters(builder()) == PARAMS[builder]


def test_model_card_explains_the_search():
    notes = convzoo.model_card("mnasnet1_0")["notes"]
    assert "ACC(m) x [LAT(m)/T]^w" in notes["search"] and "-0.07" in notes["search"]
    assert "reinforcement learning" in notes["search"]
    import convzoo.models.mnasnet as module
    assert "NASNet" in module.__doc__ and "Zoph and Le" in module.__doc__


def test_structure():
    with torch.device("meta"):
        model = MNASNet(1.0)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 16 and [b.in_channels for b in blocks[:4]] == [16, 24, 24, 24]
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        (16, 2), (24, 4), (40, 8), (96, 16), (320, 32), (1280, 32)
    ]
    assert model.layers[1].momentum == pytest.approx(3e-4)
    with torch.device("meta"):
        assert mnasnet0_5().layers[0].out_channels == 16  # the stem scales with alpha (torchvision's v2)
    with pytest.raises(ValueError, match="alpha"):
        MNASNet(0)


def test_timm_weights_give_timm_outputs():
    builder, reference = mnasnet0_5, "mnasnet_050"  # mnasnet_075 and mnasnet_100 map the same way
    torch.manual_seed(0)
    theirs = timm.create_model(reference).eval()
    randomise_norms(theirs)
    ours = load_weights(empty_model(builder), theirs.state_dict())
    assert convzoo.model_card(builder.__name__)["timm_name"] == reference
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)
