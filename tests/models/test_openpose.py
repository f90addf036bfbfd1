"""OpenPose: the CMU body model's parameter count, pytorch-openpose's state dicts load with identical
outputs, the stacked per-stage output, and the small OpenPose on zoo backbones."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

import convzoo
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.openpose import OpenPose, OpenPoseNet, split_pafs_and_maps
from convzoo.registry import count_parameters, get_entry
from convzoo.weights import load_weights
from helpers import empty_model

# ----------------------------------------------------------------- pytorch-openpose's layout


def caffe_sequential(rows: list[tuple], output: str | None) -> nn.Sequential:
    """Caffe-named layers from ``(name, in, out, kernel)`` rows and ``(name,)`` 2x2 pools; a ReLU after
    every conv but the one named ``output``."""
    layers = []
    for row in rows:
        if len(row) == 1:
            layers.append((row[0], nn.MaxPool2d(2, 2)))
            continue
        name, c_in, c_out, k = row
        layers.append((name, nn.Conv2d(c_in, c_out, k, padding=k // 2)))
        if name != output:
            layers.append((f"relu_{name}", nn.ReLU()))
    return nn.Sequential(OrderedDict(layers))


def stage_rows(t: int, b: int, out: int) -> list[tuple]:
    if t == 1:
        convs = [(128, 128, 3)] * 3 + [(128, 512, 1), (512, out, 1)]
        return [(f"conv5_{i}_CPM_L{b}", *conv) for i, conv in enumerate(convs, start=1)]
    convs = [(185, 128, 7)] + [(128, 128, 7)] * 4 + [(128, 128, 1), (128, out, 1)]
    return [(f"Mconv{i}_stage{t}_L{b}", *conv) for i, conv in enumerate(convs, start=1)]


class BodyPoseReference(nn.Module):
    """pytorch-openpose's ``bodypose_model`` (Hzzone/pytorch-openpose, src/model.py): its module and
    parameter names and its forward, re-written for this test from the facts of its layout.

    Its ReLU after the last stage's maps is kept: its list of output convs names
    ``Mconv7_stage6_L1`` twice and leaves ``Mconv7_stage6_L2`` out.
    """

    def __init__(self) -> None:
        super().__init__()
        widths = [(3, 64), (64, 64), None, (64, 128), (128, 128), None, (128, 256)] + [(256, 256)] * 3
        widths += [None, (256, 512), (512, 512), (512, 256), (256, 128)]
        names = ["conv1_1", "conv1_2", "pool1_stage1", "conv2_1", "conv2_2", "pool2_stage1", "conv3_1", "conv3_2",
                 "conv3_3", "conv3_4", "pool3_stage1", "conv4_1", "conv4_2", "conv4_3_CPM", "conv4_4_CPM"]
        rows = [(name,) if w is None else (name, *w, 3) for name, w in zip(names, widths)]
        self.model0 = caffe_sequential(rows, output=None)
        for t in range(1, 7):
            for b, out in ((1, 38), (2, 19)):
                rows = stage_rows(t, b, out)
                output = None if (t, b) == (6, 2) else rows[-1][0]
                setattr(self, f"model{t}_{b}", caffe_sequential(rows, output))

    def stage_one(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model0(x)
        return self.model1_1(features), self.model1_2(features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model0(x)
        stage_input = features
        for t in range(1, 7):
            pafs, maps = getattr(self, f"model{t}_1")(stage_input), getattr(self, f"model{t}_2")(stage_input)
            stage_input = torch.cat([pafs, maps, features], dim=1)
        return pafs, maps


@pytest.fixture(scope="module")
def reference() -> BodyPoseReference:
    """Random weights that keep the activations' scale through the 50 convs (He-normal, non-zero biases)."""
    torch.manual_seed(0)
    model = BodyPoseReference()
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * module.kernel_size[0] ** 2
            nn.init.normal_(module.weight, std=math.sqrt(2 / fan_in))
            nn.init.uniform_(module.bias, -0.1, 0.1)
    return model.eval()


# ----------------------------------------------------------------- the CMU body model


def test_parameter_count_of_the_cmu_body_model():
    with torch.device("meta"):
        model = convzoo.create_model("openpose_coco")
    assert count_parameters(model) == 52_311_446
    assert (model.num_joints, model.num_pafs, model.num_classes, model.output_stride) == (18, 38, 19, 8)
    entry = get_entry("openpose_coco")
    assert (entry.task, entry.family, entry.num_classes, entry.input_size) == ("pose", "openpose", 19, (3, 368, 368))


def test_pytorch_openpose_state_dict_loads_strictly_with_identical_outputs(reference):
    model = empty_model(OpenPose)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        theirs_pafs, theirs_maps = reference(x)
        stage_one = reference.stage_one(x)
        out = model(x)
    assert out.shape == (1, 6, 57, 5, 6)
    pafs, maps = split_pafs_and_maps(out[:, -1], model.num_pafs)
    assert theirs_pafs.std() > 0.1  # the comparison is not between vanishing signals
    torch.testing.assert_close(pafs, theirs_pafs)
    # pytorch-openpose's ReLU after the last maps: theirs are ours where positive, 0 elsewhere.
    assert (maps < 0).any()
    torch.testing.assert_close(maps.clamp_min(0), theirs_maps)
    torch.testing.assert_close(out[:, 0], torch.cat(stage_one, dim=1))  # intermediate stages too


def test_released_caffe_named_weights_load_through_load_weights(reference):
    """body_pose_model.pth holds the Caffe layer names without the module prefix (conv1_1.weight);
    load_weights reads such a file as this state dict (a 200 MB file is not written here)."""
    flat = {key.split(".", 1)[1]: value for key, value in reference.state_dict().items()}
    assert "Mconv7_stage6_L2.weight" in flat and "conv4_4_CPM.bias" in flat
    model = empty_model(OpenPose)
    load_weights(model, flat)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:, -1, :38], reference(x)[0])


def test_stages_parts_and_channels_options_on_meta():
    with torch.device("meta"):
        model = convzoo.create_model("openpose_coco", num_classes=15, in_chans=1, stages=2)
        out = model(torch.empty(2, 1, 64, 72))
    assert out.shape == (2, 2, 38 + 15, 8, 9)
    assert model.num_joints == 14 and not hasattr(model, "model3_1")
    with pytest.raises(ConvzooError, match="num_classes counts the parts and the background"):
        convzoo.create_model("openpose_coco", num_classes=1)


def test_cmu_model_input_checks():
    with torch.device("meta"):
        model = convzoo.create_model("openpose_coco")
        with pytest.raises(InputShapeError, match=r"OpenPose expects input of shape \(B, 3, H, W\)"):
            model(torch.empty(1, 1, 64, 64))
        with pytest.raises(InputShapeError, match="at least 8x8"):
            model(torch.empty(1, 3, 4, 64))


# ----------------------------------------------------------------- OpenPose on zoo backbones


@pytest.mark.parametrize("backbone, stages", [("mobilenet_v2", 2), ("resnet18", 1), ("resnet18", 3)])
def test_small_openpose_shapes_on_backbones(backbone, stages):
    torch.manual_seed(0)
    model = OpenPoseNet(backbone, stages=stages, width=16).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, stages, 38 + 19, 8, 12)
    assert out.isfinite().all()
    assert model.feature_info[0]["reduction"] == 8


def test_openpose_small_defaults_and_gradients():
    torch.manual_seed(0)
    model = convzoo.create_model("openpose_small")
    assert (model.backbone_name, model.num_stages, model.output_stride) == ("mobilenet_v2", 2, 8)
    assert get_entry("openpose_small").input_size == (3, 256, 256)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 2, 57, 4, 4)
    assert out.abs().max() < 1  # the output convs start near zero
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_small_openpose_options():
    model = OpenPoseNet("resnet18", stages=2, width=8, num_parts=5, num_limbs=4, in_chans=1, output_stride=16,
                        refine_kernel_size=7, norm_layer=nn.BatchNorm2d).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 64, 64))
    assert out.shape == (1, 2, 8 + 6, 4, 4)
    assert model.stages[1].pafs[0][0].kernel_size == (7, 7)


def test_small_openpose_input_errors():
    model = OpenPoseNet("mobilenet_v2", stages=1, width=8).eval()
    with pytest.raises(InputShapeError, match=r"OpenPoseNet\(mobilenet_v2\) expects input of shape \(B, 3, H, W\)"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(InputShapeError, match="at least 8x8"):
        model(torch.randn(1, 3, 4, 4))
    with pytest.raises(ConvzooError, match=r"backbone 'resnet18' has no stage at reduction /3 \(its stages: /2"):
        OpenPoseNet("resnet18", output_stride=3)
