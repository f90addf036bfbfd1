"""Model comparison: rows agree with profile() and receptive_field(), the memory-access
estimate matches a hand count, latency fields appear only when asked (no timing
assertions beyond > 0)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from convzoo.analysis import compare, format_comparison, matmul_gflops, memory_access_bytes, plot_comparison
from convzoo.analysis import profile as profile_fn
from convzoo.analysis import receptive_field
from convzoo.errors import UnknownModelError
from convzoo.registry import get_entry, meta_model

LATENCY_FIELDS = ("latency_ms", "throughput", "achieved_gflops")


def toy() -> nn.Module:
    """Conv 1->2 (3x3, bias) then ReLU: 2 * 1 * 9 + 2 = 20 parameters."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())


def last_rf(name: str, size):
    rf = receptive_field(meta_model(name), size)
    return (rf.stages[-1] if rf.stages else rf.output).size


@pytest.mark.parametrize("input_size", [None, (3, 64, 64)])
def test_rows_match_profile_and_receptive_field(input_size):
    names = ["lenet5", "alexnet", "resnet18"]
    result = compare(names, input_size)
    assert [row.name for row in result.rows] == names
    assert not result.latency
    for row in result.rows:
        if row.name == "lenet5" or input_size is None:
            expected_size = get_entry(row.name).input_size  # lenet5 keeps its fixed 1x32x32
        else:
            expected_size = input_size
        assert row.input_size == tuple(expected_size)
        prof = profile_fn(row.name, expected_size)
        assert (row.params, row.macs, row.activation_bytes) == (prof.params, prof.macs, prof.activation_bytes)
        assert row.flops == prof.flops == 2 * row.macs
        assert row.receptive_field == last_rf(row.name, expected_size)
        for key in LATENCY_FIELDS:
            assert getattr(row, key) is None
    assert result["lenet5"].note.startswith("fixed input size")
    assert result["resnet18"].note == ""


def test_pinned_numbers():
    result = compare(["resnet18"])
    row = result["resnet18"]
    assert row.params == 11_689_512  # torchvision's count
    assert row.receptive_field == 435  # layer4, see docs/effective-receptive-field.md


def test_batch_size_scales_counts_like_profile():
    result = compare(["alexnet"], batch_size=2)
    prof = profile_fn("alexnet", batch_size=2)
    assert (result.rows[0].macs, result.rows[0].activation_bytes) == (prof.macs, prof.activation_bytes)


def test_memory_access_hand_count():
    # input 1x5x5 = 25; conv out 2x3x3 = 18; relu reads 18, writes 18; params 20.
    assert memory_access_bytes(toy(), (1, 5, 5)) == 4 * (20 + 25 + 18 + 18 + 18)
    # batch 2: weights read once, activations twice as many.
    assert memory_access_bytes(toy(), (1, 5, 5), batch_size=2) == 4 * (20 + 2 * (25 + 18 + 18 + 18))
    with torch.device("meta"):
        meta_toy = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert memory_access_bytes(meta_toy, (1, 5, 5)) == 4 * 99
    row = compare({"toy": toy()}, (1, 5, 5)).rows[0]
    assert row.memory_access_bytes == 4 * 99


def test_memory_access_counts_functional_residual_add():
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1, bias=False)  # 4 parameters

        def forward(self, x):
            return self.conv(x) + x  # conv: 8 in, 8 out; add: 8 + 8 in, 8 out

    assert memory_access_bytes(Residual(), (2, 2, 2)) == 4 * (4 + 8 + 8 + 24)


def test_latency_fields_present_and_positive():
    result = compare({"toy": toy(), "lenet5": "lenet5"}, (1, 8, 8), latency=True, repeats=2, warmup=1, threads=1)
    assert result.latency and result.threads == 1 and result.repeats == 2
    for row in result.rows:
        for key in LATENCY_FIELDS:
            assert getattr(row, key) > 0
        assert row.throughput == pytest.approx(1e3 / row.latency_ms)
        assert row.achieved_gflops == pytest.approx(2 * row.macs / (row.latency_ms * 1e6))
    assert result["lenet5"].input_size == (1, 32, 32)
    text = format_comparison(result)
    assert "latency ms" in text and "GFLOP/s" in text and "FLOPs = 2 x MACs" in text
    assert "lenet5 *" in text and "fixed input size" in text
    d = json.loads(json.dumps(result.to_dict()))
    assert all(d["rows"][0][key] > 0 for key in LATENCY_FIELDS)


def test_no_latency_fields_when_not_asked():
    result = compare({"toy": toy()}, (1, 8, 8))
    text = format_comparison(result)
    assert "latency" not in text and "FLOPs = 2 x MACs" in text
    d = json.loads(json.dumps(result.to_dict()))
    assert not any(key in d["rows"][0] for key in LATENCY_FIELDS)
    assert d["rows"][0]["flops"] == 2 * d["rows"][0]["macs"]
    with pytest.raises(ValueError, match="latency"):
        plot_comparison(result)


def test_plot_writes_png(tmp_path):
    result = compare({"a": toy(), "b": nn.Sequential(toy(), nn.Conv2d(2, 4, 3))}, (1, 12, 12), latency=True,
                     repeats=2, warmup=1, threads=1)
    path = tmp_path / "scatter.png"
    plot_comparison(result, path, reference_gflops=10.0)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_name():
    with pytest.raises(UnknownModelError, match="resnet18"):
        compare(["resnet18", "resnet81"])


def test_meta_module_cannot_be_timed():
    with torch.device("meta"):
        model = nn.Conv2d(1, 1, 3)
    with pytest.raises(ValueError, match="meta"):
        compare([model], (1, 8, 8), latency=True, repeats=1)


def test_module_needs_input_size():
    with pytest.raises(ValueError, match="input_size"):
        compare([toy()])


def test_matmul_gflops_positive():
    assert matmul_gflops(64, repeats=2) > 0
