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


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_two_processes_killed_and_resumed_match_an_uninterrupted_pair(tmp_path):
    import os
    import signal
    import time

    from convzoo.train.runner import RESUME_FILE
    from convzoo.train.state import load_state

    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc-per-node", "2", "-m", "convzoo"]
    args = ["train", "lenet5", "--epochs", "2", "--batch-size", "16", "--checkpoint-every", "5"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run = subprocess.run([*torchrun, *args, "--out", str(reference)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    group = subprocess.Popen([*torchrun, *args, "--out", str(killed)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and group.poll() is None:
        try:
            if load_state(killed / RESUME_FILE)["trainer"]["position"]["step"] >= 1257 // 16 + 10:
                os.killpg(group.pid, signal.SIGKILL)  # the launcher and both workers at once
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.01)
    assert group.wait() == -signal.SIGKILL, "the run finished before it could be killed"

    run = subprocess.run([*torchrun, "train", "--resume", str(killed)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, actual = load_file(reference / "model.safetensors"), load_file(killed / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-6)
