"""NonLocalBlock: Eq. (1) for each pairwise function, identity when fresh, 1D/2D/3D, sub-sampling, cost."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convzoo.analysis import profile
from convzoo.blocks.non_local import PAIRWISE_FUNCTIONS, NonLocalBlock


def _randomise(block: NonLocalBlock) -> NonLocalBlock:
    torch.manual_seed(1)
    for p in block.parameters():
        p.data.normal_(0, 0.5)
    return block.eval()


def _pointwise(conv, x):  # (C_out, C_in) weight applied to (B, C_in, N)
    return conv.weight.flatten(1) @ x + conv.bias[:, None]


@pytest.mark.parametrize("mode", PAIRWISE_FUNCTIONS)
def test_fresh_block_is_exactly_the_identity(mode):
    for dims, size in [(1, (7,)), (2, (4, 5)), (3, (2, 4, 4))]:
        block = NonLocalBlock(6, mode=mode, dims=dims, sub_sample=True)
        x = torch.randn(2, 6, *size)
        assert torch.equal(block(x), x)  # train mode
        assert torch.equal(block.eval()(x), x)


@pytest.mark.parametrize("mode", PAIRWISE_FUNCTIONS)
def test_each_pairwise_function_follows_eq_1(mode):
    block = _randomise(NonLocalBlock(4, inter_channels=3, mode=mode))
    x = torch.randn(2, 4, 2, 3, dtype=torch.float64)
    block.double()
    xf = x.flatten(2)  # (B, C, N), N = 6
    g = _pointwise(block.g, xf)
    out = torch.empty(2, 3, 6, dtype=torch.float64)
    for b in range(2):
        for i in range(6):
            if mode == "gaussian":
                f = torch.stack([torch.exp(xf[b, :, i] @ xf[b, :, j]) for j in range(6)])
                f = f / f.sum()
            else:
                th, ph = _pointwise(block.theta, xf)[b], _pointwise(block.phi, xf)[b]
                if mode == "embedded_gaussian":
                    f = torch.stack([torch.exp(th[:, i] @ ph[:, j]) for j in range(6)])
                    f = f / f.sum()
                elif mode == "dot_product":
                    f = torch.stack([th[:, i] @ ph[:, j] for j in range(6)]) / 6
                else:
                    f = torch.stack([F.relu(block.concat_weight @ torch.cat([th[:, i], ph[:, j]])) for j in range(6)]) / 6
            out[b, :, i] = (f[None, :] * g[b]).sum(1)
    z = block.norm_out(_pointwise(block.conv_out, out).unflatten(2, (2, 3))) + x  # Eq. (6)
    torch.testing.assert_close(block(x), z)


@pytest.mark.parametrize("dims, size, keys", [(1, (8,), 4), (2, (4, 6), 6), (3, (3, 4, 4), 12)])
def test_sub_sampling_pools_the_keys(dims, size, keys):
    block = NonLocalBlock(4, dims=dims, sub_sample=True)
    x = torch.randn(2, 4, *size)
    n = x[0, 0].numel()
    assert block.affinity(x).shape == (2, n, keys)  # 2x2 pool (1x2x2 in 3D): a quarter (half in 1D)
    assert NonLocalBlock(4, dims=dims).affinity(x).shape == (2, n, n)
    assert _randomise(block)(x).shape == x.shape


@pytest.mark.parametrize("mode", PAIRWISE_FUNCTIONS)
def test_gradcheck_channels_last_and_fx(mode):
    block = _randomise(NonLocalBlock(3, inter_channels=2, mode=mode, sub_sample=True)).double()
    x = torch.randn(1, 3, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,))
    y = block(x.detach())
    torch.testing.assert_close(block(x.detach().to(memory_format=torch.channels_last)), y)
    torch.testing.assert_close(torch.fx.symbolic_trace(block)(x.detach()), y)


@pytest.mark.parametrize("mode", PAIRWISE_FUNCTIONS)
def test_profiled_params_and_macs(mode):
    c, ci, h, w = 8, 4, 4, 6
    n = h * w
    block = NonLocalBlock(c, mode=mode)
    result = profile(block, (c, h, w))
    proj = 1 if mode == "gaussian" else 3  # g only, or theta, phi, g
    assert result.params == proj * (c * ci + ci) + ci * c + c + 2 * c + (2 * ci if mode == "concatenation" else 0)
    affinity = {"gaussian": n * n * c, "concatenation": 2 * n * ci}.get(mode, n * n * ci)
    assert result.macs == (proj + 1) * n * c * ci + affinity + n * n * ci
    assert not result.coverage.uncounted_ops


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        NonLocalBlock(4, mode="cosine")
    with pytest.raises(ValueError, match="dims"):
        NonLocalBlock(4, dims=4)
