"""GaitSet: the paper's layers and sizes, a set function of its frames, strip features, clear errors."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis.profile import profile
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.gaitset import horizontal_pyramid
from convzoo.registry import count_parameters

CONVS = {  # (in, out, kernel) of the frame-level CNN and of the multilayer global pipeline
    "set_layer1": (1, 32, 5), "set_layer2": (32, 32, 3), "set_layer3": (32, 64, 3),
    "set_layer4": (64, 64, 3), "set_layer5": (64, 128, 3), "set_layer6": (128, 128, 3),
    "gl_layer1": (32, 64, 3), "gl_layer2": (64, 64, 3), "gl_layer3": (64, 128, 3), "gl_layer4": (128, 128, 3),
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return convzoo.create_model("gaitset").eval()


def test_layers_and_parameter_count_are_the_papers(model):
    modules = dict(model.named_modules())
    for name, (cin, cout, k) in CONVS.items():
        conv = modules[f"{name}.forward_block.conv" if name.startswith("set") else f"{name}.conv"]
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.bias) == (cin, cout, (k, k), None)
    convs = sum(cin * cout * k * k for cin, cout, k in CONVS.values())
    assert convs == 562_976
    assert model.fc_bin[0].shape == (62, 128, 256)
    assert count_parameters(model) == convs + 62 * 128 * 256 == 2_594_592
    assert convzoo.model_card("gaitset")["params"] == 2_594_592


def test_release_state_dict_keys(model):
    keys = set(model.state_dict())
    assert "fc_bin.0" in keys and "set_layer1.forward_block.conv.weight" in keys and "gl_layer4.conv.weight" in keys
    assert len(keys) == 11  # ten bias-free convolutions and the strip maps


def test_output_is_one_feature_per_strip(model):
    with torch.no_grad():
        out = model(torch.rand(3, 7, 64, 44))
    assert out.shape == (3, 62, 256) and torch.isfinite(out).all()


def test_a_set_function_of_its_frames(model):
    """Set pooling is a max over frames: shuffling the frames or repeating some changes nothing."""
    torch.manual_seed(1)
    frames = (torch.rand(2, 9, 64, 44) > 0.5).float()
    with torch.no_grad():
        expected = model(frames)
        shuffled = model(frames[:, torch.randperm(9)])
        repeated = model(frames[:, [0, 1, 2, 3, 4, 5, 6, 7, 8, 3, 3, 8, 0]])
    torch.testing.assert_close(shuffled, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(repeated, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 7, 30])
def test_any_number_of_frames(model, frames):
    with torch.no_grad():
        assert model(torch.rand(1, frames, 64, 44)).shape == (1, 62, 256)
        assert model(torch.rand(1, frames, 1, 64, 44)).shape == (1, 62, 256)  # an explicit channel axis


def test_strips_pool_whole_rows_by_mean_plus_max():
    x = torch.arange(2 * 3 * 16 * 11, dtype=torch.float32).reshape(2, 3, 16, 11)
    strips = horizontal_pyramid(x)
    assert [s.shape for s in strips] == [(2, 3, count) for count in (1, 2, 4, 8, 16)]
    rows = x[:, :, 4:6].flatten(2)  # the third of the 8 strips: rows 4 and 5
    torch.testing.assert_close(strips[3][:, :, 2], rows.mean(2) + rows.amax(2))


def test_every_parameter_learns(model):
    model = convzoo.create_model("gaitset")
    model(torch.rand(2, 3, 64, 44)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_macs_per_set():
    """106,061,824 MACs per frame (the six frame-level convolutions), 77,856,768 for the set's four MGP
    convolutions and 2,031,616 for the strip maps."""
    report = profile(convzoo.create_model("gaitset"), (30, 64, 44))
    assert report.macs == 30 * 106_061_824 + 77_856_768 + 2_031_616 == 3_261_743_104


@pytest.mark.parametrize("shape, message", [
    ((2, 0, 64, 44), "at least one silhouette"),
    ((2, 5, 64, 64), "64x44"),
    ((2, 5, 32, 44), "64x44"),
    ((2, 64, 44), "(B, T, H, W)"),
    ((2, 5, 3, 64, 44), "(B, T, H, W)"),
])
def test_bad_sets_are_refused_in_one_line(model, shape, message):
    with pytest.raises(InputShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model(torch.rand(*shape))


def test_num_classes_is_refused():
    with pytest.raises(ConvzooError, match="set hidden_dim instead"):
        convzoo.create_model("gaitset", num_classes=10)
