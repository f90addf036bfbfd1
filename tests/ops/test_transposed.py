"""Transposed convs: a conv over the zero-inserted, padded input with the flipped, transposed kernel."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis import conv_transpose_output_size, profile
from convzoo.ops.transposed import (
    ConvTranspose2dAsConv,
    conv_kernel_of_transposed,
    transposed_conv_as_conv,
    zero_insert,
)


def test_zero_insertion_by_hand():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    assert torch.equal(zero_insert(x, 2)[0, 0], torch.tensor([[1.0, 0, 2], [0, 0, 0], [3, 0, 4]]))
    assert torch.equal(zero_insert(x, (1, 3))[0, 0], torch.tensor([[1.0, 0, 0, 2], [3, 0, 0, 4]]))
    assert torch.equal(zero_insert(x, 1), x)


def test_one_pixel_scatters_the_kernel_and_the_conv_form_gathers_it():
    """A single input pixel of value 1 stamps the kernel itself: the flip in the conv form undoes the conv's flip."""
    weight = torch.arange(9.0).view(1, 1, 3, 3)
    x = torch.ones(1, 1, 1, 1)
    assert torch.equal(F.conv_transpose2d(x, weight)[0, 0], weight[0, 0])
    assert torch.equal(transposed_conv_as_conv(x, weight)[0, 0], weight[0, 0])
    assert torch.equal(conv_kernel_of_transposed(weight)[0, 0], weight[0, 0].flip(0, 1))


SETTINGS = [  # stride, padding, output_padding, dilation, groups, kernel_size
    (1, 0, 0, 1, 1, 3),
    (2, 0, 0, 1, 1, 2),  # UNet's 2x2 up-conv
    (2, 1, 1, 1, 1, 3),
    (2, 1, 0, 1, 2, 4),  # DCGAN's 4x4 stride-2
    (3, 2, 2, 1, 1, (3, 5)),
    (1, 3, 1, 2, 2, 3),  # output_padding < dilation, padding > d (k - 1): the pad becomes a crop
    ((2, 3), (0, 1), (1, 2), (2, 1), 1, (2, 3)),
]


@pytest.mark.parametrize("stride, padding, output_padding, dilation, groups, kernel_size", SETTINGS)
def test_equals_conv_transpose2d(stride, padding, output_padding, dilation, groups, kernel_size):
    torch.manual_seed(0)
    layer = nn.ConvTranspose2d(4, 6, kernel_size, stride, padding, output_padding, groups, dilation=dilation).double()
    ours = ConvTranspose2dAsConv.from_conv_transpose(layer)
    x = torch.randn(2, 4, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(ours(x), layer(x), rtol=1e-12, atol=1e-12)
    assert list(ours.state_dict()) == list(layer.state_dict()) == ["weight", "bias"]


@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)), kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    stride=st.integers(1, 3), padding=st.integers(0, 3), dilation=st.integers(1, 3), output_padding=st.integers(0, 2),
    groups=st.sampled_from([1, 2]), bias=st.booleans(), seed=st.integers(0, 2**16),
)
def test_property_equals_conv_transpose2d_and_the_size_formula(
    size, kernel, stride, padding, dilation, output_padding, groups, bias, seed
):
    assume(output_padding < max(stride, dilation))
    out_size = [(i - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1 for i, k in zip(size, kernel)]
    assume(min(out_size) >= 1)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, *size, generator=generator, dtype=torch.float64)
    weight = torch.randn(2, 4 // groups, *kernel, generator=generator, dtype=torch.float64)
    b = torch.randn(4, generator=generator, dtype=torch.float64) if bias else None
    expected = F.conv_transpose2d(x, weight, b, stride, padding, output_padding, groups, dilation)
    ours = transposed_conv_as_conv(x, weight, b, stride, padding, output_padding, groups, dilation)
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    assert list(expected.shape[2:]) == out_size == [
        conv_transpose_output_size(i, k, stride, padding, output_padding, dilation) for i, k in zip(size, kernel)
    ]


def test_is_the_adjoint_of_the_conv():
    """<conv(x), y> = <x, conv_transpose(y)>: the transposed conv is the conv's input gradient, C^T."""
    torch.manual_seed(0)
    weight = torch.randn(6, 2, 3, 3, dtype=torch.float64)  # conv (6 <- 4, 2 groups); as transposed: 6 -> 4
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, weight, stride=2, padding=1, groups=2)
    cotangent = torch.randn_like(y)
    (grad,) = torch.autograd.grad(y, x, cotangent)
    back = transposed_conv_as_conv(cotangent, weight, stride=2, padding=1, output_padding=(0, 1), groups=2)
    torch.testing.assert_close(back, grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close((y * cotangent).sum(), (x * back).sum())


@pytest.mark.parametrize("size, output_padding", [(7, 0), (8, 1)])
def test_output_padding_picks_which_input_size_comes_back(size, output_padding):
    """A 3x3 stride-2 conv with padding 1 maps 7 and 8 to 4; output_padding chooses between them."""
    down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
    up = ConvTranspose2dAsConv(3, 3, 3, stride=2, padding=1, output_padding=output_padding)
    x = torch.randn(1, 3, size, size)
    assert down(x).shape[-1] == 4 and up(down(x)).shape[-1] == size


@pytest.mark.parametrize("stride, groups", [(1, 1), (2, 1), (2, 4), (3, 2)])
def test_profile_counts_the_useful_and_the_zero_inserted_work(stride, groups):
    c_in, c_out, k, size = 8, 12, 4, 6
    with torch.device("meta"):
        layer = nn.ConvTranspose2d(c_in, c_out, k, stride, padding=1, groups=groups)
        ours = ConvTranspose2dAsConv(c_in, c_out, k, stride, padding=1, groups=groups)
    out = (size - 1) * stride - 2 + (k - 1) + 1
    scatter, gather = profile(layer, (c_in, size, size)), profile(ours, (c_in, size, size))
    assert scatter.params == gather.params == c_in * (c_out // groups) * k * k + c_out
    assert scatter.macs == size * size * c_in * (c_out // groups) * k * k  # every input pixel stamps a kernel
    assert gather.macs == out * out * c_out * (c_in // groups) * k * k  # ~ s^2 more: mostly multiplying zeros
    assert gather.macs > scatter.macs if stride > 1 else gather.macs >= scatter.macs


def test_same_parameters_and_initialisation_as_conv_transpose2d():
    torch.manual_seed(3)
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
    torch.manual_seed(3)
    ours = ConvTranspose2dAsConv(4, 6, 3, stride=2, groups=2)
    assert torch.equal(ours.weight, layer.weight) and torch.equal(ours.bias, layer.bias)
    assert ConvTranspose2dAsConv(4, 6, 3, bias=False).bias is None


def test_gradcheck_channels_last_and_fx():
    torch.manual_seed(0)
    module = ConvTranspose2dAsConv(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2).double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))
    module = module.float()
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(module(x.contiguous(memory_format=torch.channels_last)), module(x))
        torch.testing.assert_close(torch.fx.symbolic_trace(module)(x), module(x))


def test_bad_arguments_fail():
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2dAsConv(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="divide by groups"):
        ConvTranspose2dAsConv(3, 2, 3, groups=2)
    with pytest.raises(ValueError, match="zero padding"):
        ConvTranspose2dAsConv.from_conv_transpose(_reflect_layer())


def _reflect_layer() -> nn.ConvTranspose2d:
    layer = nn.ConvTranspose2d(2, 2, 3)
    layer.padding_mode = "reflect"  # PyTorch refuses it at construction; set after, as a corrupted config would
    return layer
