"""Selective kernel: one branch is a plain conv-BN-ReLU, the select step is a per-channel convex mix
(Eqs. 1-6), and timm's SelectiveKernel loads with identical outputs."""

from __future__ import annotations

import pytest
import timm.layers
import torch
from torch import nn

from convzoo.blocks.selective_kernel import SelectiveKernel, SelectiveKernelBasic, SelectiveKernelBottleneck
from convzoo.models.sknet import SKResNet
from convzoo.ops.conv_norm_act import ConvNormAct
from helpers import count_parameters, randomise_norms


@pytest.mark.parametrize("kernel_size, dilation", [(3, 1), (5, 2)])
def test_one_branch_is_a_conv_norm_relu(kernel_size, dilation):
    """With M = 1 the softmax over the branches is 1: the output is the branch's, whatever the attention."""
    torch.manual_seed(0)
    sk = SelectiveKernel(8, 16, kernel_sizes=(kernel_size,), stride=2, groups=4)
    randomise_norms(sk)
    sk.eval()
    plain = ConvNormAct(8, 16, 3, stride=2, dilation=dilation, groups=4).eval()
    plain.load_state_dict(sk.paths[0].state_dict())
    x = torch.randn(2, 8, 9, 9)
    torch.testing.assert_close(sk(x), plain(x), rtol=0, atol=1e-6)
    nn.init.normal_(sk.attn.fc_select.weight)  # the attention changes nothing
    torch.testing.assert_close(sk(x), plain(x), rtol=0, atol=1e-6)


def test_a_5x5_branch_is_a_dilated_3x3_conv():
    sk = SelectiveKernel(8, 8)
    convs = [path[0] for path in sk.paths]
    assert [(c.kernel_size, c.dilation, c.padding) for c in convs] == [((3, 3), (1, 1), (1, 1)), ((3, 3), (2, 2), (2, 2))]
    with pytest.raises(ValueError, match="odd"):
        SelectiveKernel(8, 8, kernel_sizes=(3, 4))


def test_follows_eqs_1_to_6():
    """Fuse: U = U1 + U2, s = pool(U), z = ReLU(BN(W s)); select: softmax across branches per channel."""
    torch.manual_seed(0)
    sk = SelectiveKernel(6, 8, reduction=2, min_attn_channels=3)  # d = max(8 / 2, 3) = 4
    randomise_norms(sk)
    sk.eval()
    assert sk.attn.fc_reduce.out_channels == 4
    x = torch.randn(2, 6, 7, 7)
    u1, u2 = sk.paths[0](x), sk.paths[1](x)
    s = (u1 + u2).mean((2, 3))  # Eqs. (1), (2): (B, C)
    z = torch.relu(sk.attn.bn(sk.attn.fc_reduce(s[:, :, None, None])))[:, :, 0, 0]  # Eq. (3)
    logits = z @ sk.attn.fc_select.weight.flatten(1).T  # (B, 2C): A z then B z
    a = torch.exp(logits[:, :8]) / (torch.exp(logits[:, :8]) + torch.exp(logits[:, 8:]))  # Eq. (5)
    b = 1 - a
    expected = a[:, :, None, None] * u1 + b[:, :, None, None] * u2  # Eq. (6)
    torch.testing.assert_close(sk(x), expected, rtol=0, atol=1e-5)

    weights = sk.attn(torch.stack([u1, u2], 1))  # (B, M, C, 1, 1)
    assert weights.shape == (2, 2, 8, 1, 1)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 8, 1, 1))
    assert (weights > 0).all() and weights[:, 0].flatten(1).std(1).min() > 0  # a mix, different per channel
    assert not torch.allclose(weights[0], weights[1])  # and per image


def test_attention_width_is_max_of_c_over_r_and_l():
    assert SelectiveKernel(128, 128).attn.fc_reduce.out_channels == 32  # 128 / 16 = 8 -> L = 32
    assert SelectiveKernel(1024, 1024).attn.fc_reduce.out_channels == 64  # 1024 / 16


def test_split_input_gives_each_branch_its_share():
    sk = SelectiveKernel(8, 16, split_input=True)
    assert [path[0].in_channels for path in sk.paths] == [4, 4]
    # Branches (2 x 4 in x 16 out x 9), BN (2 x 2 x 16), attention (16 x 32 + BN 2 x 32 + 32 x 32).
    assert count_parameters(sk) == 2 * 4 * 16 * 9 + 2 * 2 * 16 + 16 * 32 + 2 * 32 + 32 * 32
    with pytest.raises(ValueError, match="split"):
        SelectiveKernel(9, 16, split_input=True)


@pytest.mark.parametrize(
    "options, timm_options",
    [
        (dict(groups=8), dict(groups=8, rd_ratio=1 / 16, rd_divisor=32, split_input=False)),
        (dict(reduction=8, min_attn_channels=16, split_input=True), dict(rd_ratio=1 / 8, rd_divisor=16)),
    ],
)
def test_equals_timm_selective_kernel(options, timm_options):
    torch.manual_seed(0)
    theirs = timm.layers.SelectiveKernel(64, 64, stride=2, **timm_options).eval()
    randomise_norms(theirs)
    ours = SelectiveKernel(64, 64, stride=2, **options).eval()
    ours.load_state_dict(SKResNet.remap_state_dict(theirs.state_dict()))
    x = torch.randn(2, 64, 9, 9)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("block", [SelectiveKernelBasic, SelectiveKernelBottleneck])
def test_blocks_need_a_shortcut_projection_to_change_shape(block):
    with pytest.raises(ValueError, match="downsample"):
        block(64, 128, stride=2)
    out = block(64, 64)(torch.randn(2, 64, 5, 5))
    assert out.shape == (2, 64, 5, 5) and (out >= 0).all()
