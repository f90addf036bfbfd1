"""Simple Baselines: shapes on any backbone, the paper's parameter count, the authors' checkpoint layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import convzoo
from convzoo.analysis import profile
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.simple_baseline import SimpleBaseline
from convzoo.registry import count_parameters, meta_model
from convzoo.weights import load_weights
from helpers import randomise_norms

torchvision = pytest.importorskip("torchvision")


@pytest.mark.parametrize("height, width", [(64, 64), (256, 192), (96, 64)])
def test_heatmaps_are_a_quarter_of_the_input_in_one_stage(height, width):
    model = convzoo.create_model("simple_baseline_resnet18").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, height, width)).shape == (1, 1, 17, height // 4, width // 4)
    assert (model.num_joints, model.num_pafs, model.output_stride, model.in_chans) == (17, 0, 4, 3)
    assert model.feature_info[0]["module"] == "encoder.body.layer4"


def test_any_backbone_joints_and_channels():
    model = SimpleBaseline("mobilenet_v2", num_joints=5, in_chans=1, deconv_channels=(32, 32, 32)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 96)).shape == (2, 1, 5, 16, 24)
    assert model.deconv_layers[0].in_channels == 1280  # MobileNetV2's last 1x1 conv
    two = SimpleBaseline("resnet18", num_joints=3, deconv_channels=(16, 16))  # stride 32 / 4 = 8
    assert two.output_stride == 8 and two(torch.randn(1, 3, 64, 64)).shape == (1, 1, 3, 8, 8)


def test_every_parameter_gets_a_gradient():
    model = convzoo.create_model("simple_baseline_resnet18", num_classes=4, deconv_channels=(8, 8, 8)).train()
    model(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())


def test_head_starts_as_the_authors_code():
    model = convzoo.create_model("simple_baseline_resnet18")
    deconv, norm = model.deconv_layers[0], model.deconv_layers[1]
    assert deconv.bias is None and deconv.kernel_size == (4, 4) and deconv.stride == (2, 2)
    assert deconv.weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert torch.equal(norm.weight, torch.ones(256)) and torch.equal(model.final_layer.bias, torch.zeros(17))


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 3, 100, 64), "H is 100, the nearest valid sides are 96 and 128"),
        ((1, 3, 64, 16), "W is 16, the nearest valid sides are 32"),
        ((1, 1, 64, 64), r"expects input of shape \(B, 3, H, W\)"),
    ],
)
def test_bad_input_names_the_nearest_valid_sides(shape, message):
    model = convzoo.create_model("simple_baseline_resnet18", deconv_channels=(8, 8, 8))
    with pytest.raises(InputShapeError, match=message):
        model(torch.zeros(shape))


def test_a_backbone_that_cannot_reach_an_integer_stride_is_refused():
    with pytest.raises(ConvzooError, match="stride 32, which 6 deconvolutions"):
        SimpleBaseline("resnet18", deconv_channels=(8,) * 6)


def test_parameters_and_macs_match_the_paper():
    model = meta_model("simple_baseline_resnet50")
    params = count_parameters(model)
    assert params == 33_999_697
    assert round(params / 1e6, 1) == 34.0  # the paper's Table 2: 34.0M
    assert profile(model, (3, 256, 192)).macs == 5_426_380_800
    assert count_parameters(meta_model("simple_baseline_resnet18")) == 15_376_721
    card = convzoo.model_card("simple_baseline_resnet50")
    assert (card["task"], card["num_classes"], card["input_size"]) == ("pose", 17, [3, 256, 192])
    assert card["notes"]["parameters (3 channels, 17 joints)"] == params


def authors_head(in_channels: int, joints: int) -> tuple[nn.Sequential, nn.Conv2d]:
    """The authors' PoseResNet head: (deconv 4x4/2, BN, ReLU) x 3 in one Sequential, then a 1x1 conv."""
    layers: list[nn.Module] = []
    for cin in (in_channels, 256, 256):
        layers += [nn.ConvTranspose2d(cin, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU()]
    return nn.Sequential(*layers), nn.Conv2d(256, joints, 1)


def test_the_authors_checkpoint_layout_loads_with_identical_outputs(tmp_path):
    """PoseResNet keeps the ResNet's keys at the top level (no fc) beside deconv_layers and final_layer."""
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18()
    deconvs, final = authors_head(512, 17)
    for module in (resnet, deconvs):
        randomise_norms(module)
    state = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
    state |= {f"deconv_layers.{k}": v for k, v in deconvs.state_dict().items()}
    state |= {f"final_layer.{k}": v for k, v in final.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "pose_resnet_18.pth")
    model = load_weights(convzoo.create_model("simple_baseline_resnet18"), tmp_path / "pose_resnet_18.pth").eval()
    trunk = nn.Sequential(*list(resnet.children())[:-2]).eval()  # up to layer4
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        expected = final(deconvs.eval()(trunk(x)))
        torch.testing.assert_close(model(x)[:, 0], expected, rtol=1e-4, atol=1e-5)
