"""SENet: parameter counts, SE on the residual branch, timm's SE-ResNet-50 weights, the SE-POST placement,
SE-Inception-v3."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from convzoo.blocks.residual import Bottleneck
from convzoo.blocks.squeeze_excite import SqueezeExcite, se_layer
from convzoo.models.resnet import resnet50
from convzoo.models.senet import (
    PostSEBottleneck,
    se_inception_v3,
    se_resnet,
    seresnet50,
    seresnet101,
    seresnet152,
    seresnext50_32x4d,
    seresnext101_32x4d,
)
from convzoo.weights import load_weights
from helpers import count_parameters, empty_model, randomise_norms

BUILDERS = {f.__name__: f for f in (seresnet50, seresnet101, seresnet152, seresnext50_32x4d, seresnext101_32x4d)}

# timm's counts (test_timm_equivalence checks them against timm too).
PARAMS = {
    "seresnet50": 28_088_024,
    "seresnet101": 49_326_872,
    "seresnet152": 66_821_848,
    "seresnext50_32x4d": 27_559_896,
    "seresnext101_32x4d": 48_955_416,
}


@pytest.mark.parametrize("name", PARAMS)
def test_parameter_count(name):
    with torch.device("meta"):
        assert count_parameters(BUILDERS[name]()) == PARAMS[name]
        assert count_parameters(BUILDERS[name](placement="post")) == PARAMS[name]  # the same modules, moved


def test_se_adds_about_ten_percent_to_resnet50():
    with torch.device("meta"):
        extra = count_parameters(seresnet50()) - count_parameters(resnet50())
    assert extra == 2_530_992  # Sec. 4: "~2.5 million additional parameters", about 10%


def test_every_bottleneck_has_se_with_reduction_16():
    with torch.device("meta"):
        model = seresnext50_32x4d()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    for block in blocks:
        assert isinstance(block.se, SqueezeExcite)
        assert block.se.fc1.out_channels * 16 == block.se.fc1.in_channels == block.conv3.out_channels


def test_timm_weights_give_timm_outputs():
    torch.manual_seed(0)
    theirs = timm.create_model("seresnet50").eval()
    randomise_norms(theirs)
    ours = empty_model(seresnet50)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_weights(ours, theirs.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_open_gates_reduce_seresnet_to_resnet():
    """With every excitation forced to 1, SE-ResNet-50 is ResNet-50 with the same weights."""
    torch.manual_seed(0)
    plain = resnet50().eval()
    randomise_norms(plain)
    model = load_weights(empty_model(seresnet50), plain.state_dict(), strict=False)
    for module in model.modules():
        if isinstance(module, SqueezeExcite):  # not in the checkpoint, so uninitialised memory until set here
            for layer in (module.fc1, module.fc2):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            nn.init.constant_(module.fc2.bias, 100.0)  # sigmoid(100) == 1.0 in float32
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)


def test_post_placement_rescales_the_block_output():
    torch.manual_seed(0)
    downsample = nn.Sequential(nn.Conv2d(64, 256, 1, bias=False), nn.BatchNorm2d(256))
    post = PostSEBottleneck(64, 256, downsample=downsample, attn_layer=se_layer(16)).eval()
    randomise_norms(post)
    assert isinstance(post.se, nn.Identity) and list(post.named_children())[-1][0] == "post_se"
    plain = Bottleneck(64, 256, downsample=downsample).eval()
    plain.load_state_dict({k: v for k, v in post.state_dict().items() if not k.startswith("post_se.")})
    x = torch.randn(2, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(post(x), post.post_se(plain(x)), rtol=0, atol=0)


def test_post_placement_network():
    model = seresnet50(placement="post", num_classes=10).eval()
    keys = list(model.state_dict())
    assert "layer1.0.post_se.fc1.weight" in keys and not any(".se." in key for key in keys)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="placement"):
        se_resnet(50, placement="pre")


def test_se_inception_v3_parameter_count():
    with torch.device("meta"):
        model = se_inception_v3()
        assert count_parameters(model) == 28_822_884  # no reference: pinned; Inception-v3 has 27_161_264
        assert count_parameters(se_inception_v3(aux_logits=False)) == 25_496_188
    assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == 11


def test_se_inception_v3_with_open_gates_is_inception_v3():
    """Inception-v3's (torchvision's) weights load around the SE blocks; with open gates the outputs are its."""
    torch.manual_seed(0)
    theirs = torchvision.models.inception_v3(init_weights=False, aux_logits=False).eval()
    randomise_norms(theirs)
    ours = empty_model(se_inception_v3, aux_logits=False)
    for module in ours.modules():
        if isinstance(module, SqueezeExcite):
            for layer in (module.fc1, module.fc2):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
            nn.init.constant_(module.fc2.bias, 100.0)
    se_keys = {key for key in ours.state_dict() if ".se." in key}
    remapped = ours.remap_state_dict(theirs.state_dict())
    assert set(remapped) == set(ours.state_dict()) - se_keys
    load_weights(ours, theirs.state_dict(), strict=False)
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
