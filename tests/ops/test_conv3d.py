"""3D conv as 2D convs equals nn.Conv3d; (2+1)D matches the 3D conv's parameters and torchvision's Conv2Plus1D."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torchvision.models.video.resnet import Conv2Plus1D as TorchvisionConv2Plus1D

from convzoo.analysis import profile
from convzoo.ops.conv3d import Conv2Plus1d, Conv3dAsConv2d, conv2plus1d_mid_channels, conv3d_as_conv2d


@pytest.mark.parametrize("kernel, stride, padding, dilation, groups", [
    (3, 1, 1, 1, 1),
    ((3, 3, 3), (2, 2, 2), (1, 1, 1), 1, 1),
    ((3, 1, 5), (2, 1, 3), (0, 2, 1), 1, 2),
    ((2, 3, 3), (1, 2, 1), (2, 0, 1), (2, 1, 2), 1),
    ((1, 3, 3), 1, (0, 1, 1), 1, 4),
    ((5, 2, 2), (3, 1, 1), 0, 1, 1),
])
def test_equals_conv3d(kernel, stride, padding, dilation, groups):
    torch.manual_seed(0)
    conv = nn.Conv3d(4, 8, kernel, stride, padding, dilation, groups)
    x = torch.randn(2, 4, 7, 9, 8)
    expected = conv(x)
    out = conv3d_as_conv2d(x, conv.weight, conv.bias, stride, padding, dilation, groups)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_one_conv2d_per_depth_tap_not_per_output_depth(monkeypatch):
    calls = []
    original = F.conv2d

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(F, "conv2d", counting)
    out = conv3d_as_conv2d(torch.randn(2, 3, 10, 6, 6), torch.randn(5, 3, 3, 3, 3), padding=1)
    assert out.shape == (2, 5, 10, 6, 6)
    assert calls == [(2 * 10, 3, 6, 6)] * 3  # t calls, each over all B D' output depths


def test_too_shallow_input_is_refused():
    with pytest.raises(ValueError, match="too small"):
        conv3d_as_conv2d(torch.randn(1, 2, 2, 4, 4), torch.randn(3, 2, 3, 3, 3))


def test_module_is_a_drop_in_conv3d():
    torch.manual_seed(0)
    conv = nn.Conv3d(3, 6, (3, 3, 3), stride=(1, 2, 2), padding=1)
    ours = Conv3dAsConv2d(3, 6, (3, 3, 3), stride=(1, 2, 2), padding=1)
    ours.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 5, 8, 8)
    torch.testing.assert_close(ours(x), conv(x), rtol=1e-5, atol=1e-5)
    cl = x.to(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(ours(cl), ours(x), rtol=1e-5, atol=1e-5)
    traced = torch.fx.symbolic_trace(ours)
    torch.testing.assert_close(traced(x), ours(x))
    with pytest.raises(ValueError, match="zero padding"):
        Conv3dAsConv2d(3, 6, 3, padding="same")


def test_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 4, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: conv3d_as_conv2d(x, w, b, (2, 1, 1), (1, 1, 0)), (x, w, b),
                                    fast_mode=True)
    layer = Conv2Plus1d(2, 3, 3).double().eval()
    assert torch.autograd.gradcheck(layer, (x,), fast_mode=True)


@pytest.mark.parametrize("in_channels, out_channels, kernel", [
    (64, 64, 3), (64, 128, 3), (3, 64, (3, 7, 7)), (256, 512, 3), (16, 24, (5, 3, 3)), (7, 5, (3, 1, 3)),
])
def test_mid_channels_match_the_3d_conv_parameters(in_channels, out_channels, kernel):
    """M (k^2 N_in + t N_out) <= t k^2 N_in N_out, short by less than one M step (the floor)."""
    t, kh, kw = (kernel,) * 3 if isinstance(kernel, int) else kernel
    with torch.device("meta"):
        full = nn.Conv3d(in_channels, out_channels, kernel, bias=False)
        factored = Conv2Plus1d(in_channels, out_channels, kernel)
    conv_params = sum(p.numel() for name, p in factored.named_parameters() if name[0] in "03")
    full_params = sum(p.numel() for p in full.parameters())
    step = kh * kw * in_channels + t * out_channels  # parameters per unit of M
    assert full_params == t * kh * kw * in_channels * out_channels
    assert conv_params == factored.mid_channels * step
    assert 0 <= full_params - conv_params < step
    assert factored.mid_channels == conv2plus1d_mid_channels(in_channels, out_channels, kernel)


def test_torchvision_values_and_weights():
    assert conv2plus1d_mid_channels(64, 64) == 144 and conv2plus1d_mid_channels(64, 128) == 230
    torch.manual_seed(0)
    theirs = TorchvisionConv2Plus1D(8, 16, 12, stride=2).eval()
    ours = Conv2Plus1d(8, 16, 3, stride=2, mid_channels=12).eval()
    with torch.no_grad():
        theirs[1].running_mean.uniform_(-1, 1)
        theirs[1].running_var.uniform_(0.5, 2)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 8, 6, 10, 10)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernel, stride, size, expected", [
    (3, 1, (8, 14, 14), (8, 14, 14)),
    (3, 2, (8, 14, 14), (4, 7, 7)),
    ((3, 7, 7), (1, 2, 2), (5, 16, 16), (5, 8, 8)),
    ((5, 3, 3), (2, 1, 1), (9, 6, 6), (5, 6, 6)),
])
def test_shape_matches_the_3d_conv(kernel, stride, size, expected):
    layer = Conv2Plus1d(4, 6, kernel, stride=stride).eval()
    x = torch.randn(1, 4, *size)
    full = nn.Conv3d(4, 6, kernel, stride, padding=tuple(k // 2 for k in nn.modules.utils._triple(kernel)))
    assert layer(x).shape == full(x).shape == (1, 6, *expected)
    cl = x.to(memory_format=torch.channels_last_3d)
    torch.testing.assert_close(layer(cl), layer(x), rtol=1e-5, atol=1e-5)
    torch.fx.symbolic_trace(layer)


def test_profile_macs():
    n_in, n_out, t, k, T, S = 16, 32, 3, 3, 8, 14
    with torch.device("meta"):
        layer = Conv2Plus1d(n_in, n_out, (t, k, k), stride=(2, 2, 2))
        full = Conv3dAsConv2d(n_in, n_out, (t, k, k), stride=2, padding=1, bias=False)
    m = conv2plus1d_mid_channels(n_in, n_out, (t, k, k))
    spatial = m * T * (S // 2) ** 2 * n_in * k * k  # 1 x k x k at full depth, spatial stride 2
    temporal = n_out * (T // 2) * (S // 2) ** 2 * m * t  # t x 1 x 1, temporal stride 2
    result = profile(layer, (n_in, T, S, S))
    assert result.macs == spatial + temporal
    assert result.params == m * (k * k * n_in + t * n_out) + 2 * m
    full_macs = n_out * (T // 2) * (S // 2) ** 2 * n_in * t * k * k
    assert profile(full, (n_in, T, S, S)).macs == full_macs
    # the functional form is counted at the ATen level: t conv2d calls summing to the same MACs
    class Functional(nn.Module):
        def forward(self, x):
            return conv3d_as_conv2d(x, full.weight, None, 2, 1)

    assert profile(Functional(), (n_in, T, S, S)).macs == full_macs
