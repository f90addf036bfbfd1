"""Two CPU processes under torchrun train like one process with the same global batch."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

# Nineteen SGD steps of global batch 64 (1,257 digits, the last partial batch dropped). SGD, not
# Adam: Adam divides out the gradient's scale, so it would hide gradients summed instead of averaged.
ARGS = ["train", "lenet5", "--epochs", "1", "--batch-size", "64", "--augment", "none", "--optimizer", "sgd",
        "--lr", "0.05"]

# How far the two runs may drift apart. Both sides use one thread per process (torchrun sets
# OMP_NUM_THREADS=1 in its workers; the single process gets the same), so the only difference
# is the order of the float32 sums: the mean gradient over 64 images against the average of
# two means over 32. That reorders each gradient element's sum (a relative error of a few
# float32 epsilons, ~1e-7), so each step's update differs by at most a few ulps of the largest
# weight (|w| <= 0.5: one ulp is 3e-8 at most). Over nineteen steps, too few for the chaotic
# growth that many steps bring (two epochs at 1e-5 failed), 1e-6 bounds it with room (measured: 3e-8, one or two ulps). A real mistake
# is orders of magnitude larger: summing instead of averaging the gradients doubles every
# update, and a rank training on the other's shard changes the gradient itself.
DRIFT = 1e-6


TORCHRUN = Path(sys.executable).parent / "torchrun"
needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="no torchrun")


def torchrun_command() -> list[str]:
    """Two CPU workers of ``python -m convzoo``, never restarted: a rank that dies fails the test.

    ``PYTHONFAULTHANDLER`` prints every thread's Python stack if a rank dies by a signal."""
    return [str(TORCHRUN), "--standalone", "--nproc-per-node", "2", "-m", "convzoo"]


def torchrun_env() -> dict[str, str]:
    return {**os.environ, "PYTHONFAULTHANDLER": "1"}


@pytest.fixture(autouse=True)
def one_torchrun_at_a_time():
    """Hold a machine-wide lock while a test's torchrun groups run, so that pytest-xdist's workers never
    launch two groups together (each picks free ports for its rendezvous)."""
    with open(Path(tempfile.gettempdir()) / "convzoo-torchrun-tests.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@needs_torchrun
def test_two_processes_match_one(tmp_path):
    single, double = tmp_path / "single", tmp_path / "double"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun's workers
    run = subprocess.run([sys.executable, "-m", "convzoo", *ARGS, "--out", str(single)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    run = subprocess.run([*torchrun_command(), *ARGS, "--out", str(double)], capture_output=True, text=True,
                         env=torchrun_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = load_file(single / "model.safetensors"), load_file(double / "model.safetensors")
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=DRIFT)
    metrics_one = json.loads((single / "test_metrics.json").read_text())
    metrics_two = json.loads((double / "test_metrics.json").read_text())
    assert metrics_one["accuracy"] > 0.2  # above chance (0.1): the weights moved, so the comparison is not empty
    assert metrics_two["accuracy"] == pytest.approx(metrics_one["accuracy"], abs=2 / 360)
    assert sum(map(sum, metrics_two["confusion"])) == 360  # every test image scored once across the ranks


@needs_torchrun
def test_two_processes_killed_and_resumed_match_an_uninterrupted_pair(tmp_path):
    import signal
    import time

    from convzoo.train.runner import RESUME_FILE
    from convzoo.train.state import load_state

    torchrun = torchrun_command()
    args = ["train", "lenet5", "--epochs", "2", "--batch-size", "16", "--checkpoint-every", "5"]
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run = subprocess.run([*torchrun, *args, "--out", str(reference)], capture_output=True, text=True,
                         env=torchrun_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    group = subprocess.Popen([*torchrun, *args, "--out", str(killed)], start_new_session=True, env=torchrun_env(),
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

    run = subprocess.run([*torchrun, "train", "--resume", str(killed)], capture_output=True, text=True,
                         env=torchrun_env(), timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    expected, actual = load_file(reference / "model.safetensors"), load_file(killed / "model.safetensors")
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-6)


@needs_torchrun
def test_only_the_main_process_prints_the_results(tmp_path):
    run = subprocess.run(
        [*torchrun_command(), "train", "lenet5", "--epochs", "1", "--batch-size", "128", "--out", str(tmp_path)],
        capture_output=True, text=True, env=torchrun_env(), timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    for start in ("epoch 1/1", "test accuracy", "checkpoint", "logs"):
        assert sum(line.startswith(start) for line in lines) == 1, run.stdout


@pytest.mark.parametrize("succeeded, expected", [(True, ["destroy"]), (False, [])])
def test_a_rank_leaves_the_group_only_after_success(monkeypatch, succeeded, expected):
    """After a failure a peer may be blocked in another collective; a barrier or destroy_process_group
    would wait for it forever, while exiting lets torchrun stop the group."""
    import torch.distributed as dist

    from convzoo.train.distributed import DistContext

    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))
    DistContext(rank=1, world_size=2).close(succeeded=succeeded)
    assert calls == expected


@pytest.mark.parametrize("argv, code", [(["info", "lenet5"], 0), (["info", "no_such_model"], 2)])
def test_a_torchrun_rank_exits_with_its_code_and_its_output_flushed(argv, code):
    """Under torchrun (WORLD_SIZE > 1) the program ends with os._exit, skipping the interpreter's shutdown;
    what it printed must still arrive, and its exit code be main's."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # a pipe, block-buffered
    env["WORLD_SIZE"] = "2"
    run = subprocess.run([sys.executable, "-m", "convzoo", *argv], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == code
    if code == 0:
        assert run.stdout.startswith("lenet5") and "params" in run.stdout
    else:
        assert run.stderr.startswith("convzoo: error:") and run.stderr.count("\n") == 1


@needs_torchrun
def test_a_rank_that_fails_stops_the_group_with_its_error(tmp_path):
    """Rank 0 refuses --out (a file) while rank 1 goes on to wait in the group's first collective: rank 0 must
    exit at once with its one-line error, not wait for rank 1 in a barrier or destroy_process_group, so that
    torchrun stops rank 1 and the run ends."""
    out = tmp_path / "a-file"
    out.write_text("")
    run = subprocess.run([*torchrun_command(), "train", "lenet5", "--epochs", "1", "--out", str(out)],
                         capture_output=True, text=True, env=torchrun_env(), timeout=120)
    assert run.returncode != 0
    assert f"convzoo: error: --out {out} is a file; expected a folder" in run.stderr
    assert "Fatal Python error" not in run.stderr
