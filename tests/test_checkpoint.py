"""Checkpoints: round trip, atomic writes, corrupt metadata."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo import CheckpointError
from convzoo.train import checkpoint as checkpoint_module
from convzoo.train.checkpoint import CheckpointMeta, checkpoint_paths, load_checkpoint, save_checkpoint


def meta() -> CheckpointMeta:
    return CheckpointMeta(
        model="lenet5",
        model_args={"num_classes": 10, "in_chans": 1},
        dataset="digits",
        class_names=[str(i) for i in range(10)],
        mean=[0.3],
        std=[0.4],
        input_size=[1, 32, 32],
        metrics={"val_accuracy": 0.9},
    )


def test_round_trip_gives_identical_outputs(tmp_path):
    model = convzoo.create_model("lenet5").eval()
    save_checkpoint(tmp_path / "model", model, meta())
    loaded, loaded_meta = load_checkpoint(tmp_path / "model.safetensors")
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(loaded(x), model(x))
    assert loaded_meta == meta()
    assert not loaded.training


def test_paths_from_stem_file_or_folder(tmp_path):
    expected = (tmp_path / "model.safetensors", tmp_path / "model.json")
    assert checkpoint_paths(tmp_path / "model") == expected
    assert checkpoint_paths(tmp_path / "model.json") == expected
    assert checkpoint_paths(tmp_path) == expected


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    first = convzoo.create_model("lenet5")
    save_checkpoint(tmp_path / "model", first, meta())
    before = (tmp_path / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "model", convzoo.create_model("lenet5"), meta())
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.safetensors"]


def test_corrupt_metadata_names_the_file(tmp_path):
    save_checkpoint(tmp_path / "model", convzoo.create_model("lenet5"), meta())
    (tmp_path / "model.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match=r"model\.json is corrupt"):
        load_checkpoint(tmp_path / "model")


def test_missing_metadata(tmp_path):
    save_checkpoint(tmp_path / "model", convzoo.create_model("lenet5"), meta())
    (tmp_path / "model.json").unlink()
    with pytest.raises(CheckpointError, match=r"model\.json does not exist"):
        load_checkpoint(tmp_path / "model.safetensors")


def test_a_missing_folder_or_file_is_named_as_given(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope does not exist"):
        load_checkpoint(tmp_path / "runs" / "nope")
    with pytest.raises(CheckpointError, match=r"model\.safetensors does not exist"):
        load_checkpoint(tmp_path / "model.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"folder .*empty holds no checkpoint: model\.json does not exist"):
        load_checkpoint(tmp_path / "empty")


def test_data_settings_replace_the_trained_data_and_leave_the_metadata_alone():
    trained = meta()
    trained.task_args = {"dataset": "voc", "data_dir": "/data/voc", "image_size": 64}
    assert trained.data_settings() == trained.task_args
    assert trained.data_settings("voc") == trained.task_args  # the same dataset keeps its folder
    assert trained.data_settings("shapes") == {"dataset": "shapes", "data_dir": None, "image_size": 64}
    assert trained.data_settings("shapes", "/data/shapes")["data_dir"] == "/data/shapes"
    assert trained.data_settings(data_dir="/elsewhere") == {**trained.task_args, "data_dir": "/elsewhere"}
    assert trained.task_args["data_dir"] == "/data/voc"
