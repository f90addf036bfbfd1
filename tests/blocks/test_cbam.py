"""CBAM: Eq. (1)-(3) on a tiny input, gradcheck, channels_last, fx, cost."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convzoo.analysis import profile
from convzoo.blocks.cbam import CBAM


def test_follows_eqs_1_to_3():
    torch.manual_seed(0)
    block = CBAM(8, reduced_channels=2).eval()
    x = torch.randn(2, 8, 5, 6)
    fc1, fc2 = block.channel_gate.fc1, block.channel_gate.fc2

    def mlp(z):  # (B, C), the shared MLP
        return F.relu(z @ fc1.weight.flatten(1).T + fc1.bias) @ fc2.weight.flatten(1).T + fc2.bias

    mc = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))  # Eq. (2)
    f1 = x * mc[:, :, None, None]
    ms = torch.sigmoid(F.conv2d(torch.stack([f1.mean(1), f1.amax(1)], 1), block.spatial_gate.conv.weight,
                                block.spatial_gate.conv.bias, padding=3))  # Eq. (3): [avg; max]
    torch.testing.assert_close(block(x), f1 * ms)  # Eq. (1)


def test_gradcheck_channels_last_and_fx():
    torch.manual_seed(0)
    block = CBAM(4, reduced_channels=2, spatial_kernel_size=3).double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))
    y = block(x.detach())
    torch.testing.assert_close(block(x.detach().to(memory_format=torch.channels_last)), y)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(x.detach()), y)


@pytest.mark.parametrize("c, h, w, k", [(32, 5, 6, 7), (64, 7, 7, 3)])
def test_profiled_params_and_macs(c, h, w, k):
    cr = c // 16
    result = profile(CBAM(c, spatial_kernel_size=k), (c, h, w))
    assert result.params == (c * cr + cr) + (cr * c + c) + (2 * k * k + 1)
    assert result.macs == 4 * c * cr + 2 * k * k * h * w  # the MLP runs twice; the conv maps 2 planes to 1
    with pytest.raises(ValueError, match="odd"):
        CBAM(8, spatial_kernel_size=4)
