"""VGG: parameter counts, torchvision and timm weights, feature_info, smallest input."""

from __future__ import annotations

import pytest
import timm
import torch

from convzoo.errors import InputShapeError
from convzoo.models.vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model

BUILDERS = {f.__name__: f for f in (vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)}

# torchvision's counts; 102.8M of each sit in the first fully connected layer.
PARAMS = {
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]  # torchvision's: see test_torchvision_equivalence


def test_timm_weights_give_timm_outputs():
    torch.manual_seed(0)
    theirs = timm.create_model("vgg11", pretrained=False).eval()
    ours = load_weights(empty_model(vgg11), theirs.state_dict())
    x = torch.randn(1, 3, 224, 224)  # timm's fc1 is a 7x7 conv: it needs the 7x7 map of a 224 input
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_remap_reshapes_timm_convs_to_linear_layers():
    state = {
        "features.0.weight": torch.zeros(64, 3, 3, 3),
        "pre_logits.fc1.weight": torch.zeros(4096, 512, 7, 7),
        "pre_logits.fc1.bias": torch.zeros(4096),
        "pre_logits.fc2.weight": torch.zeros(4096, 4096, 1, 1),
        "head.fc.weight": torch.zeros(10, 4096),
    }
    remapped = VGG.remap_state_dict(state)
    assert {k: tuple(v.shape) for k, v in remapped.items()} == {
        "features.0.weight": (64, 3, 3, 3),
        "classifier.0.weight": (4096, 25088),
        "classifier.0.bias": (4096,),
        "classifier.3.weight": (4096, 4096),
        "classifier.6.weight": (10, 4096),
    }


def test_feature_info_matches_the_feature_maps():
    model = vgg11_bn().eval()
    side = 64
    outputs = {}
    modules = dict(model.named_modules())
    for info in model.feature_info:
        modules[info["module"]].register_forward_hook(
            lambda _m, _i, out, name=info["module"]: outputs.__setitem__(name, out.shape)
        )
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, side, side))
    assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
        (64, 2), (128, 4), (256, 8), (512, 16), (512, 32)
    ]
    for info in model.feature_info:
        size = side // info["reduction"]
        assert outputs[info["module"]] == (1, info["num_chs"], size, size)
    assert features.shape == outputs[model.feature_info[-1]["module"]]


def test_head_interface_and_any_input():
    model = empty_model(vgg11, in_chans=1, num_classes=10)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert model(x).shape == (2, 10)
        assert model.num_features == 4096
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == (2, 4096)
        model.reset_classifier(0)
        assert model(x).shape == (2, 4096)
        assert "classifier.6.weight" not in model.state_dict()


def test_min_input_size_is_32():
    model = empty_model(vgg11)
    assert model.min_input_size == 32
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 512, 1, 1)
        with pytest.raises(RuntimeError):
            model.forward_features(torch.randn(1, 3, 31, 31))
        with pytest.raises(InputShapeError, match="at least 32x32"):
            model(torch.randn(1, 3, 31, 31))
