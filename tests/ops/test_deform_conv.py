"""DeformConv2d: a plain conv at init, a shifted conv under constant offsets, gradients, shapes, cost."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F

from convzoo.analysis import profile
from convzoo.ops.deform_conv import DeformConv2d


def plain_conv(layer: DeformConv2d, x: torch.Tensor, bias: bool = True) -> torch.Tensor:
    return F.conv2d(x, layer.weight, layer.bias if bias else None, layer.stride, layer.padding, layer.dilation,
                    layer.groups)


@pytest.mark.parametrize("stride, dilation, groups, offset_groups", [(1, 1, 1, 1), (2, 1, 2, 1), (1, 2, 1, 2),
                                                                     (2, 2, 4, 4)])
def test_v1_at_init_is_the_plain_conv(stride, dilation, groups, offset_groups):
    torch.manual_seed(0)
    layer = DeformConv2d(4, 8, 3, stride=stride, dilation=dilation, groups=groups, offset_groups=offset_groups)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(layer(x), plain_conv(layer, x), rtol=1e-5, atol=1e-5)


def test_v2_at_init_is_half_the_plain_conv_and_the_plain_conv_once_masks_saturate():
    torch.manual_seed(0)
    layer = DeformConv2d(4, 6, 3, stride=2, modulated=True)
    x = torch.randn(2, 4, 9, 9)
    # sigmoid(0) = 0.5 scales every tap, not the bias
    torch.testing.assert_close(layer(x), 0.5 * plain_conv(layer, x, bias=False) + layer.bias.view(1, -1, 1, 1),
                               rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        layer.conv_offset.bias[layer.offset_channels:] = 100.0  # sigmoid(100) == 1 in float32
    torch.testing.assert_close(layer(x), plain_conv(layer, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("modulated", [False, True])
def test_offset_of_one_pixel_in_x_is_the_conv_of_the_shifted_input(modulated):
    """dx = +1 on every tap reads x(p + p_n + (0, 1)): the conv of the input moved one pixel left."""
    torch.manual_seed(0)
    layer = DeformConv2d(3, 5, 3, modulated=modulated)
    with torch.no_grad():
        layer.conv_offset.bias[1:layer.offset_channels:2] = 1.0  # channels (dy, dx) per tap: every dx = 1
        layer.conv_offset.bias[layer.offset_channels:] = 100.0  # masks 1
    x = torch.randn(2, 3, 8, 10)
    shifted = F.pad(x[..., 1:], (0, 1))  # shifted[..., w] = x[..., w + 1], zero past the right edge
    out = layer(x)
    expected = plain_conv(layer, shifted)
    # Away from the left border: there the deformable tap at w - 1 + 1 reads x[..., 0], the plain conv its padding.
    torch.testing.assert_close(out[..., 1:], expected[..., 1:], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out[..., 0], expected[..., 0])
    assert not torch.allclose(out, plain_conv(layer, x))


def test_half_pixel_offset_interpolates_bilinearly():
    """dx = 0.5 on every tap reads the mean of two neighbours (1x1 kernel, no bias): x(w) + x(w + 1) over 2."""
    layer = DeformConv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.conv_offset.bias[1] = 0.5
    x = torch.randn(1, 1, 4, 6)
    torch.testing.assert_close(layer(x)[..., :-1], (x[..., :-1] + x[..., 1:]) / 2)


@pytest.mark.parametrize("modulated", [False, True])
def test_gradcheck(modulated):
    torch.manual_seed(0)
    layer = DeformConv2d(2, 3, 3, stride=2, modulated=modulated).double()
    with torch.no_grad():  # non-integer offsets, so the finite differences stay inside one bilinear cell
        layer.conv_offset.weight.normal_(0, 0.1)
        layer.conv_offset.bias.uniform_(-0.4, 0.4)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    params = (layer.weight, layer.bias, layer.conv_offset.weight, layer.conv_offset.bias)

    def f(x, *params):
        return torch.func.functional_call(layer, dict(zip(["weight", "bias", "conv_offset.weight",
                                                           "conv_offset.bias"], params)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("kernel_size, stride, padding, dilation, size, expected", [
    (3, 1, None, 1, (9, 9), (9, 9)),
    (3, 2, None, 1, (9, 10), (5, 5)),
    (3, 1, None, 3, (9, 9), (9, 9)),
    (3, 2, 0, 2, (11, 12), (4, 4)),
    ((3, 5), 1, None, 1, (7, 8), (7, 8)),
])
def test_output_shape(kernel_size, stride, padding, dilation, size, expected):
    layer = DeformConv2d(2, 4, kernel_size, stride=stride, padding=padding, dilation=dilation, modulated=True)
    out = layer(torch.randn(2, 2, *size))
    assert out.shape == (2, 4, *expected)
    assert layer.conv_offset(torch.randn(2, 2, *size)).shape[-2:] == expected  # the offset field lines up


def test_channels_last_fx_and_keys():
    torch.manual_seed(0)
    layer = DeformConv2d(4, 4, 3, modulated=True)
    with torch.no_grad():
        layer.conv_offset.weight.normal_(0, 0.1)
    x = torch.randn(2, 4, 7, 7)
    torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), layer(x))
    traced = torch.fx.symbolic_trace(layer)
    torch.testing.assert_close(traced(x), layer(x))
    assert sorted(layer.state_dict()) == ["bias", "conv_offset.bias", "conv_offset.weight", "weight"]
    assert layer.conv_offset.weight.shape == (27, 4, 3, 3)  # 2 k^2 offsets, then k^2 mask logits
    with pytest.raises(ValueError, match="offset_groups"):
        DeformConv2d(4, 4, offset_groups=3)


@pytest.mark.parametrize("modulated", [False, True])
@pytest.mark.parametrize("groups, offset_groups, stride", [(1, 1, 1), (2, 2, 2)])
def test_profile_counts_the_sampling_conv_and_the_predictor(modulated, groups, offset_groups, stride):
    c_in, c_out, k, h = 8, 12, 3, 10
    with torch.device("meta"):
        layer = DeformConv2d(c_in, c_out, k, stride=stride, groups=groups, offset_groups=offset_groups,
                             modulated=modulated)
    result = profile(layer, (c_in, h, h), batch_size=2)
    out_hw = ((h - 1) // stride + 1) ** 2
    predictor_out = (3 if modulated else 2) * offset_groups * k * k
    sampling = 2 * out_hw * c_out * (c_in // groups) * k * k
    predictor = 2 * out_hw * predictor_out * c_in * k * k
    assert result.macs == sampling + predictor
    assert result.params == c_out * (c_in // groups) * k * k + c_out + predictor_out * (c_in * k * k + 1)
    assert "deform_conv2d" not in result.coverage.uncounted_ops
