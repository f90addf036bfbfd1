"""ChannelWiseConv and ChannelWiseClassifier: a 1-D conv along channels, its parameters, the CCL."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.channelwise import ChannelWiseClassifier, ChannelWiseConv, channelwise_out_channels


@pytest.mark.parametrize("kernel_size, stride, padding, bias", [(3, 1, 0, False), (3, 1, 1, True), (4, 2, 1, True),
                                                                 (1, 1, 0, True), (5, 3, 2, False)])
def test_equals_a_1d_conv_along_the_channels_at_every_pixel(kernel_size, stride, padding, bias):
    torch.manual_seed(0)
    layer = ChannelWiseConv(kernel_size, stride, padding, bias)
    x = torch.randn(2, 10, 3, 4)
    n = channelwise_out_channels(10, kernel_size, stride, padding)
    kernel = layer.conv.weight.reshape(1, 1, kernel_size)
    expected = torch.empty(2, n, 3, 4)
    for b in range(2):
        for h in range(3):
            for w in range(4):  # the channel vector of one pixel, convolved as a 1-D signal
                expected[b, :, h, w] = F.conv1d(x[b, :, h, w].view(1, 1, 10), kernel, layer.conv.bias,
                                                stride, padding).view(n)
    with torch.no_grad():
        out = layer(x)
    assert out.shape == (2, n, 3, 4) and n == layer.out_channels(10)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    # and the tap formula y[o] = sum_j k[j] x[o s - p + j], written out for output channel 1
    taps = [(j, 1 * stride - padding + j) for j in range(kernel_size) if 0 <= 1 * stride - padding + j < 10]
    by_hand = sum(layer.conv.weight.view(-1)[j] * x[:, c] for j, c in taps) + (layer.conv.bias if bias else 0)
    torch.testing.assert_close(out[:, 1], by_hand.detach(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("channels", [8, 64, 512])
def test_parameter_count_is_independent_of_the_channels(channels):
    for kernel_size, bias in [(3, False), (7, True), (8, False)]:
        layer = ChannelWiseConv(kernel_size, bias=bias)
        assert sum(p.numel() for p in layer.parameters()) == kernel_size + bias
        assert layer(torch.randn(1, channels, 2, 2)).shape == (1, channels - kernel_size + 1, 2, 2)
    assert sum(p.numel() for p in nn.Conv2d(channels, channels - 6, 1, bias=False).parameters()) == channels * (channels - 6)


@pytest.mark.parametrize("in_channels, out_channels", [(12, 8), (9, 9), (16, 1)])
def test_replaces_a_1x1_conv_whose_weight_is_a_band_matrix(in_channels, out_channels):
    torch.manual_seed(0)
    layer = ChannelWiseConv.between(in_channels, out_channels, bias=True)
    assert layer.kernel_size == in_channels - out_channels + 1
    weight = layer.pointwise_weight(in_channels)  # (n, m, 1, 1)
    assert weight.shape == (out_channels, in_channels, 1, 1)
    k = layer.conv.weight.view(-1)
    for o in range(out_channels):  # row o holds the kernel at columns o .. o + d_c - 1, zeros elsewhere
        row = weight[o, :, 0, 0]
        assert torch.equal(row[o:o + layer.kernel_size], k)
        assert torch.count_nonzero(torch.cat([row[:o], row[o + layer.kernel_size:]])) == 0
    x = torch.randn(2, in_channels, 5, 5)
    pointwise = F.conv2d(x, weight, layer.conv.bias.expand(out_channels))
    torch.testing.assert_close(layer(x), pointwise, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="cannot map"):
        ChannelWiseConv.between(4, 5)


def test_strided_band_matrix():
    torch.manual_seed(0)
    layer = ChannelWiseConv(4, stride=2, padding=1)
    x = torch.randn(1, 10, 3, 3)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.pointwise_weight(10)), rtol=0, atol=1e-5)


def test_gradcheck_channels_last_and_fx():
    torch.manual_seed(0)
    layer = ChannelWiseConv(3, stride=2, padding=1, bias=True)
    x = torch.randn(2, 7, 3, 4)
    torch.testing.assert_close(layer(x.contiguous(memory_format=torch.channels_last)), layer(x), rtol=0, atol=1e-6)
    traced = torch.fx.symbolic_trace(layer)
    assert torch.equal(traced(x), layer(x))
    double = layer.double()
    x64 = torch.randn(2, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(double, (x64,))
    assert torch.autograd.gradcheck(lambda w: F.conv3d(x64.unsqueeze(1), w, padding=(1, 0, 0), stride=(2, 1, 1)),
                                    (double.conv.weight.detach().requires_grad_(),))


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("channels, kernel_size, stride, padding, size", [(32, 8, 1, 0, 7), (64, 3, 2, 1, 5)])
def test_profiled_params_and_macs(batch, channels, kernel_size, stride, padding, size):
    with torch.device("meta"):
        layer = ChannelWiseConv(kernel_size, stride, padding)
    n = (channels + 2 * padding - kernel_size) // stride + 1
    result = profile(layer, (channels, size, size), batch_size=batch)
    assert result.params == kernel_size
    assert result.macs == batch * n * size * size * kernel_size


# --------------------------------------------------------------------------- classifier


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("in_channels, num_classes, spatial_size, bias", [(16, 10, 3, True), (8, 8, 2, False),
                                                                          (5, 1, 4, True)])
def test_classifier_shape_and_params(separable, in_channels, num_classes, spatial_size, bias):
    head = ChannelWiseClassifier(in_channels, num_classes, spatial_size, separable=separable, bias=bias)
    x = torch.randn(3, in_channels, spatial_size, spatial_size)
    assert head(x).shape == (3, num_classes)
    span = in_channels - num_classes + 1
    weights = in_channels * spatial_size**2 + span if separable else spatial_size**2 * span
    assert sum(p.numel() for p in head.parameters()) == weights + num_classes * bias


def test_classifier_equals_its_definition():
    """Class o is sum_{j, u, v} k[j, u, v] x[o + j, u, v]: the channels o .. o + m - n only."""
    torch.manual_seed(0)
    head = ChannelWiseClassifier(12, 9, 3)
    head.bias.data.normal_()
    x = torch.randn(2, 12, 3, 3)
    k = head.conv.weight.view(4, 3, 3)
    expected = torch.stack([(k * x[:, o:o + 4]).sum((1, 2, 3)) for o in range(9)], 1) + head.bias
    torch.testing.assert_close(head(x), expected.detach(), rtol=0, atol=1e-5)

    separable = ChannelWiseClassifier(12, 9, 3, separable=True, bias=False)
    pooled = F.conv2d(x, separable.depthwise.weight, groups=12).flatten(1)  # (B, m): one value per channel
    kc = separable.channelwise.conv.weight.view(4)
    expected = torch.stack([(kc * pooled[:, o:o + 4]).sum(1) for o in range(9)], 1)
    torch.testing.assert_close(separable(x), expected.detach(), rtol=0, atol=1e-5)


def test_global_average_pooling_is_a_special_case():
    """With m = n and a constant 1/d_f^2 kernel, the layer is global average pooling."""
    head = ChannelWiseClassifier(6, 6, 4, bias=False)
    head.conv.weight.data.fill_(1 / 16)
    x = torch.randn(2, 6, 4, 4)
    torch.testing.assert_close(head(x), x.mean((2, 3)).detach())


def test_far_fewer_parameters_than_a_fully_connected_classifier():
    """MobileNet on ImageNet: 1024 channels of 7x7 to 1000 classes (the paper's setting)."""
    with torch.device("meta"):
        head = ChannelWiseClassifier(1024, 1000, 7)
        separable = ChannelWiseClassifier(1024, 1000, 7, separable=True)
        linear = nn.Linear(1024, 1000)
    params = [sum(p.numel() for p in m.parameters()) for m in (head, separable, linear)]
    assert params == [49 * 25 + 1000, 1024 * 49 + 25 + 1000, 1024 * 1000 + 1000]
    assert params[0] * 400 < params[2] and params[1] * 15 < params[2]


@pytest.mark.parametrize("separable", [False, True])
def test_classifier_gradcheck_channels_last_fx_and_macs(separable):
    torch.manual_seed(0)
    head = ChannelWiseClassifier(6, 4, 3, separable=separable)
    x = torch.randn(2, 6, 3, 3)
    torch.testing.assert_close(head(x.contiguous(memory_format=torch.channels_last)), head(x), rtol=0, atol=1e-6)
    traced = torch.fx.symbolic_trace(head)
    assert torch.equal(traced(x), head(x))
    with pytest.raises(ValueError, match=r"\(B, 6, 3, 3\)"):
        traced(torch.randn(2, 6, 4, 4))
    small = ChannelWiseClassifier(4, 3, 2, separable=separable).double()
    x64 = torch.randn(2, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(small, (x64,))
    with torch.device("meta"):
        big = ChannelWiseClassifier(64, 10, 7, separable=separable)
    result = profile(big, (64, 7, 7), batch_size=2)
    span = 64 - 10 + 1
    assert result.macs == 2 * ((64 * 49 + 10 * span) if separable else 10 * 49 * span)
    assert result.params == (64 * 49 + span if separable else 49 * span) + 10


def test_bad_arguments_fail():
    with pytest.raises(ValueError, match="num_classes <= in_channels"):
        ChannelWiseClassifier(10, 11, 7)
    with pytest.raises(ValueError, match="does not fit"):
        channelwise_out_channels(3, 5)
    with pytest.raises(ValueError, match="bad channel-wise conv"):
        ChannelWiseConv(0)
