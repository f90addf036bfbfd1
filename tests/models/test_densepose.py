"""DensePoseNet: the IUV output's shape and channel order on two encoders, gradients, input checks and its card."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.densepose import DensePoseNet, split_iuv
from convzoo.registry import get_entry

SMALL = dict(fpn_channels=16, head_channels=16)


@pytest.mark.parametrize("backbone, num_parts, size", [("resnet18", 3, (64, 96)), ("mobilenet_v2", 7, (64, 64))])
def test_output_is_the_input_size_with_3p_plus_1_channels(backbone, num_parts, size):
    torch.manual_seed(0)
    model = DensePoseNet(backbone, num_parts, **SMALL).eval()
    with torch.no_grad():
        output = model(torch.randn(2, 3, *size))
    assert output.shape == (2, 3 * num_parts + 1, *size)
    logits, u, v = split_iuv(output)
    assert logits.shape == (2, num_parts + 1, *size)
    assert u.shape == v.shape == (2, num_parts, *size)
    assert torch.isfinite(output).all()
    assert 0 <= float(u.min()) and float(v.max()) <= 1  # through a sigmoid
    assert (model.num_parts, model.num_joints, model.num_pafs, model.output_stride) == (num_parts, 0, 0, 1)
    assert [stage["reduction"] for stage in model.feature_info] == [4, 8, 16, 32]


def test_an_untrained_network_predicts_every_part_alike_and_the_middle_of_the_charts():
    model = DensePoseNet("resnet18", 4, **SMALL).eval()
    with torch.no_grad():
        logits, u, v = split_iuv(model(torch.randn(1, 3, 64, 64)))
    assert float(logits.softmax(dim=1).sub(0.2).abs().max()) < 0.05
    assert float(torch.cat([u, v]).sub(0.5).abs().max()) < 0.05


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DensePoseNet("resnet18", 3, **SMALL).train()
    output = model(torch.randn(2, 3, 64, 64))
    (output * torch.randn_like(output)).sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    for head in (model.part_logits, model.u, model.v):
        assert head.weight.grad.abs().sum() > 0


def test_registered_builder_takes_num_classes_as_the_number_of_body_parts():
    entry = get_entry("densepose_resnet18")
    assert (entry.task, entry.family, entry.input_size, entry.num_classes) == ("pose", "densepose", (3, 256, 256), 10)
    assert "SMPL" in entry.deviations and "R-CNN" in entry.deviations
    model = convzoo.create_model("densepose_resnet18", num_classes=5, in_chans=1, **SMALL).eval()
    assert model.num_parts == 5
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 16, 64, 64)
    with pytest.raises(ConvzooError, match="num_classes or num_parts"):
        convzoo.create_model("densepose_resnet18", num_classes=5, num_parts=4)


@pytest.mark.parametrize(
    "shape, message",
    [((1, 1, 64, 64), r"expects input of shape \(B, 3, H, W\)"), ((3, 64, 64), "expects input of shape"),
     ((1, 3, 16, 40), "at least 32x32")],
)
def test_bad_input_raises_input_shape_error(shape, message):
    model = DensePoseNet("resnet18", 2, **SMALL)
    with pytest.raises(InputShapeError, match=message):
        model(torch.randn(shape))


def test_encoder_without_the_pyramid_reductions_is_refused():
    with pytest.raises(ConvzooError, match=r"'lenet5' has no stage at reduction /4, /8, /16"):
        DensePoseNet("lenet5", 2, in_chans=1, **SMALL)
    with pytest.raises(ConvzooError, match="at least 1 body part"):
        DensePoseNet("resnet18", 0)


def test_split_iuv_refuses_a_channel_count_that_is_not_3p_plus_1():
    with pytest.raises(ConvzooError, match=r"\(\.\.\., 3P \+ 1, H, W\)"):
        split_iuv(torch.zeros(1, 9, 4, 4))
    logits, u, v = split_iuv(torch.arange(7.0).view(7, 1, 1))
    assert logits.flatten().tolist() == [0, 1, 2] and u.flatten().tolist() == [3, 4] and v.flatten().tolist() == [5, 6]
