"""LargeKernelConv2d: the branches' sum, the merged kernel with identical outputs, and the 2ks + s'^2 vs k^2 cost."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.large_kernel import LargeKernelConv2d, large_kernel_taps


def randomised(layer: LargeKernelConv2d) -> LargeKernelConv2d:
    """Eval mode with BN statistics and affine parameters away from their identity defaults."""
    with torch.no_grad():
        for bn in (m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return layer.eval()


def test_forward_is_the_sum_of_three_depthwise_conv_bn_branches():
    torch.manual_seed(0)
    layer = randomised(LargeKernelConv2d(4, kernel_size=9, strip_width=3, small_kernel_size=5))
    x = torch.randn(2, 4, 10, 10)
    expected = sum(
        F.batch_norm(F.conv2d(x, b.conv.weight, padding=(b.conv.kernel_size[0] // 2, b.conv.kernel_size[1] // 2),
                              groups=4), b.bn.running_mean, b.bn.running_var, b.bn.weight, b.bn.bias, eps=b.bn.eps)
        for b in (layer.tall, layer.wide, layer.small)
    )
    torch.testing.assert_close(layer(x), expected)
    assert layer.tall.conv.weight.shape == (4, 1, 9, 3) and layer.wide.conv.weight.shape == (4, 1, 3, 9)
    assert layer.small.conv.weight.shape == (4, 1, 5, 5)


@pytest.mark.parametrize("kernel_size, strip_width, small, stride, groups, out_channels, size", [
    (51, 5, 5, 1, None, None, 6),  # SLaK's kernel on a tiny input
    (7, 3, 3, 1, None, None, 9),
    (7, 3, None, 2, None, None, 9),
    (7, 5, 3, 2, 2, 8, 8),  # grouped, not depthwise, wider output
])
def test_reparameterize_gives_identical_outputs(kernel_size, strip_width, small, stride, groups, out_channels, size):
    torch.manual_seed(0)
    layer = randomised(LargeKernelConv2d(4, out_channels, kernel_size, stride, groups, strip_width, small))
    x = torch.randn(2, 4, size, size)
    with torch.no_grad():
        before = layer(x)
        layer.reparameterize()
        after = layer(x)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    assert layer.reparam.weight.shape == (out_channels or 4, 4 // (groups or 4), kernel_size, kernel_size)
    assert sorted(layer.state_dict()) == ["reparam.bias", "reparam.weight"]
    layer.reparameterize()  # a second call changes nothing
    torch.testing.assert_close(layer(x), after)


def test_merged_kernel_places_the_strips_at_the_centre():
    layer = LargeKernelConv2d(1, kernel_size=7, strip_width=3, small_kernel_size=None).eval()
    with torch.no_grad():
        layer.tall.conv.weight.fill_(1.0)
        layer.wide.conv.weight.fill_(2.0)
    weight, bias = layer.merged_kernel()
    scale = 1 / (1 + layer.tall.bn.eps) ** 0.5  # fresh BN: gamma 1, var 1
    cross = torch.zeros(7, 7)
    cross[:, 2:5] += 1.0
    cross[2:5, :] += 2.0
    torch.testing.assert_close(weight[0, 0], cross * scale)
    torch.testing.assert_close(bias, torch.zeros(1))


def test_gradcheck():
    torch.manual_seed(0)
    layer = randomised(LargeKernelConv2d(2, kernel_size=5, strip_width=3, small_kernel_size=3)).double()
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,), fast_mode=True)
    layer.reparameterize()
    assert torch.autograd.gradcheck(layer, (x,), fast_mode=True)


def test_channels_last_and_fx():
    torch.manual_seed(0)
    layer = randomised(LargeKernelConv2d(4, kernel_size=7, strip_width=3))
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(layer(x.to(memory_format=torch.channels_last)), layer(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.fx.symbolic_trace(layer)(x), layer(x))
        layer.reparameterize()
        torch.testing.assert_close(torch.fx.symbolic_trace(layer)(x), layer(x))


@pytest.mark.parametrize("kernel_size, strip_width, small", [(51, 5, 5), (31, 5, None), (13, 3, 5)])
def test_parameters_and_macs_decomposed_vs_dense(kernel_size, strip_width, small):
    channels, size = 8, 16
    with torch.device("meta"):
        layer = LargeKernelConv2d(channels, kernel_size=kernel_size, strip_width=strip_width, small_kernel_size=small)
    taps = large_kernel_taps(kernel_size, strip_width, small)
    assert taps == 2 * kernel_size * strip_width + (small or 0) ** 2
    branches = 3 if small else 2
    decomposed = profile(layer, (channels, size, size))
    assert decomposed.params == channels * taps + branches * 2 * channels  # + BN gamma and beta per branch
    assert decomposed.macs == channels * size * size * taps

    dense = randomised(LargeKernelConv2d(channels, kernel_size=kernel_size, strip_width=strip_width,
                                         small_kernel_size=small))
    dense.reparameterize()
    merged = profile(dense, (channels, size, size))
    assert merged.params == channels * kernel_size**2 + channels  # dense kernel + bias
    assert merged.macs == channels * size * size * kernel_size**2
    assert merged.macs > decomposed.macs  # at large k the strips are the cheaper form


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="odd"):
        LargeKernelConv2d(4, kernel_size=50)
    with pytest.raises(ValueError, match="exceed"):
        LargeKernelConv2d(4, kernel_size=5, strip_width=7)
