"""Split attention (ResNeSt): the r-softmax, the exact grouping, the radix-1 reduction to SE, timm's layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from timm.layers import SplitAttn
from torch import nn

from convzoo.blocks.split_attention import RadixSoftmax, ResNeStBottleneck, SplitAttention
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.ops.conv_norm_act import ConvNormAct
from helpers import randomise_norms


def test_radix_one_is_a_sigmoid_gate():
    logits = torch.randn(2, 12, 1, 1)
    torch.testing.assert_close(RadixSoftmax(radix=1, groups=3)(logits), torch.sigmoid(logits))


@pytest.mark.parametrize("radix, groups", [(2, 1), (2, 2), (3, 2)])
def test_radix_weights_sum_to_one_per_channel_and_cardinal_group(radix, groups):
    channels_per_group = 4
    logits = torch.randn(2, groups * radix * channels_per_group, 1, 1)
    weights = RadixSoftmax(radix, groups)(logits)
    assert weights.shape == logits.shape
    # Output is radix-major (R, K, C'), input cardinal-major (K, R, C').
    by_radix = weights.reshape(2, radix, groups, channels_per_group)
    torch.testing.assert_close(by_radix.sum(dim=1), torch.ones(2, groups, channels_per_group))
    expected = logits.reshape(2, groups, radix, channels_per_group).softmax(dim=2).transpose(1, 2)
    torch.testing.assert_close(by_radix, expected)


def reference_split_attention(block: SplitAttention, x: torch.Tensor, radix: int, groups: int) -> torch.Tensor:
    """The block written out per cardinal group k and split r (Eqs. 1-3), from its own weights, in eval mode."""
    conv, out_channels = block.conv, block.conv.out_channels // radix
    in_per, out_per = x.shape[1] // (groups * radix), out_channels // groups
    bn0 = nn.functional.batch_norm
    u = torch.relu(bn0(conv(x), block.bn0.running_mean, block.bn0.running_var, block.bn0.weight, block.bn0.bias))
    # Split r of cardinal group k is the conv's group j = r * K + k: its own input and output slices.
    splits = {}
    for r in range(radix):
        for k in range(groups):
            j = r * groups + k
            out = F.conv2d(x[:, j * in_per:(j + 1) * in_per], conv.weight[j * out_per:(j + 1) * out_per],
                           padding=conv.padding)
            torch.testing.assert_close(out, conv(x)[:, j * out_per:(j + 1) * out_per])
            splits[r, k] = u[:, j * out_per:(j + 1) * out_per]
    reduced_per = block.fc1.out_channels // groups
    outputs = []
    for k in range(groups):
        s = sum(splits[r, k] for r in range(radix)).mean((2, 3), keepdim=True)  # Eq. (1)
        fc1 = block.fc1.weight[k * reduced_per:(k + 1) * reduced_per]
        z = F.conv2d(s, fc1, block.fc1.bias[k * reduced_per:(k + 1) * reduced_per])
        bn1 = block.bn1
        z = torch.relu(F.batch_norm(z, bn1.running_mean[k * reduced_per:(k + 1) * reduced_per],
                                    bn1.running_var[k * reduced_per:(k + 1) * reduced_per],
                                    bn1.weight[k * reduced_per:(k + 1) * reduced_per],
                                    bn1.bias[k * reduced_per:(k + 1) * reduced_per]))
        rows = slice(k * radix * out_per, (k + 1) * radix * out_per)  # fc2's group k: logits (R, C')
        logits = F.conv2d(z, block.fc2.weight[rows], block.fc2.bias[rows]).unflatten(1, (radix, out_per))
        a = logits.softmax(dim=1) if radix > 1 else torch.sigmoid(logits)  # Eq. (3)
        outputs.append(sum(a[:, r] * splits[r, k] for r in range(radix)))  # Eq. (2)
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("radix, groups", [(1, 1), (2, 1), (2, 2), (4, 2)])
def test_exact_grouping_matches_the_equations(radix, groups):
    torch.manual_seed(0)
    block = SplitAttention(16, 16, groups=groups, radix=radix).eval()
    randomise_norms(block)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference_split_attention(block, x, radix, groups))


def test_radix_one_cardinality_one_is_an_se_gated_conv():
    """With R = K = 1: ConvNormAct then SE, once the norm after fc1 is folded into fc1 (eval mode)."""
    torch.manual_seed(0)
    block = SplitAttention(8, 16, radix=1, reduced_channels=6).eval()
    randomise_norms(block)
    conv = ConvNormAct(8, 16, kernel_size=3).eval()
    conv.load_state_dict({"0.weight": block.conv.weight, **{f"1.{k}": v for k, v in block.bn0.state_dict().items()}})
    se = SqueezeExcite(16, 6)
    bn = block.bn1
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        se.fc1.weight.copy_(block.fc1.weight * scale[:, None, None, None])
        se.fc1.bias.copy_((block.fc1.bias - bn.running_mean) * scale + bn.bias)
        se.fc2.load_state_dict(block.fc2.state_dict())
        x = torch.randn(2, 8, 9, 9)
        torch.testing.assert_close(block(x), se(conv(x)))


@pytest.mark.parametrize("radix, groups", [(2, 1), (4, 2), (1, 4)])
def test_timm_split_attention_weights_give_timm_outputs(radix, groups):
    torch.manual_seed(0)
    theirs = SplitAttn(32, 32, groups=groups, radix=radix, norm_layer=nn.BatchNorm2d).eval()
    randomise_norms(theirs)
    ours = SplitAttention(32, 32, groups=groups, radix=radix).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 32, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("avd_first", [False, True])
def test_strided_bottleneck_pools_and_runs_its_split_attention_at_stride_one(avd_first):
    down = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), nn.Conv2d(64, 128, 1),
                         nn.BatchNorm2d(128))
    block = ResNeStBottleneck(64, 128, stride=2, downsample=down, avd_first=avd_first)
    assert block.conv2.conv.stride == (1, 1)
    pool = block.avd_first if avd_first else block.avd_last
    assert isinstance(pool, nn.AvgPool2d) and pool.stride == 2
    assert block(torch.randn(2, 64, 9, 9)).shape == (2, 128, 5, 5)


def test_missing_shortcut_is_refused():
    with pytest.raises(ValueError, match="downsample"):
        ResNeStBottleneck(64, 128, stride=2)
