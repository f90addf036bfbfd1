"""ShuffleNet V1: Table 1 widths and complexity, the released models' sizes, structure, stages.

No torchvision or timm model exists to load. The complexity is pinned against the paper
(Table 1's MFLOPs, which are multiply-adds) and, with the parameter counts, against the
README of the authors' released models (megvii-model/ShuffleNet-Series, ShuffleNetV1),
which gives FLOPs and parameters rounded to 1M and 0.1M.
"""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis.profile import profile
from convzoo.analysis.receptive_field import receptive_field
from convzoo.blocks.shuffle import ShuffleV1Unit
from convzoo.models.shufflenet import TABLE_1, ShuffleNetV1, scaled_channels
from convzoo.ops.channel_shuffle import ChannelShuffle
from helpers import count_parameters

# Measured here; the FC layer has a bias (1000 parameters), the released models' has none.
PARAMS = {
    "shufflenet_v1_g1": 1_531_936,
    "shufflenet_v1_g2": 1_733_848,
    "shufflenet_v1_g3": 1_865_728,
    "shufflenet_v1_g4": 1_968_344,
    "shufflenet_v1_g8": 2_434_768,
    "shufflenet_v1_x0_5_g3": 718_324,
    "shufflenet_v1_x1_5_g3": 3_443_212,
    "shufflenet_v1_x2_0_g3": 5_450_776,
}

# Table 1 of the paper: complexity of ShuffleNet 1x per g, in MFLOPs (multiply-adds).
# Measured: 143.08, 140.84, 137.46, 134.34, 138.37. The paper rounds to 1M and may count
# slightly differently (pooling, the FC); we allow 1.5%.
PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}

# megvii ShuffleNet-Series README: (groups, width, FLOPs in M, params in M) of the released
# models. Their 1.5x models have a 24-channel stem, built here with stem_channels=24.
MEGVII = [
    (3, 0.5, 38, 0.7), (3, 1.0, 138, 1.9), (3, 1.5, 292, 3.4), (3, 2.0, 524, 5.4),
    (8, 0.5, 40, 1.0), (8, 1.0, 138, 2.4), (8, 1.5, 290, 4.3), (8, 2.0, 522, 6.5),
]  # fmt: skip


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(convzoo.create_model(name)) == PARAMS[name]


@pytest.mark.parametrize("groups", PAPER_MFLOPS)
def test_table_1_complexity(groups):
    macs = profile(f"shufflenet_v1_g{groups}", (3, 224, 224)).macs
    assert macs / 1e6 == pytest.approx(PAPER_MFLOPS[groups], rel=0.015)


@pytest.mark.parametrize("groups, width_mult, mflops, mparams", MEGVII)
def test_released_models_flops_and_parameters(groups, width_mult, mflops, mparams):
    stem = {"stem_channels": 24} if width_mult == 1.5 else {}
    with torch.device("meta"):
        model = ShuffleNetV1(groups, width_mult, **stem).eval()
    # The README rounds to 1M; its 1.0x g=3 figure (138) is Table 1's 137 rounded the other way.
    assert profile(model, (3, 224, 224)).macs / 1e6 == pytest.approx(mflops, abs=0.6)
    without_fc_bias = count_parameters(model) - 1000
    assert round(without_fc_bias / 1e6, 1) == mparams


def test_scaled_widths():
    for groups, widths in TABLE_1.items():
        assert scaled_channels(groups) == (24, widths)
    assert scaled_channels(3, 0.5) == (12, (120, 240, 480))  # the released 0.5x g=3
    assert scaled_channels(8, 0.5) == (16, (192, 384, 768))  # the released 0.5x g=8: stem 16, not 12
    assert scaled_channels(3, 2.0) == (48, (480, 960, 1920))
    assert scaled_channels(4, 0.5) == (12, (144, 272, 544))  # 136 -> 144: the bottleneck must split in 4
    with pytest.raises(ValueError, match="groups"):
        scaled_channels(5)


def test_every_width_and_group_builds():
    for groups in TABLE_1:
        for width_mult in (0.25, 0.5, 1.5, 2.0):  # 1.0 is registered, tested by the common suite
            with torch.device("meta"):
                model = ShuffleNetV1(groups, width_mult, num_classes=10).eval()
                assert model(torch.empty(1, 3, 32, 32)).shape == (1, 10)


def test_structure_follows_the_paper():
    model = ShuffleNetV1(groups=3)
    units = [m for m in model.modules() if isinstance(m, ShuffleV1Unit)]
    assert len(units) == 16 and [u.stride for u in units].count(2) == 3
    first, rest = units[0], units[1:]
    # No group convolution on the first pointwise layer of stage 2, hence no shuffle there.
    assert first.conv1[0].groups == 1 and not isinstance(first.shuffle, ChannelShuffle)
    assert all(u.conv1[0].groups == 3 and u.shuffle.groups == 3 for u in rest)
    assert all(u.conv3[0].groups == 3 for u in units)
    assert all(len(u.conv2) == 2 for u in units)  # no ReLU after the depthwise conv
    assert isinstance(first.shortcut, torch.nn.AvgPool2d)
    g1 = ShuffleNetV1(groups=1)
    assert not any(isinstance(m, ChannelShuffle) for m in g1.modules())


def test_feature_info_and_shapes():
    with torch.device("meta"):
        model = ShuffleNetV1(groups=8).eval()
        assert model.forward_features(torch.empty(1, 3, 64, 64)).shape == (1, 1536, 2, 2)
        assert model(torch.empty(1, 3, 1, 1)).shape == (1, 1000)  # min_input_size = 1
    assert [(i["num_chs"], i["reduction"], i["module"]) for i in model.feature_info] == [
        (24, 2, "conv1"), (384, 8, "stage2"), (768, 16, "stage3"), (1536, 32, "stage4"),
    ]  # fmt: skip
    assert model.num_features == 1536


def test_receptive_field_of_stage_2():
    """3x3/2 conv: 3; 3x3/2 max-pool: 7 at jump 4; four units, one 3x3 each (the first strided): 15 + 3 * 16 = 63."""
    with torch.device("meta"):
        model = ShuffleNetV1(groups=3)
    stages = receptive_field(model, (3, 224, 224)).stages
    assert [(s.axes[0].size, s.axes[0].jump) for s in stages] == [(3, 2), (63, 8), (303, 16), (527, 32)]


def test_model_card_notes():
    card = convzoo.model_card("shufflenet_v1_g3")
    assert card["notes"]["paper_mflops"] == 137 and card["notes"]["groups"] == 3
    assert card["torchvision_name"] is None and card["timm_name"] is None
    assert convzoo.model_card("shufflenet_v1_x0_5_g3")["notes"]["stage_channels"] == (120, 240, 480)
