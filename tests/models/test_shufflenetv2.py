"""ShuffleNet V2: parameter counts, Table 5 complexity, structure and stages.

torchvision's weights giving its outputs is tested for every width by
tests/models/test_torchvision_equivalence.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo
from convzoo.analysis.profile import profile
from convzoo.analysis.receptive_field import receptive_field
from convzoo.blocks.shuffle import ShuffleV2Unit
from convzoo.models.shufflenetv2 import ShuffleNetV2, TABLE_5
from helpers import count_parameters

# torchvision's counts (its weights' metadata); the paper's Table 5 rounds them to 1.4M,
# 2.3M, 3.5M and 7.4M.
PARAMS = {
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
}

# Table 5 of the paper: MFLOPs (multiply-adds). Measured: 40.48, 144.91, 295.76, 583.25
# (torchvision publishes 0.04, 0.145, 0.296, 0.583 G); the paper's figures are 0.8-1.3%
# higher, so we allow 1.5%.
PAPER_MFLOPS = {
    "shufflenet_v2_x0_5": 41,
    "shufflenet_v2_x1_0": 146,
    "shufflenet_v2_x1_5": 299,
    "shufflenet_v2_x2_0": 591,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(convzoo.create_model(name)) == PARAMS[name]
    assert round(PARAMS[name] / 1e6, 1) == float(convzoo.model_card(name)["notes"]["megvii_params"][:-1])


@pytest.mark.parametrize("name", PAPER_MFLOPS)
def test_table_5_complexity(name):
    assert profile(name, (3, 224, 224)).macs / 1e6 == pytest.approx(PAPER_MFLOPS[name], rel=0.015)


def test_structure_follows_the_paper():
    model = ShuffleNetV2(TABLE_5["1.0x"])
    units = [m for m in model.modules() if isinstance(m, ShuffleV2Unit)]
    assert [len(model.stage2), len(model.stage3), len(model.stage4)] == [4, 8, 4]
    assert [u.stride for u in units].count(2) == 3
    assert sum(u.branch1 is None for u in units) == 13  # the stride-1 units split the channels
    # Guideline G2: no grouped convs other than the depthwise ones.
    assert all(c.groups in (1, c.in_channels) for c in model.modules() if isinstance(c, nn.Conv2d))


def test_feature_info_and_shapes():
    with torch.device("meta"):
        model = ShuffleNetV2(TABLE_5["2.0x"]).eval()
        assert model.forward_features(torch.empty(1, 3, 64, 64)).shape == (1, 2048, 2, 2)
        assert model(torch.empty(1, 3, 1, 1)).shape == (1, 1000)  # min_input_size = 1
    assert [(i["num_chs"], i["reduction"], i["module"]) for i in model.feature_info] == [
        (24, 2, "conv1"), (244, 8, "stage2"), (488, 16, "stage3"), (2048, 32, "conv5"),
    ]  # fmt: skip
    assert model.num_features == 2048


def test_receptive_field_of_the_stages():
    """Same skeleton as V1 (one 3x3 per unit): 3, 63 at stride 8, 303 at 16, 527 at 32."""
    with torch.device("meta"):
        model = ShuffleNetV2(TABLE_5["1.0x"])
    stages = receptive_field(model, (3, 224, 224)).stages
    assert [(s.axes[0].size, s.axes[0].jump) for s in stages] == [(3, 2), (63, 8), (303, 16), (527, 32)]


def test_bad_configuration_fails():
    with pytest.raises(ValueError, match="5 stage_channels"):
        ShuffleNetV2((24, 48, 96, 192))
