"""Channel shuffle: the permutation, its inverse, cross-group mixing, grouped convs, fx."""

from __future__ import annotations

import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.ops.channel_shuffle import ChannelShuffle, channel_shuffle

SHAPES = [(12, 3), (12, 4), (16, 2), (24, 8), (7, 1), (6, 6)]


def channel_ids(channels: int) -> torch.Tensor:
    """A (1, C, 2, 2) tensor whose channel c holds the value c everywhere."""
    return torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1).expand(1, channels, 2, 2).contiguous()


def order(x: torch.Tensor) -> list[int]:
    return x[0, :, 0, 0].long().tolist()


@pytest.mark.parametrize("channels, groups", SHAPES)
def test_output_channel_j_g_plus_i_is_input_channel_i_n_plus_j(channels, groups):
    per_group = channels // groups
    out = order(channel_shuffle(channel_ids(channels), groups))
    assert out == [i * per_group + j for j in range(per_group) for i in range(groups)]
    assert sorted(out) == list(range(channels))  # a permutation: nothing lost, nothing repeated


def test_known_example():
    assert order(channel_shuffle(channel_ids(6), 2)) == [0, 3, 1, 4, 2, 5]
    assert order(channel_shuffle(channel_ids(6), 3)) == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize("channels, groups", SHAPES)
def test_shuffling_with_c_over_g_groups_is_the_inverse(channels, groups):
    x = torch.randn(2, channels, 3, 5)
    shuffled = channel_shuffle(x, groups)
    assert torch.equal(channel_shuffle(shuffled, channels // groups), x)
    assert torch.equal(channel_shuffle(channel_shuffle(x, channels // groups), groups), x)


@pytest.mark.parametrize("channels, groups", [(12, 3), (16, 2), (16, 4), (64, 8)])
def test_every_output_group_receives_every_input_group(channels, groups):
    """With at least g channels per group, each block of C/g outputs (a group of the next
    grouped conv) holds channels from all g input groups (paper Fig. 1c)."""
    per_group = channels // groups
    out = torch.tensor(order(channel_shuffle(channel_ids(channels), groups)))
    source_group = out // per_group
    for block in source_group.view(groups, per_group):
        assert set(block.tolist()) == set(range(groups))


def test_without_shuffle_stacked_group_convs_stay_separate():
    """Fig. 1a vs 1c: output group 0 of two stacked grouped convs depends on input group 0
    only; with a shuffle between them it depends on every input group."""
    torch.manual_seed(0)
    groups, channels = 3, 12
    conv1 = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
    conv2 = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
    x = torch.randn(1, channels, 4, 4, requires_grad=True)
    per_group = channels // groups

    def input_groups_reaching_output_group_0(shuffle: bool) -> set[int]:
        x.grad = None
        hidden = conv1(x)
        hidden = channel_shuffle(hidden, groups) if shuffle else hidden
        conv2(hidden)[:, :per_group].sum().backward()
        reached = x.grad.abs().sum(dim=(0, 2, 3)).view(groups, per_group).sum(1) > 0
        return {g for g in range(groups) if reached[g]}

    assert input_groups_reaching_output_group_0(shuffle=False) == {0}
    assert input_groups_reaching_output_group_0(shuffle=True) == {0, 1, 2}


@pytest.mark.parametrize("groups, kernel_size", [(1, 1), (3, 1), (4, 3), (12, 3)])
def test_grouped_conv_is_the_concatenation_of_per_group_convs(groups, kernel_size):
    torch.manual_seed(0)
    in_channels, out_channels = 12, 24
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, groups=groups)
    x = torch.randn(2, in_channels, 6, 6)
    inputs = x.chunk(groups, dim=1)
    weights = conv.weight.chunk(groups, dim=0)  # (out/g, in/g, k, k) each
    biases = conv.bias.chunk(groups, dim=0)
    per_group = [F.conv2d(i, w, b, padding=kernel_size // 2) for i, w, b in zip(inputs, weights, biases)]
    torch.testing.assert_close(conv(x), torch.cat(per_group, 1), rtol=0, atol=1e-5)
    dense_weights = in_channels * out_channels * kernel_size**2
    assert conv.weight.numel() == dense_weights // groups  # and 1/g of the dense conv's weights


@pytest.mark.parametrize("channels, groups", SHAPES)
def test_matches_pytorch_native_channel_shuffle(channels, groups):
    x = torch.randn(2, channels, 3, 3)
    assert torch.equal(ChannelShuffle(groups)(x), nn.ChannelShuffle(groups)(x))


def test_module_traces_with_fx_without_shape_arithmetic():
    module = ChannelShuffle(4)
    traced = torch.fx.symbolic_trace(module)
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(traced(x), module(x))
    targets = [node.target for node in traced.graph.nodes if node.op == "call_method"]
    assert targets == ["unflatten", "transpose", "flatten"]
    assert repr(module) == "ChannelShuffle(groups=4)"


def test_works_on_any_number_of_spatial_dims():
    x = torch.randn(1, 6, 2, 3, 4)
    assert torch.equal(channel_shuffle(x, 3), nn.ChannelShuffle(3)(x))


def test_bad_groups_fail():
    with pytest.raises(ValueError, match="positive"):
        ChannelShuffle(0)
    with pytest.raises(RuntimeError):
        channel_shuffle(torch.randn(1, 10, 2, 2), 3)
