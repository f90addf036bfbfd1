"""Latency measured whole, or summed from a per-block table kept in a file."""

import json

import pytest
import torch
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.nas.latency import LatencyTable, measure_latency, table_error


class Chain(nn.Module):
    """Two layers, cut into units as a searchable network is."""

    def __init__(self):
        super().__init__()
        self.first, self.second = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.second(self.first(x))

    def latency_units(self, input_size):
        shape = (1, *input_size)
        return [("conv:1-4", self.first, shape), ("conv:4-4", self.second, (1, 4, *input_size[1:]))]


def test_measure_latency_is_positive_and_restores_the_training_mode():
    model = Chain().train()
    assert measure_latency(model, (1, 1, 8, 8), repeats=3) > 0
    assert model.training


def test_table_measures_each_unit_once_and_keeps_it_in_its_file(tmp_path):
    path = tmp_path / "table.json"
    table = LatencyTable(path, repeats=2)
    first = table.estimate(Chain(), (1, 1, 8, 8))
    saved = json.loads(path.read_text())
    assert set(saved) == {"conv:1-4", "conv:4-4"}
    assert first == pytest.approx(sum(saved.values()))
    reread = LatencyTable(path)
    assert reread.estimate(Chain(), (1, 1, 8, 8)) == pytest.approx(first)  # read, not measured again
    assert reread.entries == saved


def test_table_refuses_a_network_without_units(tmp_path):
    with pytest.raises(ConvzooError, match="no latency_units"):
        LatencyTable(tmp_path / "t.json").estimate(nn.Conv2d(1, 1, 1), (1, 1, 4, 4))


def test_a_corrupt_table_is_one_line(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("[1, 2")
    with pytest.raises(ConvzooError, match="is not a latency table"):
        LatencyTable(path)


def test_table_error_in_percent_of_the_measurement():
    error = table_error([9.0, 12.0], [10.0, 10.0])
    assert error == {"mean_abs_percent": pytest.approx(15.0), "max_abs_percent": pytest.approx(20.0),
                     "mean_percent": pytest.approx(5.0), "networks": 2}
    assert table_error([], []) == {}


def test_measure_latency_uses_the_given_threads():
    before = torch.get_num_threads()
    measure_latency(Chain(), (1, 1, 8, 8), threads=1, repeats=1)
    assert torch.get_num_threads() == before
