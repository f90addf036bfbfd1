"""Dilated convs: equal to the conv with the zero-inserted kernel; the receptive field 1 + sum d (k - 1)."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis import conv_output_size, profile, receptive_field
from convzoo.analysis.arithmetic import receptive_field as chain_receptive_field
from convzoo.ops.dilated import ContextModule, dilate_kernel, dilated_kernel_size, dilated_receptive_field


def test_zero_insertion_by_hand():
    kernel = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.equal(dilate_kernel(kernel, 2), torch.tensor([[1.0, 0, 2], [0, 0, 0], [3, 0, 4]]))
    assert torch.equal(dilate_kernel(kernel, (1, 3)), torch.tensor([[1.0, 0, 0, 2], [3, 0, 0, 4]]))
    assert torch.equal(dilate_kernel(kernel, 1), kernel)
    assert [dilated_kernel_size(3, d) for d in (1, 2, 4, 16)] == [3, 5, 9, 33]


@pytest.mark.parametrize("dilation", [1, 2, 3, (2, 3)])
@pytest.mark.parametrize("stride, padding, groups", [(1, 0, 1), (1, 2, 2), (2, 3, 1), (3, 1, 2)])
def test_equals_the_conv_with_the_zero_inserted_kernel(dilation, stride, padding, groups):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride, padding, dilation, groups).double()
    x = torch.randn(2, 4, 17, 15, dtype=torch.float64)
    dense = F.conv2d(x, dilate_kernel(conv.weight, dilation), conv.bias, stride, padding, groups=groups)
    torch.testing.assert_close(conv(x), dense, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 4), d=st.integers(1, 5))
def test_a_dilated_kernel_sizes_like_its_zero_inserted_kernel(size, k, s, p, d):
    effective = dilated_kernel_size(k, d)
    if size + 2 * p < effective:
        return
    assert conv_output_size(size, k, s, p, d) == conv_output_size(size, effective, s, p, 1)


def gradient_support(model: nn.Module, channels: int, size: int) -> torch.Tensor:
    """Which input pixels reach the centre output (all-positive weights, so nothing cancels)."""
    x = torch.zeros(1, channels, size, size, requires_grad=True)
    out = model(x)
    out[0, 0, size // 2, size // 2].backward()
    return x.grad[0].abs().sum(0) > 0


def stack(dilations, channels: int = 2) -> nn.Sequential:
    model = nn.Sequential(*(nn.Conv2d(channels, channels, 3, padding=d, dilation=d, bias=False) for d in dilations))
    for conv in model:
        nn.init.uniform_(conv.weight, 0.1, 1.0)
    return model


@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_doubling_dilations_grow_the_field_exponentially(layers):
    """Yu & Koltun: 3x3 convs with dilations 1, 2, ..., 2^i have a (2^(i+2) - 1)^2 receptive field."""
    dilations = [2**i for i in range(layers)]
    expected = 2 ** (layers + 1) - 1  # 3, 7, 15, 31
    model = stack(dilations)
    assert dilated_receptive_field(3, dilations) == expected
    assert chain_receptive_field(model) == expected
    assert receptive_field(model, (2, 33, 33)).output.size == expected
    support = gradient_support(model, 2, 33)
    rows, cols = support.nonzero().unbind(1)
    assert rows.max() - rows.min() + 1 == expected and cols.max() - cols.min() + 1 == expected
    assert support.sum() == expected**2  # and every pixel of it is seen


def test_dilations_with_a_common_factor_leave_a_grid():
    """Gridding: dilations 2, 2, 2 reach a 13x13 field but only its even offsets; 1, 2, 4 cover every pixel."""
    gridded = gradient_support(stack([2, 2, 2]), 2, 21)
    rows, cols = gridded.nonzero().unbind(1)
    assert rows.max() - rows.min() + 1 == 13 == dilated_receptive_field(3, [2, 2, 2])
    assert gridded.sum() == 7 * 7 and (rows % 2 == 0).all() and (cols % 2 == 0).all()
    assert gradient_support(stack([1, 2, 4]), 2, 21).sum() == 15 * 15


def test_context_module_receptive_fields_are_table_1():
    module = ContextModule(4)
    fields = [receptive_field(nn.Sequential(*list(module)[: 2 * i + 1]), (4, 80, 80)).output.size for i in range(8)]
    assert fields == [3, 5, 9, 17, 33, 65, 67, 67]  # the last layer is 1x1
    assert module.receptive_field == 67 == receptive_field(module, (4, 80, 80)).output.size


def test_identity_initialised_context_module_passes_its_rectified_input():
    module = ContextModule(5)
    x = torch.randn(2, 5, 12, 12)
    torch.testing.assert_close(module(x), x.relu(), rtol=0, atol=0)
    assert isinstance(module[-1], nn.Conv2d) and module[-1].kernel_size == (1, 1)
    assert [module[i].dilation[0] for i in range(0, 14, 2)] == [1, 1, 2, 4, 8, 16, 1]


@pytest.mark.parametrize("dilations", [(1, 1, 2, 4, 8, 16, 1), (1, 1, 1, 1, 1, 1, 1)])
def test_profile_dilation_costs_nothing(dilations):
    channels, size = 6, 20
    with torch.device("meta"):
        module = ContextModule(channels, dilations, identity_init=False)
    result = profile(module, (channels, size, size))
    layers = len(dilations)
    assert result.params == layers * (9 * channels**2 + channels) + channels**2 + channels
    assert result.macs == (layers * 9 + 1) * channels**2 * size**2  # k^2 taps, whatever the dilation


def test_gradcheck_channels_last_and_fx():
    torch.manual_seed(0)
    weight = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: dilate_kernel(w, (2, 3)), (weight,))
    module = ContextModule(2, dilations=(1, 2), identity_init=False).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))
    module = module.float()
    x = torch.randn(2, 2, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(module(x.contiguous(memory_format=torch.channels_last)), module(x))
        torch.testing.assert_close(torch.fx.symbolic_trace(module)(x), module(x))


def test_bad_arguments_fail():
    with pytest.raises(ValueError, match="positive"):
        dilated_kernel_size(3, 0)
    with pytest.raises(ValueError, match="2 kernel sizes for 3 dilations"):
        dilated_receptive_field([3, 3], [1, 2, 4])
    with pytest.raises(ValueError, match="odd"):
        ContextModule(2, kernel_size=4)
