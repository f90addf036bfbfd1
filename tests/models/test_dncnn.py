"""DnCNN: parameter counts, residual output, any size and channel count, the 2D + 1 receptive field."""

from __future__ import annotations

import pytest
import torch
import torch.fx

import convzoo
from convzoo.analysis.receptive_field import receptive_field
from convzoo.errors import InputShapeError
from convzoo.models.dncnn import DnCNN
from convzoo.registry import count_parameters, get_entry


def meta_count(name: str, **kwargs) -> int:
    with torch.device("meta"):
        return count_parameters(convzoo.create_model(name, **kwargs))


# Layer 1: 3x3 conv c -> 64 with bias: 9 c 64 + 64. Layers 2..D-1: 3x3 conv 64 -> 64 without bias
# (9 * 64 * 64 = 36,864) + BN weight and bias (128) = 36,992 each. Layer D: 3x3 conv 64 -> c, no bias: 576 c.
#   dncnn_s  (D = 17, c = 1): 640 + 15 * 36,992 + 576   = 556,096
#   dncnn_b  (D = 20, c = 1): 640 + 18 * 36,992 + 576   = 667,072
#   cdncnn_b (D = 20, c = 3): 1,792 + 18 * 36,992 + 1,728 = 669,376
@pytest.mark.parametrize("name, params", [("dncnn_s", 556_096), ("dncnn_b", 667_072), ("cdncnn_b", 669_376)])
def test_parameter_count(name, params):
    assert meta_count(name) == params
    assert get_entry(name).task == "denoise"


def test_in_chans_option_and_depth():
    assert meta_count("dncnn_s", in_chans=3) == 1_792 + 15 * 36_992 + 1_728
    with torch.device("meta"):
        model = convzoo.create_model("dncnn_s", in_chans=3)
        assert model.in_chans == 3 and model.depth == 17
        assert convzoo.create_model("dncnn_b").depth == 20
    assert len(model.body) == 15


def test_output_is_input_minus_predicted_noise_at_any_size():
    torch.manual_seed(0)
    model = DnCNN(in_chans=3, depth=5, width=8, zero_init_last=False).eval()
    noisy = torch.rand(2, 3, 13, 21)
    out = model(noisy)
    assert out.shape == noisy.shape
    torch.testing.assert_close(out, noisy - model.predict_noise(noisy), rtol=0, atol=0)


def test_untrained_network_is_the_identity():
    """The last conv starts at zero: no noise predicted, the output is the input."""
    noisy = torch.rand(1, 1, 12, 12)
    assert torch.equal(DnCNN(depth=4, width=8).eval()(noisy), noisy)
    assert not torch.equal(DnCNN(depth=4, width=8, zero_init_last=False).eval()(noisy), noisy)


def test_wrong_channel_count_fails_early():
    model = DnCNN(in_chans=1, depth=3, width=4)
    with pytest.raises(InputShapeError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(1, 3, 8, 8))


def test_depth_must_be_at_least_two():
    with pytest.raises(ValueError, match="at least 2"):
        DnCNN(depth=1)


@pytest.mark.parametrize("name, field", [("dncnn_s", 35), ("dncnn_b", 41)])
def test_receptive_field_is_the_papers(name, field):
    """The paper: depth 17 gives a 35x35 receptive field (2 D + 1)."""
    with torch.device("meta"):
        model = convzoo.create_model(name)
    assert model.receptive_field == field
    output = receptive_field(model, (1, 40, 40)).to_dict()["output"]
    assert (output["size"], output["jump"], output["offset"], output["global"]) == (field, 1, 0, False)


def test_receptive_field_by_gradient():
    """The gradient of one output pixel is non-zero exactly on a (2 D + 1)-sided square of inputs."""
    torch.manual_seed(0)
    model = DnCNN(depth=6, width=8, zero_init_last=False).double().eval()
    noisy = torch.rand(1, 1, 31, 31, dtype=torch.float64, requires_grad=True)
    model.predict_noise(noisy)[0, 0, 15, 15].backward()
    rows, cols = torch.nonzero(noisy.grad[0, 0], as_tuple=True)
    assert (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()) == (9, 21, 9, 21)  # 13 = 2*6+1


def test_fx_traceable():
    model = DnCNN(depth=3, width=4, zero_init_last=False).eval()
    traced = torch.fx.symbolic_trace(model)
    x = torch.rand(1, 1, 9, 9)
    torch.testing.assert_close(traced(x), model(x))
