"""The registry: names, patterns, filters, cards and errors."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo import UnknownModelError


def test_list_is_sorted_and_filtered():
    names = convzoo.list_models()
    assert names == sorted(names)
    assert convzoo.list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert set(convzoo.list_models(family="vgg")) == {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    assert convzoo.list_models(task="denoise") == ["cdncnn_b", "dncnn_b", "dncnn_s"]
    assert convzoo.list_models(task="hyperspectral") == ["hybridsn"]
    segmentation = set(convzoo.list_models(task="segmentation"))
    assert segmentation >= {"unet", "unet_padded", "unetplusplus", "unet3d", "unet3d_padded"}
    metric = set(convzoo.list_models(task="metric"))
    assert metric >= {"siamese_koch", "siamese_lenet5", "siamese_resnet18"}
    pose = set(convzoo.list_models(task="pose"))
    assert pose >= {"hourglass_s1", "hourglass_s2", "hourglass_s8", "openpose_coco", "openpose_small"}
    video = set(convzoo.list_models(task="video"))
    assert video >= {"c3d", "r3d_18", "mc3_18", "r2plus1d_18"}
    crossmodal = set(convzoo.list_models(task="crossmodal"))
    assert crossmodal == {"dscmr"}
    gait = set(convzoo.list_models(task="gait"))
    assert gait == {"gaitset"}
    assert set(convzoo.list_models(task="classification")) == (
        set(names) - {"cdncnn_b", "dncnn_b", "dncnn_s", "hybridsn"} - segmentation - metric - pose - video - crossmodal - gait
    )


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="did you mean resnet50"):
        convzoo.create_model("resnet05")
    with pytest.raises(UnknownModelError, match="unknown model 'zzzz'"):
        convzoo.model_card("zzzz")


def test_create_model_sets_classes_and_channels():
    model = convzoo.create_model("resnet18", num_classes=4, in_chans=1).eval()
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 4)


def test_create_model_loads_pretrained(tmp_path):
    source = convzoo.create_model("lenet5")
    torch.save(source.state_dict(), tmp_path / "lenet.pth")
    model = convzoo.create_model("lenet5", pretrained=tmp_path / "lenet.pth")
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(model.eval()(x), source.eval()(x))


def test_model_card_facts():
    card = convzoo.model_card("resnet50")
    assert card["family"] == "resnet"
    assert card["params"] == 25_557_032
    assert card["torchvision_name"] == "resnet50"
    assert card["paper"]["year"] == 2016
    assert convzoo.model_card("lenet5")["params"] == 61_706


def test_meta_models_skip_initialisation_without_importing_dynamo():
    """Initialisers given keyword arguments (nn.init.normal_(tensor=...)) are skipped on meta too;
    running them would import torch._dynamo, seconds that `convzoo list` and `info` should not pay."""
    import subprocess
    import sys

    code = (
        "import sys, convzoo\n"
        "from convzoo.registry import meta_model\n"
        "for name in ('alexnet_2012', 'resnet50', 'efficientnet_b0', 'inception_v3'):\n"
        "    meta_model(name)\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_googlenet_is_listed_in_the_inception_family():
    """GoogLeNet is Inception v1: README's Inception row lists it under `convzoo list --family inception`."""
    assert set(convzoo.list_models(family="inception")) == {
        "googlenet", "bninception", "inception_v3", "inception_v4", "inception_resnet_v2",
    }
    assert convzoo.model_card("googlenet")["family"] == "inception"
