"""HybridSN: the paper's layer shapes and parameter count, any band count, and a fixed window."""

from __future__ import annotations

import pytest
import torch
from helpers import count_parameters

import convzoo
from convzoo.errors import InputShapeError
from convzoo.models.hybridsn import HybridSN, spectral_kernels


def test_parameter_count_is_the_papers_for_indian_pines():
    # Table I, 30 components, 25x25 window, 16 classes (valid convs: the side loses 2 per conv):
    #   conv3d 1x8 @ 3x3x7:    8 * (1 * 3*3*7) + 8     =       512   -> 8 @ 24x23x23
    #   conv3d 8x16 @ 3x3x5:  16 * (8 * 3*3*5) + 16    =     5,776   -> 16 @ 20x21x21
    #   conv3d 16x32 @ 3x3x3: 32 * (16 * 3*3*3) + 32   =    13,856   -> 32 @ 18x19x19
    #   conv2d 576x64 @ 3x3:  64 * (32*18 * 3*3) + 64  =   331,840   -> 64 @ 17x17
    #   FC 18,496 -> 256:     18,496 * 256 + 256       = 4,735,232   (64 * 17 * 17 = 18,496)
    #   FC 256 -> 128:        256 * 128 + 128          =    32,896
    #   FC 128 -> 16:         128 * 16 + 16            =     2,064
    #   total                                            5,122,176
    with torch.device("meta"):
        model = convzoo.create_model("hybridsn")
    assert count_parameters(model) == 5_122_176
    assert convzoo.model_card("hybridsn")["params"] == 5_122_176
    layers = [model.conv1[0], model.conv2[0], model.conv3[0], model.conv4[0], model.fc1[0], model.fc2[0]]
    assert [sum(p.numel() for p in layer.parameters()) for layer in layers] == [
        512, 5_776, 13_856, 331_840, 4_735_232, 32_896
    ]
    assert count_parameters(model.classifier) == 2_064


def test_stage_shapes_follow_the_papers_table():
    model = convzoo.create_model("hybridsn").eval()
    shapes = {}

    def record(name):
        def hook(_module, _inputs, output) -> None:
            shapes[name] = output.shape

        return hook

    for name in ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2"):
        getattr(model, name).register_forward_hook(record(name))
    with torch.no_grad():
        assert model(torch.randn(2, 30, 25, 25)).shape == (2, 16)
    assert shapes == {
        "conv1": (2, 8, 24, 23, 23),
        "conv2": (2, 16, 20, 21, 21),
        "conv3": (2, 32, 18, 19, 19),
        "conv4": (2, 64, 17, 17),
        "fc1": (2, 256),
        "fc2": (2, 128),
    }


def test_window_sets_the_first_fc_and_the_fixed_input():
    with torch.device("meta"):
        model = convzoo.create_model("hybridsn", in_chans=15, window_size=11, num_classes=9)
    assert model.fixed_input_size == 11
    assert model.fc1[0].in_features == 64 * 3 * 3  # 11 - 8 = 3
    assert model.conv4[0].in_channels == 32 * (15 - 12)
    model = HybridSN(in_chans=15, window_size=11, num_classes=9).eval()
    assert model(torch.randn(1, 15, 11, 11)).shape == (1, 9)
    with pytest.raises(InputShapeError, match="11x11"):
        model(torch.randn(1, 15, 13, 13))
    with pytest.raises(ValueError, match="at least 9"):
        HybridSN(window_size=7)


def test_smallest_window_runs():
    model = HybridSN(in_chans=13, window_size=9, num_classes=3).eval()
    features = model.forward_features(torch.randn(2, 13, 9, 9))
    assert features.shape == (2, 64, 1, 1)  # 13 - 12 = 1 component left after the 3-D convs


@pytest.mark.parametrize("bands, kernels, depth", [
    (30, [7, 5, 3], 18), (13, [7, 5, 3], 1), (8, [7, 2, 1], 1), (2, [2, 1, 1], 1), (1, [1, 1, 1], 1),
])
def test_spectral_kernels_shrink_only_below_13_bands(bands, kernels, depth):
    assert spectral_kernels(bands) == (kernels, depth)
    model = HybridSN(in_chans=bands, window_size=9, num_classes=2).eval()
    assert [model.conv1[0].kernel_size[0], model.conv2[0].kernel_size[0], model.conv3[0].kernel_size[0]] == kernels
    assert model(torch.randn(1, bands, 9, 9)).shape == (1, 2)


def test_dropout_is_the_papers_and_off_in_eval():
    model = HybridSN(in_chans=13, window_size=9, num_classes=3)
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == [0.4, 0.4]
    model.eval()
    x = torch.randn(2, 13, 9, 9)
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_model_card_records_the_papers_results():
    card = convzoo.model_card("hybridsn")
    assert card["task"] == "hyperspectral" and card["family"] == "hybridsn"
    assert tuple(card["input_size"]) == (30, 25, 25) and card["num_classes"] == 16
    results = card["notes"]["paper's results, 30% training (OA / kappa / AA, %)"]
    assert results == {
        "Indian Pines": "99.75 / 99.71 / 99.63",
        "Pavia University": "99.98 / 99.98 / 99.97",
        "Salinas": "100 / 100 / 100",
    }


def test_fx_traceable():
    model = HybridSN(in_chans=13, window_size=9, num_classes=3).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(2, 13, 9, 9)
    torch.testing.assert_close(traced(x), model(x))
