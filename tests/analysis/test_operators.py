"""The operator table: every catalogued operator stands in for a standard conv of the same shape."""

from __future__ import annotations

import pytest
import torch

from convzoo.analysis.operators import format_operator_table, operator_table
from convzoo.cli import main
from convzoo.ops.catalog import OPERATORS, standard_conv
from convzoo.ops.depthwise_separable import separable_cost_ratio


@pytest.mark.parametrize("entry", OPERATORS, ids=[entry.name for entry in OPERATORS])
@pytest.mark.parametrize("in_channels, out_channels, kernel_size", [(32, 16, 3), (32, 32, 7)])
def test_every_operator_maps_the_same_shapes(entry, in_channels, out_channels, kernel_size):
    x = torch.randn(2, in_channels, 15, 15)
    reference = standard_conv(in_channels, out_channels, kernel_size)
    operator = entry.build(in_channels, out_channels, kernel_size).eval()
    with torch.no_grad():
        assert operator(x).shape == reference(x).shape == (2, out_channels, 15, 15)


def test_table_rows_and_ratios():
    rows = {row.name: row for row in operator_table(128, 64, 3, (28, 28))}
    assert set(rows) == {entry.name for entry in OPERATORS}
    conv = rows["Conv2d"]
    assert conv.params == 64 * 128 * 9 and conv.macs == conv.params * 28 * 28 and conv.macs_ratio == 1
    separable = rows["DepthwiseSeparableConv2d"]
    assert separable.macs_ratio == pytest.approx(float(separable_cost_ratio(64, 3)))
    assert rows["ChannelWiseConv"].params == 128 - 64 + 1  # whatever the widths: one kernel along the channels
    assert rows["Conv2d 1x1"].params_ratio == pytest.approx(1 / 9)


def test_an_operator_that_cannot_take_the_shape_says_why():
    rows = {row.name: row for row in operator_table(30, 64, 3, (8, 8))}
    shuffled = rows["grouped + channel_shuffle"]
    assert shuffled.params is None and "divisible by 4" in shuffled.note
    text = format_operator_table(list(rows.values()), 30, 64, 3, (8, 8))
    assert "divisible by 4" in text


def test_cli(capsys):
    assert main(["ops", "--in-channels", "32", "--out-channels", "32", "--kernel", "5", "--size", "14x14"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("32 -> 32 channels, kernel 5, input 14x14")
    assert all(entry.name in out for entry in OPERATORS)
