"""Video networks: torchvision equivalence of R3D/MC3/R(2+1)D, C3D's parameter counts, shapes and descriptor."""

from __future__ import annotations

import pytest
import torch
import torchvision.models.video as tv_video

import convzoo
from convzoo.errors import InputShapeError
from convzoo.models.video import C3D, c3d
from convzoo.ops import Conv2Plus1d
from convzoo.registry import get_entry, meta_model
from helpers import count_parameters, randomise_norms

RESNETS = {"r3d_18": 33_371_472, "mc3_18": 11_695_440, "r2plus1d_18": 31_505_325}


@pytest.mark.parametrize("name", list(RESNETS))
def test_torchvision_weights_give_torchvision_outputs(name):
    torch.manual_seed(0)
    theirs = getattr(tv_video, get_entry(name).torchvision_name)().eval()
    randomise_norms(theirs)
    ours = convzoo.create_model(name).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    assert count_parameters(ours) == count_parameters(theirs) == RESNETS[name]
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_r2plus1d_is_built_on_conv2plus1d_with_the_blocks_first_mid_channels():
    model = meta_model("r2plus1d_18")
    convs = [m for m in model.modules() if isinstance(m, Conv2Plus1d)]
    assert len(convs) == 16
    block = model.layer2[0]  # 64 -> 128: M = 27 * 64 * 128 // (9 * 64 + 3 * 128) = 230, in both convs
    assert block.conv1[0].mid_channels == block.conv2[0].mid_channels == 230


@pytest.mark.parametrize(("num_classes", "expected"), [(487, 79_991_015), (101, 78_409_573)])
def test_c3d_parameter_counts(num_classes, expected):
    with torch.device("meta"):
        assert count_parameters(c3d(num_classes=num_classes)) == expected


def test_c3d_shapes_and_fc6_descriptor():
    torch.manual_seed(0)
    model = C3D(num_classes=101).eval()
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (1, 512, 1, 4, 4)  # 8192 fc6 inputs, pool5 padded spatially
        assert model.forward_head(features).shape == (1, 101)
        assert model.forward_head(features, pre_logits=True).shape == (1, 4096)  # fc7
        descriptor = model.forward_descriptor(x)
        expected = torch.relu(model.classifier.fc6(features.flatten(1)))
    assert descriptor.shape == (1, 4096)
    torch.testing.assert_close(descriptor, expected)


def test_c3d_takes_only_16x112x112_clips():
    with torch.device("meta"):
        model = c3d()
        with pytest.raises(InputShapeError, match="16x112x112"):
            model(torch.empty(1, 3, 8, 112, 112))
        with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3, 16, 112, 112\)"):
            model(torch.empty(1, 3, 112, 112))


@pytest.mark.parametrize("name", list(RESNETS))
def test_video_resnets_take_any_channels_classes_and_clip_size(name):
    with torch.device("meta"):
        model = convzoo.create_model(name, in_chans=1, num_classes=5).eval()
        assert model(torch.empty(2, 1, 3, 20, 28)).shape == (2, 5)
        with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, T, H, W\)"):
            model(torch.empty(2, 1, 20, 28))
        model.reset_classifier(0)
        assert model(torch.empty(2, 1, 3, 20, 28)).shape == (2, 512)


def test_registry_entries():
    for name in (*RESNETS, "c3d"):
        entry = get_entry(name)
        assert entry.family == "video" and entry.input_size == (3, 16, 112, 112)
    assert get_entry("c3d").num_classes == 487 and get_entry("r3d_18").num_classes == 400
    assert get_entry("r2plus1d_18").paper.year == 2018 and get_entry("c3d").paper.venue == "ICCV"
