"""The training run: the `make run` job reaches its accuracy, and seeds repeat."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from convzoo.train.runner import train
from convzoo.train.config import TrainConfig


def test_default_run_reaches_97_percent_on_digits(tmp_path):
    result = train(TrainConfig(out=tmp_path))
    assert result.test_metrics["accuracy"] >= 0.97
    assert len(result.history.rows) == TrainConfig.epochs
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["model"] == "lenet5" and meta["class_names"][3] == "3"
    assert meta["metrics"]["test_accuracy"] == result.test_metrics["accuracy"]


def test_same_seed_same_weights(tmp_path):
    runs = [train(TrainConfig(epochs=1, out=tmp_path / str(i))) for i in range(2)]
    first, second = (load_file(run.checkpoint) for run in runs)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert runs[0].test_metrics == runs[1].test_metrics
    different = train(TrainConfig(epochs=1, seed=1, out=tmp_path / "other"))
    assert not torch.equal(load_file(different.checkpoint)["c1.weight"], first["c1.weight"])
