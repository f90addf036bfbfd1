"""Two CPU processes under torchrun train like one process with the same global batch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ARGS = ["train", "lenet5", "--epochs", "2", "--batch-size", "64", "--augment", "none", "--optimizer", "sgd", "--lr", "0.05"]


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_two_processes_match_one(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    run = subprocess.run([sys.executable, "-m", "convzoo", *ARGS, "--out", str(single)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    torchrun = str(Path(sys.executable).parent / "torchrun")
    run = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "convzoo", *ARGS, "--out", str(double)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = load_file(single / "model.safetensors"), load_file(double / "model.safetensors")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5)
    metrics_one = json.loads((single / "test_metrics.json").read_text())
    metrics_two = json.loads((double / "test_metrics.json").read_text())
    assert metrics_two["accuracy"] == pytest.approx(metrics_one["accuracy"], abs=2 / 360)
    assert sum(map(sum, metrics_two["confusion"])) == 360  # every test image scored once across the ranks
