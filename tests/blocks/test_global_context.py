"""GlobalContextBlock: context modelling, transform, fusion; identity when fresh; timm's block loads; cost."""

from __future__ import annotations

import timm.layers
import torch

from convzoo.analysis import profile
from convzoo.blocks.global_context import GlobalContextBlock
from convzoo.weights import load_weights


def _random(block):
    torch.manual_seed(0)
    for p in block.parameters():
        p.data.normal_(0, 0.5)
    return block.eval()


def test_fresh_block_is_the_identity_and_follows_the_three_steps():
    x = torch.randn(2, 16, 5, 6)
    assert torch.equal(GlobalContextBlock(16)(x), x)
    block = _random(GlobalContextBlock(16, reduced_channels=4))
    weights = torch.softmax(torch.einsum("c,bchw->bhw", block.conv_attn.weight.flatten(), x).flatten(1)
                            + block.conv_attn.bias, dim=1)  # (B, N)
    context = (x.flatten(2) * weights[:, None]).sum(-1)  # (B, C)
    h = torch.relu(torch.nn.functional.layer_norm(context @ block.mlp_add.fc1.weight.flatten(1).T + block.mlp_add.fc1.bias,
                                                  (4,), block.mlp_add.norm.weight, block.mlp_add.norm.bias))
    delta = h @ block.mlp_add.fc2.weight.flatten(1).T + block.mlp_add.fc2.bias
    torch.testing.assert_close(block(x), x + delta[:, :, None, None])


def test_equals_timm_global_context_with_additive_fusion():
    theirs = _random(timm.layers.GlobalContext(16, fuse_add=True, fuse_scale=False, rd_channels=4))
    ours = load_weights(GlobalContextBlock(16, reduced_channels=4), theirs.state_dict()).eval()
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


def test_gradcheck_channels_last_fx_and_cost():
    block = _random(GlobalContextBlock(4, reduced_channels=2)).double()
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))
    y = block(x.detach())
    torch.testing.assert_close(block(x.detach().to(memory_format=torch.channels_last)), y)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(x.detach()), y)
    c, cr, n = 32, 2, 5 * 6
    result = profile(GlobalContextBlock(c), (c, 5, 6))
    assert result.params == (c + 1) + (c * cr + cr) + 2 * cr + (cr * c + c)
    assert result.macs == 2 * n * c + 2 * c * cr
