"""--compile and --deterministic run end to end (each in its own process: both change global state)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from safetensors.torch import load_file


def train(out, *flags: str) -> dict:
    run = subprocess.run([sys.executable, "-m", "convzoo", "train", "lenet5", "--epochs", "1", "--out", str(out), *flags],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out / "test_metrics.json").read_text())


def test_compiled_training_matches_eager(tmp_path):
    eager = train(tmp_path / "eager")
    compiled = train(tmp_path / "compiled", "--compile")
    weights = load_file(tmp_path / "compiled" / "model.safetensors")
    assert not any(key.startswith("_orig_mod.") for key in weights)  # the checkpoint holds the plain model
    reference = load_file(tmp_path / "eager" / "model.safetensors")
    for key in reference:
        torch.testing.assert_close(weights[key], reference[key], rtol=1e-3, atol=1e-3)
    assert abs(compiled["accuracy"] - eager["accuracy"]) <= 0.02


def test_deterministic_kernels_give_the_same_cpu_run(tmp_path):
    assert train(tmp_path / "plain") == train(tmp_path / "deterministic", "--deterministic")
