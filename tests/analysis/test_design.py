"""Worked design comparisons: numbers checked by building the real layers."""

from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis.design import (
    TOPICS,
    bottleneck_1x1,
    depthwise_separable_cost,
    explain_topic,
    grouped_conv_cost,
    spatially_separable_cost,
    stacked_3x3_vs_7x7,
)
from convzoo.errors import ConvzooError

DOC = Path(__file__).resolve().parents[2] / "docs" / "design-comparisons.md"


def _params(*layers: nn.Module) -> int:
    return sum(p.numel() for layer in layers for p in layer.parameters())


def _macs(layers: list[nn.Module], size: int, in_channels: int) -> int:
    """MACs by running the layers on the meta device: output elements x weights per output."""
    total, x = 0, torch.empty(1, in_channels, size, size, device="meta")
    for layer in layers:
        x = layer.to("meta")(x)
        total += x.numel() * layer.weight[0].numel()
    return total


def _conv(i, o, k, groups=1):
    pad = (k[0] // 2, k[1] // 2) if isinstance(k, tuple) else k // 2
    return nn.Conv2d(i, o, k, padding=pad, groups=groups, bias=False)


def test_bottleneck_numbers_match_real_layers():
    c = bottleneck_1x1()
    assert (c.direct_params, c.bottleneck_params) == (589_824, 81_920)
    direct = [_conv(256, 256, 3)]
    bottleneck = [_conv(256, 32, 1), _conv(32, 256, 3)]
    assert _params(*direct) == c.direct_params and _params(*bottleneck) == c.bottleneck_params
    assert _macs(direct, 28, 256) == c.direct_macs == 462_422_016
    assert _macs(bottleneck, 28, 256) == c.bottleneck_macs == 64_225_280


def test_stacked_3x3_vs_7x7():
    c = stacked_3x3_vs_7x7(channels=64)
    assert c.receptive_field == 7
    assert (c.stacked_coefficient, c.single_coefficient) == (27, 49)
    assert c.stacked_params == _params(*[_conv(64, 64, 3) for _ in range(3)]) == 27 * 64**2
    assert c.single_params == _params(_conv(64, 64, 7)) == 49 * 64**2
    assert stacked_3x3_vs_7x7(channels=8, layers=2).receptive_field == 5


def test_depthwise_separable_mobilenet_table3():
    c = depthwise_separable_cost()
    assert (c.standard_macs, c.separable_macs) == (462_422_016, 52_283_392)  # 462M vs 52.3M
    assert (c.standard_params, c.separable_params) == (2_359_296, 266_752)  # 2.36M vs 0.27M
    separable = [_conv(512, 512, 3, groups=512), _conv(512, 512, 1)]
    assert _params(*separable) == c.separable_params
    assert _macs(separable, 14, 512) == c.separable_macs
    assert _macs([_conv(512, 512, 3)], 14, 512) == c.standard_macs
    assert c.ratio == c.closed_form == Fraction(1, 512) + Fraction(1, 9)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 64), n=st.integers(1, 64), k=st.integers(1, 7), f=st.integers(1, 32))
def test_depthwise_ratio_equals_closed_form(m, n, k, f):
    c = depthwise_separable_cost(m, n, k, f)
    assert c.ratio == Fraction(1, n) + Fraction(1, k * k)


def test_grouped_divides_by_groups():
    c = grouped_conv_cost()
    assert c.standard_params == _params(_conv(128, 128, 3)) == 147_456
    assert c.grouped_params == _params(_conv(128, 128, 3, groups=32)) == 147_456 // 32
    assert _macs([_conv(128, 128, 3, groups=32)], 56, 128) == c.grouped_macs
    with pytest.raises(ConvzooError, match="must divide"):
        grouped_conv_cost(in_channels=100, groups=32)


def test_spatially_separable():
    c = spatially_separable_cost(channels=64, kernel_size=3)
    assert c.per_filter == (9, 6)
    assert c.full_params == _params(_conv(64, 64, 3))
    assert c.separable_params == _params(_conv(64, 64, (3, 1)), _conv(64, 64, (1, 3)))


def test_topics_and_unknown_topic():
    assert list(TOPICS) == ["bottleneck", "stacked-3x3", "depthwise-separable", "grouped", "spatially-separable"]
    assert "589,824" in explain_topic("bottleneck") and "81,920" in explain_topic("bottleneck")
    assert "27C^2" in explain_topic("stacked-3x3") and "49C^2" in explain_topic("stacked-3x3")
    assert "1/512 + 1/9" in explain_topic("depthwise-separable")
    assert "64 -> 64" in explain_topic("stacked-3x3", channels=64)
    with pytest.raises(ConvzooError, match="bottleneck, stacked-3x3, depthwise-separable"):
        explain_topic("winograd")
    with pytest.raises(ConvzooError):
        explain_topic("grouped", colour=3)
    with pytest.raises(ConvzooError, match="positive integer"):
        bottleneck_1x1(bottleneck=0)


@pytest.mark.parametrize("topic", list(TOPICS))
def test_doc_shows_what_the_functions_compute(topic):
    """The doc quotes each explanation verbatim, so its numbers cannot drift."""
    assert explain_topic(topic) in DOC.read_text()
