"""convzoo bench: one row per backend and batch size, one-line errors, failures as reason rows (never timed here:
the numbers are not checked, only that every path runs and reports)."""

from __future__ import annotations

import argparse

import pytest
import torch

from convzoo.analysis.timing import time_call
from convzoo.deploy import bench
from convzoo.deploy.bench import BenchRow, benchmark, format_report
from convzoo.deploy.commands import add_bench_command
from convzoo.errors import ConvzooError
from convzoo.registry import create_model
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint

TINY = ["--batch-size", "1", "--warmup", "1", "--repeats", "2", "--threads", "1"]


def run_bench(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_bench_command(parser.add_subparsers())
    args = parser.parse_args(["bench", *argv])
    args.run(args)


def table_rows(out: str, backends: list[str]) -> dict[str, str]:
    """The table line of each backend (at the one batch size of these tests)."""
    rows = {}
    for line in out.splitlines():
        first = line.split(" ", 1)[0]
        if first in backends:
            assert first not in rows, f"two rows for {first}:\n{out}"
            rows[first] = line
    return rows


def test_lenet5_eager_fused_onnxruntime_a_row_each(capsys, tmp_path):
    plot = tmp_path / "plots" / "bench.png"
    run_bench("lenet5", "--backends", "eager,fused,onnxruntime", *TINY, "--plot", str(plot))
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("lenet5, input 1x32x32; machine ")
    assert "1 threads, torch " in out and "onnxruntime " in out
    rows = table_rows(out, ["eager", "fused", "onnxruntime"])
    assert list(rows) == ["eager", "fused", "onnxruntime"]
    for backend, line in rows.items():
        cells = line.split()
        assert cells[1] == "1", line  # the batch size
        assert float(cells[2]) > 0 and float(cells[4]) > 0, line  # median ms, images/s: timed, no reason
        assert float(cells[6]) <= 1e-4, line  # max |diff| against eager: the same network
    assert "int8 calibration" not in out  # only said when int8 is benchmarked
    assert plot.read_bytes().startswith(b"\x89PNG") and f"plot  {plot}" in out


def test_unknown_backend_is_one_line():
    with pytest.raises(ConvzooError) as error:
        run_bench("lenet5", "--backends", "eager,onnxruntme", *TINY)
    message = str(error.value)
    assert "\n" not in message
    assert "'onnxruntme'" in message and "did you mean onnxruntime?" in message and "channels_last" in message


def test_unknown_model_is_one_line():
    with pytest.raises(ConvzooError) as error:
        run_bench("lenet6", "--backends", "eager", *TINY)
    assert "\n" not in str(error.value) and "lenet6" in str(error.value)


def test_bad_batch_sizes_are_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        run_bench("lenet5", "--batch-size", "1,0")
    assert "bad batch sizes '1,0'" in capsys.readouterr().err


def _fails_to_build(model, context):
    raise RuntimeError("no kernel for this op\nthe long traceback of the compiler")


def _fails_to_run(model, context):
    def bind(x):
        def call():
            raise ValueError("shape mismatch in node 7")
        return call
    return bind


def _cannot_export(model, context):
    raise ConvzooError("lenet5 cannot be exported: deform_conv2d has no ONNX op")


def test_a_failing_backend_is_a_reason_row(monkeypatch, capsys):
    monkeypatch.setitem(bench.BUILDERS, "fused", _fails_to_build)
    monkeypatch.setitem(bench.BUILDERS, "channels_last", _fails_to_run)
    monkeypatch.setitem(bench.BUILDERS, "onnxruntime", _cannot_export)
    run_bench("lenet5", "--backends", "fused,eager,channels_last,onnxruntime", *TINY)
    rows = table_rows(capsys.readouterr().out, ["eager", "fused", "channels_last", "onnxruntime"])
    assert rows["fused"].split()[2:8] == ["-"] * 6
    assert rows["fused"].endswith("RuntimeError: no kernel for this op")
    assert rows["channels_last"].endswith("ValueError: shape mismatch in node 7")
    assert rows["onnxruntime"].endswith("  lenet5 cannot be exported: deform_conv2d has no ONNX op")
    assert float(rows["eager"].split()[2]) > 0  # the others still run


def test_checkpoint_int8_is_calibrated_on_its_dataset(tmp_path, capsys):
    torch.manual_seed(0)
    meta = CheckpointMeta(model="lenet5", model_args={}, dataset="digits", class_names=[str(i) for i in range(10)],
                          mean=[0.5], std=[0.5], input_size=[1, 32, 32])
    save_checkpoint(tmp_path / "model", create_model("lenet5"), meta)
    run_bench(str(tmp_path), "--backends", "onnxruntime-int8", "--calibration-batches", "1", *TINY)
    out = capsys.readouterr().out
    line = table_rows(out, ["onnxruntime-int8"])["onnxruntime-int8"]
    assert float(line.split()[2]) > 0, out
    assert "int8 calibration: 1 x 8 images of the digits train split" in out


def test_int8_of_a_model_name_is_calibrated_on_random_inputs():
    report = benchmark(create_model("lenet5"), (1, 32, 32), backends=["eager"], warmup=1, repeats=1)
    assert report.calibration is None
    calibration = bench.random_calibration((1, 32, 32), batches=2, batch_size=3)
    assert "random" in calibration.source and [b.shape for b in calibration.load()] == [(3, 1, 32, 32)] * 2


def test_time_call_counts_and_orders():
    calls = []
    timing = time_call(lambda: calls.append(1), 4, warmup=2, repeats=5)
    assert len(calls) == 7 and timing.repeats == 5
    assert 0 < timing.median_ms <= timing.p90_ms
    assert timing.images_per_second == pytest.approx(4 / (timing.median_ms / 1e3))


def test_report_speedup_and_lines():
    report = benchmark(create_model("lenet5"), (1, 32, 32), backends=["channels_last", "eager"], batch_sizes=[1, 2],
                       warmup=1, repeats=2, name="lenet5")
    assert [(r.backend, r.batch_size) for r in report.rows] == [
        ("channels_last", 1), ("channels_last", 2), ("eager", 1), ("eager", 2)]
    assert report.speedup(report.row("eager", 2)) == 1.0
    failed = BenchRow("compile", 1, reason="unavailable")
    assert report.speedup(failed) is None
    lines = format_report(report)
    assert len(lines) == 1 + 1 + 4 + 1  # conditions, header, a row each, the timing note
