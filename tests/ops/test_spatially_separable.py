"""Spatially separable convs: equal to the k x k conv with the outer-product kernel; SVD separation is Eckart-Young."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.spatially_separable import (
    FilterwiseSeparableConv2d,
    SpatiallySeparableConv2d,
    separable_params,
    separate,
)

GEOMETRIES = [  # kernel_size, stride, padding, dilation
    (3, 1, 1, 1),
    (3, 2, 0, 1),
    (5, 1, 4, 2),
    ((3, 5), (2, 1), (1, 3), (1, 2)),
]


def dense(x: torch.Tensor, module, weight: torch.Tensor) -> torch.Tensor:
    bias = module.conv_h.bias
    return F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation)


@pytest.mark.parametrize("kernel_size, stride, padding, dilation", GEOMETRIES)
@pytest.mark.parametrize("mid_channels", [1, 3, 7])
def test_equals_the_kxk_conv_whose_kernel_is_the_outer_product(kernel_size, stride, padding, dilation, mid_channels):
    torch.manual_seed(0)
    layer = SpatiallySeparableConv2d(4, 5, kernel_size, stride, padding, dilation, mid_channels, bias=True).double()
    v, h = layer.conv_v.weight[..., 0], layer.conv_h.weight[:, :, 0]  # (M, C, kh), (N, M, kw)
    outer = sum(v[m][None, :, :, None] * h[:, m][:, None, None, :] for m in range(mid_channels))  # sum_m V h^T
    x = torch.randn(2, 4, 11, 10, dtype=torch.float64)
    torch.testing.assert_close(layer.kernel(), outer)
    torch.testing.assert_close(layer(x), dense(x, layer, outer), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer.as_conv2d()(x), layer(x), rtol=1e-12, atol=1e-12)
    unfolded = outer.permute(1, 2, 0, 3).flatten(2).flatten(0, 1)  # (C kh, N kw)
    assert torch.linalg.matrix_rank(unfolded) == mid_channels  # Scheme 2: rank <= M


def test_sobel_is_a_smoothing_column_times_a_difference_row():
    layer = SpatiallySeparableConv2d(1, 1, 3, mid_channels=1)
    with torch.no_grad():
        layer.conv_v.weight.copy_(torch.tensor([1.0, 2.0, 1.0]).view(1, 1, 3, 1))
        layer.conv_h.weight.copy_(torch.tensor([1.0, 0.0, -1.0]).view(1, 1, 1, 3))
    sobel_x = torch.tensor([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    assert torch.equal(layer.kernel()[0, 0], sobel_x)
    x = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(layer(x), F.conv2d(x, sobel_x.view(1, 1, 3, 3), padding=1))
    assert layer.mid_channels == 1 and SpatiallySeparableConv2d(4, 6).mid_channels == 6  # default M = N


@pytest.mark.parametrize("kernel_size, stride, padding, dilation", GEOMETRIES)
@pytest.mark.parametrize("rank", [1, 2])
def test_filterwise_equals_the_conv_whose_every_filter_has_rank_r(kernel_size, stride, padding, dilation, rank):
    torch.manual_seed(0)
    layer = FilterwiseSeparableConv2d(3, 4, kernel_size, stride, padding, dilation, rank, bias=True).double()
    kernel = layer.kernel()
    x = torch.randn(2, 3, 11, 10, dtype=torch.float64)
    torch.testing.assert_close(layer(x), dense(x, layer, kernel), rtol=1e-12, atol=1e-12)
    assert (torch.linalg.matrix_rank(kernel) == rank).all()  # each of the N C filters


def low_rank_conv(kind: str, rank: int, seed: int = 0) -> nn.Conv2d:
    """A 5 -> 6 conv with a 3x3 kernel of rank `rank` (unfolded for 'layer', per filter for 'filter')."""
    torch.manual_seed(seed)
    source = (SpatiallySeparableConv2d(5, 6, 3, mid_channels=rank) if kind == "layer"
              else FilterwiseSeparableConv2d(5, 6, 3, rank=rank)).double()
    conv = nn.Conv2d(5, 6, 3, stride=2, padding=1).double()
    with torch.no_grad():
        conv.weight.copy_(source.kernel())
    return conv


@pytest.mark.parametrize("mode, true_rank, rank", [
    ("layer", 2, 2), ("layer", 2, 5), ("filter", 1, 1), ("filter", 2, 3),
])
def test_separation_is_exact_when_the_kernel_has_rank_at_most_r(mode, true_rank, rank):
    conv = low_rank_conv(mode, true_rank)
    module, error = separate(conv, rank, mode)
    x = torch.randn(2, 5, 9, 9, dtype=torch.float64)
    assert error < 1e-12
    torch.testing.assert_close(module(x), conv(x), rtol=1e-10, atol=1e-10)
    assert module.stride == (2, 2) and module.padding == (1, 1)
    assert torch.equal(module.conv_h.bias, conv.bias)
    expected_type = SpatiallySeparableConv2d if mode == "layer" else FilterwiseSeparableConv2d
    assert isinstance(module, expected_type)


@pytest.mark.parametrize("mode, ranks", [("layer", range(1, 16)), ("filter", range(1, 4))])
def test_error_is_the_norm_of_the_dropped_singular_values(mode, ranks):
    """Eckart-Young: the rank-r truncation errs by exactly the dropped singular values, and no other rank-r
    kernel of the same form does better."""
    torch.manual_seed(1)
    conv = nn.Conv2d(5, 6, 3, padding=1, bias=False).double()
    weight = conv.weight.detach()
    norm = torch.linalg.vector_norm(weight)
    matrix = weight.permute(1, 2, 0, 3).reshape(15, 18) if mode == "layer" else weight
    singular = torch.linalg.svdvals(matrix)
    errors = []
    for rank in ranks:
        module, error = separate(conv, rank, mode)
        dropped = singular[..., rank:]
        assert error == pytest.approx((torch.linalg.vector_norm(dropped) / norm).item(), rel=1e-9, abs=1e-12)
        assert error == pytest.approx((torch.linalg.vector_norm(module.kernel() - weight) / norm).item(),
                                      rel=1e-9, abs=1e-12)
        perturbed = separate(nn.Conv2d(5, 6, 3, bias=False).double().requires_grad_(False), rank, mode).module
        with torch.no_grad():
            for p, q in zip(perturbed.parameters(), module.parameters()):
                p.mul_(1e-2).add_(q)  # another kernel of the same rank, near the optimum
        assert torch.linalg.vector_norm(perturbed.kernel() - weight) / norm >= error - 1e-12
        errors.append(error)
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-12  # full rank is exact


@pytest.mark.parametrize("stride, size", [(1, 8), (2, 9)])
@pytest.mark.parametrize("mode, rank", [("layer", 2), ("layer", 6), ("filter", 1)])
def test_profile_counts_the_closed_form(stride, size, mode, rank):
    c, n, k = 8, 12, 5
    with torch.device("meta"):
        layer = (SpatiallySeparableConv2d(c, n, k, stride, mid_channels=rank) if mode == "layer"
                 else FilterwiseSeparableConv2d(c, n, k, stride, rank=rank))
        standard = nn.Conv2d(c, n, k, stride, padding=k // 2, bias=False)
    result, reference = profile(layer, (c, size, size)), profile(standard, (c, size, size))
    out = (size + 2 * (k // 2) - k) // stride + 1  # H' = W'
    mid = rank if mode == "layer" else c * n * rank
    per_group_in = c if mode == "layer" else 1
    per_group_mid = mid if mode == "layer" else c * rank
    assert result.params == separable_params(c, n, k, rank, mode) == k * mid * per_group_in + k * n * per_group_mid
    assert result.macs == out * size * mid * per_group_in * k + out * out * n * per_group_mid * k  # (H' W) then (H' W')
    assert reference.params == k * k * c * n and reference.macs == out * out * k * k * c * n
    if stride == 1:  # k M (C + N) H W, or 2 k r C N H W
        closed = k * rank * (c + n) if mode == "layer" else 2 * k * rank * c * n
        assert result.macs == closed * size * size


def modules():
    torch.manual_seed(0)
    return [SpatiallySeparableConv2d(3, 4, 3, stride=2, mid_channels=2, bias=True),
            FilterwiseSeparableConv2d(3, 4, (3, 5), rank=2, bias=True)]


@pytest.mark.parametrize("index", [0, 1])
def test_gradcheck_channels_last_and_fx(index):
    module = modules()[index].double()
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x,))
    x = torch.randn(2, 3, 9, 9)
    module = module.float()
    with torch.no_grad():
        torch.testing.assert_close(module(x.contiguous(memory_format=torch.channels_last)), module(x))
        torch.testing.assert_close(torch.fx.symbolic_trace(module)(x), module(x))


def test_bad_arguments_fail():
    conv = nn.Conv2d(4, 4, 3)
    with pytest.raises(ValueError, match="rank must be in 1..12"):
        separate(conv, 13)
    with pytest.raises(ValueError, match="rank must be in 1..3"):
        separate(conv, 4, "filter")
    with pytest.raises(ValueError, match="mode"):
        separate(conv, 1, "tucker")
    with pytest.raises(ValueError, match="groups=1"):
        separate(nn.Conv2d(4, 4, 3, groups=2), 1)
    with pytest.raises(ValueError, match="padding_mode"):
        separate(nn.Conv2d(4, 4, 3, padding_mode="reflect"), 1)
    with pytest.raises(ValueError, match="rank must be a positive"):
        FilterwiseSeparableConv2d(2, 2, 3, rank=0)
    module, error = separate(nn.Conv2d(4, 4, 3, padding="same"), 12)
    assert module.padding == (1, 1) and error < 1e-5
