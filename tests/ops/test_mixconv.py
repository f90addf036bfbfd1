"""MixConv: channel splits, equality with per-group convs, the single-kernel case, cost."""

from __future__ import annotations

import pytest
import torch
import torch.fx
from torch import nn

from convzoo.analysis import profile
from convzoo.ops.mixconv import MixConv2d, split_channels


def test_splits():
    assert split_channels(34, 3) == [12, 11, 11]  # the remainder goes to the first group, as in MixNet
    assert split_channels(32, 4, "exponential") == [16, 8, 4, 4]
    assert split_channels(7, 1) == [7]
    with pytest.raises(ValueError, match="non-empty"):
        split_channels(4, 4, "exponential")
    with pytest.raises(ValueError, match="'equal' or 'exponential'"):
        split_channels(4, 2, "random")


@pytest.mark.parametrize("split", ["equal", "exponential"])
@pytest.mark.parametrize("depthwise, out_channels", [(True, 24), (False, 12)])
def test_equals_the_per_group_convs(split, depthwise, out_channels):
    torch.manual_seed(0)
    mix = MixConv2d(24, out_channels, (3, 5, 7), stride=2, depthwise=depthwise, split=split)
    x = torch.randn(2, 24, 15, 15)
    expected, start = [], 0
    for conv, width in zip(mix, mix.in_splits):
        expected.append(nn.functional.conv2d(
            x[:, start:start + width], conv.weight, stride=2, padding=conv.kernel_size[0] // 2, groups=conv.groups
        ))
        start += width
    output = mix(x)
    assert output.shape == (2, out_channels, 8, 8)
    torch.testing.assert_close(output, torch.cat(expected, 1))
    assert [conv.kernel_size[0] for conv in mix] == [3, 5, 7]


def test_one_kernel_is_a_plain_depthwise_conv():
    mix = MixConv2d(8, 8, (3,))
    plain = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    plain.weight.data.copy_(mix[0].weight)
    x = torch.randn(1, 8, 6, 6)
    torch.testing.assert_close(mix(x), plain(x))
    assert list(mix.state_dict()) == ["0.weight"]


def test_cost_lies_between_the_smallest_and_largest_kernel():
    def macs(module):
        return profile(module, (32, 16, 16)).macs

    mixed = macs(MixConv2d(32, 32, (3, 5, 7, 9)))
    assert macs(MixConv2d(32, 32, (3,))) < mixed < macs(MixConv2d(32, 32, (9,)))
    assert mixed == 8 * 16 * 16 * (9 + 25 + 49 + 81)  # each group of 8 channels with its own kernel


def test_traceable_and_checked():
    torch.fx.symbolic_trace(MixConv2d(6, 6, (3, 5)))
    with pytest.raises(ValueError, match="keeps the width"):
        MixConv2d(6, 12, (3, 5))
