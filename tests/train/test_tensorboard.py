"""convzoo train --tensorboard: the event files hold the metrics, every batch's loss, the learning
rate and the task's pictures, and a resumed run continues them without duplicates."""

from __future__ import annotations

import sys

import pytest

from helpers import assert_one_line_error, run_cli as run

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from convzoo.train.tensorboard import TensorBoardLog, scalar_tag  # noqa: E402

TRAIN = ["train", "lenet5", "--batch-size", "128", "--tensorboard"]
BATCHES = -(-1078 // 128)  # the digits' training split (1,078 images) in batches of 128


def events(folder):
    accumulator = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def steps(accumulator, tag):
    return [event.step for event in accumulator.Scalars(tag)]


def test_scalar_tags_group_train_and_validation():
    assert [scalar_tag(c) for c in ("train_loss", "val_top5", "lr", "epoch")] == ["train/loss", "val/top5", "lr",
                                                                                  "epoch"]


def test_a_run_logs_metrics_batches_and_pictures(capsys, tmp_path):
    code, _, err = run(capsys, *TRAIN, "--epochs", "2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    board = events(tmp_path / "run")
    tags = board.Tags()
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "lr", "epoch", "batch/loss", "batch/lr",
            "test/accuracy"} <= set(tags["scalars"])
    assert steps(board, "val/accuracy") == [BATCHES - 1, 2 * BATCHES - 1]  # each epoch at its last batch
    assert steps(board, "batch/loss") == list(range(2 * BATCHES))
    assert steps(board, "batch/lr") == list(range(2 * BATCHES))
    assert [event.value for event in board.Scalars("epoch")] == [1, 2]
    assert sorted(tags["images"]) == ["pictures/confusion", "pictures/predictions"]
    confusion = board.Images("pictures/confusion")[0]
    assert confusion.width > 100 and confusion.height > 100


def test_a_resumed_run_continues_the_curves(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, *TRAIN, "--epochs", "1", "--out", str(out))[0] == 0
    assert run(capsys, "train", "--resume", str(out), "--epochs", "2")[0] == 0
    board = events(out)
    assert steps(board, "batch/loss") == list(range(2 * BATCHES))
    assert steps(board, "val/accuracy") == [BATCHES - 1, 2 * BATCHES - 1]


def test_what_a_killed_run_logged_after_its_checkpoint_is_discarded(tmp_path):
    killed = TensorBoardLog(tmp_path)
    for index in range(10):
        killed.batch(index, 1.0)
    killed.close()
    resumed = TensorBoardLog(tmp_path, resumed_at=6)  # the last checkpoint after 6 batches
    for index in range(6, 12):
        resumed.batch(index, 2.0)
    resumed.close()
    losses = events(tmp_path).Scalars("batch/loss")
    assert [event.step for event in losses] == list(range(12))
    assert [event.value for event in losses] == [1.0] * 6 + [2.0] * 6


def test_without_tensorboard_installed_the_error_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    code, _, err = run(capsys, *TRAIN, "--epochs", "1", "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "pip install 'convzoo[tensorboard]'")
    assert not (tmp_path / "run" / "model.safetensors").exists()
