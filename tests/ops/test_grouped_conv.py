"""Grouped convs cost 1/g of the dense conv: parameters and MACs, as the profiler counts them.

(That a grouped conv is the concatenation of per-group convs, and how channel shuffle mixes
the groups again, is tested in test_channel_shuffle.py.)
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis import profile


def cost(in_channels: int, out_channels: int, kernel_size: int, groups: int, stride: int, size: int) -> tuple[int, int]:
    with torch.device("meta"):
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False)
    result = profile(conv, (in_channels, size, size))
    return result.params, result.macs


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, stride, size", [
    (24, 48, 3, 1, 8), (32, 32, 3, 2, 9), (16, 64, 1, 1, 5), (64, 64, 5, 1, 7),
])
def test_params_and_macs_are_divided_by_the_group_count(in_channels, out_channels, kernel_size, stride, size):
    dense_params, dense_macs = cost(in_channels, out_channels, kernel_size, 1, stride, size)
    out = (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1
    assert dense_params == kernel_size**2 * in_channels * out_channels
    assert dense_macs == out * out * kernel_size**2 * in_channels * out_channels
    for groups in (2, 4, 8, 16):
        if in_channels % groups or out_channels % groups:
            continue
        params, macs = cost(in_channels, out_channels, kernel_size, groups, stride, size)
        assert params * groups == dense_params  # k^2 (C / g) N
        assert macs * groups == dense_macs  # H' W' k^2 (C / g) N


def test_depthwise_is_the_extreme_g_equal_c():
    params, macs = cost(32, 32, 3, 32, 1, 6)
    assert (params, macs) == (9 * 32, 36 * 9 * 32)  # one 3x3 filter per channel: C k^2 and H W C k^2


def test_the_bias_is_not_divided():
    with torch.device("meta"):
        grouped = nn.Conv2d(16, 32, 3, groups=4)
    assert profile(grouped, (16, 5, 5)).params == 9 * 16 * 32 // 4 + 32


@settings(max_examples=40, deadline=None)
@given(per_group_in=st.integers(1, 4), per_group_out=st.integers(1, 4), groups=st.integers(1, 6),
       kernel_size=st.sampled_from([1, 3]), stride=st.integers(1, 2), size=st.integers(1, 6))
def test_property_cost_times_groups_is_the_dense_cost(per_group_in, per_group_out, groups, kernel_size, stride, size):
    c, n = per_group_in * groups, per_group_out * groups
    params, macs = cost(c, n, kernel_size, groups, stride, size)
    dense_params, dense_macs = cost(c, n, kernel_size, 1, stride, size)
    assert (params * groups, macs * groups) == (dense_params, dense_macs)
