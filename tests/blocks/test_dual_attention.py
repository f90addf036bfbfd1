"""PositionAttention / ChannelAttention / DualAttention: Eqs. (1)-(4), identity when fresh, cost."""

from __future__ import annotations

import pytest
import torch

from convzoo.analysis import profile
from convzoo.blocks.dual_attention import ChannelAttention, DualAttention, PositionAttention


def _pointwise(conv, x):
    return conv.weight.flatten(1) @ x + conv.bias[:, None]


def test_fresh_modules_are_the_identity():
    x = torch.randn(2, 16, 4, 5)
    for block in (PositionAttention(16), ChannelAttention(16), DualAttention(16)):
        assert torch.equal(block(x), x)


def test_follow_eqs_1_to_4():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 3, 4)
    a = x.flatten(2)  # (B, C, N)
    pam, cam = PositionAttention(16), ChannelAttention(16)
    pam.gamma.data.fill_(0.3)
    cam.gamma.data.fill_(0.6)
    s = torch.softmax(_pointwise(pam.query, a).transpose(1, 2) @ _pointwise(pam.key, a), dim=-1)  # Eq. (1): s[j, i]
    expected_pam = 0.3 * (_pointwise(pam.value, a) @ s.transpose(1, 2)) + a  # Eq. (2)
    torch.testing.assert_close(pam(x), expected_pam.unflatten(2, (3, 4)))
    energy = a @ a.transpose(1, 2)
    xji = torch.softmax(energy.max(-1, keepdim=True).values - energy, dim=-1)  # Eq. (3), authors' code
    expected_cam = 0.6 * (xji @ a) + a  # Eq. (4)
    torch.testing.assert_close(cam(x), expected_cam.unflatten(2, (3, 4)))
    dual = DualAttention(16)
    dual.pam.load_state_dict(pam.state_dict())
    dual.cam.load_state_dict(cam.state_dict())
    torch.testing.assert_close(dual(x), (expected_pam + expected_cam - a).unflatten(2, (3, 4)))


@pytest.mark.parametrize("cls", [PositionAttention, ChannelAttention, DualAttention])
def test_gradcheck_channels_last_and_fx(cls):
    torch.manual_seed(0)
    block = cls(8).double()
    for p in block.parameters():
        if p.numel() == 1:
            p.data.fill_(0.5)
    x = torch.randn(1, 8, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), fast_mode=True)
    y = block(x.detach())
    torch.testing.assert_close(block(x.detach().to(memory_format=torch.channels_last)), y)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(x.detach()), y)


def test_profiled_params_and_macs():
    c, cq, h, w = 32, 4, 5, 6
    n = h * w
    pam, cam = profile(PositionAttention(c), (c, h, w)), profile(ChannelAttention(c), (c, h, w))
    assert pam.params == 2 * (c * cq + cq) + c * c + c + 1 and cam.params == 1
    assert pam.macs == n * c * (2 * cq + c) + n * n * (cq + c)
    assert cam.macs == 2 * n * c * c
    assert profile(DualAttention(c), (c, h, w)).macs == pam.macs + cam.macs
