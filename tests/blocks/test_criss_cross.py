"""CrissCrossAttention: equals dense masked attention, R = 2 reaches every position, cost grows as HW(H+W)."""

from __future__ import annotations

import pytest
import torch

from convzoo.analysis import profile
from convzoo.blocks.criss_cross import CrissCrossAttention


def _dense_pass(block, x):
    """Full (HW x HW) attention restricted to each position's row and column, itself once."""
    _, _, h, w = x.shape
    q, k, v = (m(x).flatten(2) for m in (block.query, block.key, block.value))
    rows, cols = torch.arange(h).repeat_interleave(w), torch.arange(w).repeat(h)
    cross = (rows[:, None] == rows[None, :]) | (cols[:, None] == cols[None, :])  # (N, N), H + W - 1 per row
    energy = (q.transpose(1, 2) @ k).masked_fill(~cross, float("-inf"))
    out = v @ energy.softmax(-1).transpose(1, 2)  # (B, C, N)
    return block.gamma * out.unflatten(2, (h, w)) + x


def test_fresh_module_is_the_identity_and_equals_dense_masked_attention():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 5)
    assert torch.equal(CrissCrossAttention(8)(x), x)
    block = CrissCrossAttention(8, recurrence=2)
    block.gamma.data.fill_(0.7)
    torch.testing.assert_close(block.attend(x), _dense_pass(block, x))
    torch.testing.assert_close(block(x), _dense_pass(block, _dense_pass(block, x)))  # shared weights


@pytest.mark.parametrize("recurrence", [1, 2])
def test_two_passes_reach_every_position(recurrence):
    torch.manual_seed(0)
    block = CrissCrossAttention(4, recurrence=recurrence).double()
    block.gamma.data.fill_(1.0)
    x = torch.randn(1, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    block(x)[0, :, 1, 2].sum().backward()
    reached = x.grad[0].abs().sum(0) > 0  # (H, W)
    cross = torch.zeros(4, 5, dtype=torch.bool)
    cross[1, :], cross[:, 2] = True, True
    assert reached.all() if recurrence == 2 else torch.equal(reached, cross)


def test_gradcheck_channels_last_and_fx():
    torch.manual_seed(0)
    block = CrissCrossAttention(4, reduced_channels=2).double()
    block.gamma.data.fill_(0.5)
    x = torch.randn(1, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), fast_mode=True)
    y = block(x.detach())
    torch.testing.assert_close(block(x.detach().to(memory_format=torch.channels_last)), y)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(x.detach()), y)


def test_attention_macs_grow_as_hw_times_h_plus_w():
    c, cq = 16, 2
    attention = {}
    for h, w in [(8, 8), (16, 16)]:
        block = CrissCrossAttention(c)
        result = profile(block, (c, h, w))
        convs = sum(layer.macs for layer in result.layers if layer.type == "Conv2d")
        assert convs == 2 * h * w * c * (2 * cq + c)  # two passes of Q, K, V
        assert result.params == 2 * (c * cq + cq) + c * c + c + 1
        attention[h] = result.macs - convs
        assert attention[h] == 2 * h * w * (h + w) * (cq + c)  # not (HW)^2 (cq + c)
    assert attention[16] / attention[8] == 8  # HW(H+W): 4 x 2; full attention would give 16
