"""A run killed with SIGKILL mid-epoch and resumed ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from safetensors.torch import load_file

from convzoo.train.runner import RESUME_FILE
from convzoo.train.state import load_state

ARGS = ["train", "lenet5", "--epochs", "3", "--batch-size", "16", "--checkpoint-every", "5"]
STEPS_PER_EPOCH = 1257 // 16
KILL_AFTER_STEP = STEPS_PER_EPOCH + 20  # inside the second epoch


def convzoo(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "convzoo", *args], capture_output=True, text=True, **options)


def saved_position(folder) -> dict | None:
    try:
        return load_state(folder / RESUME_FILE)["trainer"]["position"]
    except Exception:  # not written yet
        return None


def test_sigkill_mid_epoch_then_resume_gives_identical_weights_and_metrics(tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert convzoo(*ARGS, "--out", str(reference)).returncode == 0

    process = subprocess.Popen([sys.executable, "-m", "convzoo", *ARGS, "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        position = saved_position(killed)
        if position is not None and position["step"] >= KILL_AFTER_STEP:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert process.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    position = saved_position(killed)
    assert position["batch"] > 0 and position["epoch"] < 3  # the checkpoint left behind is mid-epoch

    resumed = convzoo("train", "--resume", str(killed))
    assert resumed.returncode == 0, resumed.stderr
    expected, actual = load_file(reference / "model.safetensors"), load_file(killed / "model.safetensors")
    assert expected.keys() == actual.keys()
    assert all((expected[key] == actual[key]).all() for key in expected)
    assert (reference / "metrics.csv").read_text() == (killed / "metrics.csv").read_text()
    assert (reference / "test_metrics.json").read_text() == (killed / "test_metrics.json").read_text()
