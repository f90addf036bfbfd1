"""DenseNet: parameter counts, torchvision's checkpoint keys, memory-efficient mode, stages.

torchvision's and timm's weights giving their outputs is tested for every DenseNet by
tests/models/test_torchvision_equivalence.py and tests/models/test_timm_equivalence.py.
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

import convzoo
from convzoo.analysis.profile import profile
from convzoo.analysis.receptive_field import receptive_field
from convzoo.blocks.dense import DenseLayer
from convzoo.models.densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

BUILDERS = {f.__name__: f for f in (densenet121, densenet161, densenet169, densenet201)}

# torchvision's counts (its weights' metadata), which the paper's Table 1 configurations give.
PARAMS = {
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]


def test_published_complexity():
    # torchvision's "GFLOPS" (multiply-adds) for DenseNet-121 at 224x224: 2.834.
    assert profile("densenet121", (3, 224, 224)).macs / 1e9 == pytest.approx(2.834, abs=0.0005)


def test_torchvision_download_format_loads():
    """torchvision's checkpoint files name the dense layers' modules ``norm.1``, ``conv.2``;
    remap_state_dict renames them, so such a file loads with identical outputs."""
    torch.manual_seed(0)
    theirs = torchvision.models.densenet121().eval()
    randomise_norms(theirs)
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in theirs.state_dict().items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    ours = load_weights(empty_model(densenet121), legacy)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_memory_efficient_model_gives_identical_outputs_and_gradients():
    torch.manual_seed(0)
    plain = DenseNet((2, 3, 2), growth_rate=8, num_classes=5)
    randomise_norms(plain)
    efficient = DenseNet((2, 3, 2), growth_rate=8, num_classes=5, memory_efficient=True)
    efficient.load_state_dict(plain.state_dict())
    assert all(m.memory_efficient for m in efficient.modules() if isinstance(m, DenseLayer))
    x = torch.randn(2, 3, 32, 32)
    out_plain, out_efficient = plain(x), efficient(x)
    torch.testing.assert_close(out_efficient, out_plain, rtol=0, atol=0)
    out_plain.square().sum().backward()
    out_efficient.square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=1e-6, msg=name)
    for (name, b), c in zip(plain.named_buffers(), efficient.buffers()):
        assert torch.equal(b, c), name


def test_registered_model_takes_memory_efficient():
    with torch.device("meta"):
        model = convzoo.create_model("densenet121", memory_efficient=True)
    assert all(m.memory_efficient for m in model.modules() if isinstance(m, DenseLayer))


def test_feature_info_and_shapes():
    model = densenet121().eval()
    assert [(i["num_chs"], i["reduction"], i["module"]) for i in model.feature_info] == [
        (64, 2, "features.relu0"),
        (256, 4, "features.denseblock1"),
        (512, 8, "features.denseblock2"),
        (1024, 16, "features.denseblock3"),
        (1024, 32, "features.relu5"),
    ]
    with torch.device("meta"):
        assert [i["num_chs"] for i in densenet161().feature_info] == [96, 384, 768, 2112, 2208]
        assert densenet169().num_features == 1664 and densenet201().num_features == 1920
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 1024, 2, 2)


def test_growth_compression_and_stem_options():
    with torch.device("meta"):
        model = DenseNet((3, 3), growth_rate=12, compression=1.0, bn_size=2, num_classes=0)
    # stem 2k = 24; block 1: 24 + 3 * 12 = 60, kept whole by the transition (theta = 1); block 2: 96.
    assert [i["num_chs"] for i in model.feature_info] == [24, 60, 96]
    assert model.features.transition1.conv.out_channels == 60
    assert model.features.denseblock1.denselayer1.conv1.out_channels == 24  # bn_size * k
    with pytest.raises(ValueError, match="compression"):
        DenseNet((2, 2), compression=0)


@pytest.mark.parametrize("blocks, side", [((6, 12, 24, 16), 29), ((2, 2, 2), 13), ((2, 2), 5)])
def test_min_input_size_follows_the_number_of_transitions(blocks, side):
    with torch.device("meta"):
        model = DenseNet(blocks, growth_rate=4, num_classes=3).eval()
        assert model.min_input_size == side
        assert model(torch.empty(1, 3, side, side)).shape == (1, 3)
        with pytest.raises(RuntimeError):
            model.forward_features(torch.empty(1, 3, side - 1, side - 1))


def test_receptive_field_of_the_first_stages():
    """7x7/2 conv: 7; 3x3/2 max-pool: 7 + 2 * 2 = 11 at jump 4; six 3x3 convs: 11 + 6 * 2 * 4 = 59."""
    with torch.device("meta"):
        model = densenet121()
    stages = receptive_field(model, (3, 224, 224)).stages
    assert [(s.axes[0].size, s.axes[0].jump) for s in stages[:2]] == [(7, 2), (59, 4)]


def test_model_card_notes():
    card = convzoo.model_card("densenet161")
    assert card["notes"]["growth_rate"] == 48 and card["notes"]["authors_top1_error_224"] == 22.2
    assert card["torchvision_name"] == "densenet161" and card["timm_name"] == "densenet161"
