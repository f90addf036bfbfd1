"""`convzoo train`'s settings: the model's task, numeric ranges, early checks, and --resume's flags."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from helpers import assert_one_line_error, run_cli

from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.train.config import TASK_DEFAULTS, TrainConfig, resolve_config

QUICK = ["--epochs", "1", "--batch-size", "128"]  # lenet5 on the digits: about a second an epoch


def test_the_models_registry_task_chooses_the_task_and_its_defaults():
    denoiser = resolve_config(model="dncnn_s")
    assert denoiser.task == "denoise" and denoiser.batch_size == TASK_DEFAULTS["denoise"]["batch_size"]
    assert resolve_config(model="hybridsn").task == "hyperspectral"
    assert resolve_config(model="lenet5").task == "classification"
    assert resolve_config(model="lenet5", task="hyperspectral").task == "hyperspectral"  # a classifier on patches
    video = resolve_config(model="r2plus1d_18")
    assert video.task == "video" and (video.batch_size, video.lr) == (32, 1e-3)


@pytest.mark.parametrize(("model", "task", "right"), [
    ("dncnn_s", "classification", "--task denoise"),
    ("hybridsn", "classification", "--task hyperspectral"),
    ("lenet5", "denoise", "--task classification"),
])
def test_a_task_that_contradicts_the_model_names_the_right_one(capsys, tmp_path, model, task, right):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", model, "--task", task, "--epochs", "1", "--out", str(out))
    assert_one_line_error(code, err, right)
    assert code == 2 and not out.exists()


BAD_VALUES = [
    ("--lr", "-0.1"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "inf"),
    ("--momentum", "1"), ("--momentum", "-0.5"), ("--weight-decay", "-1e-4"), ("--gamma", "0"),
    ("--warmup-epochs", "-1"), ("--label-smoothing", "1"), ("--label-smoothing", "-0.1"), ("--clip-grad", "0"),
    ("--workers", "-1"), ("--train-ratio", "0"), ("--train-ratio", "1.5"), ("--sigma", "-5"), ("--sigma", "300"),
    ("--window", "24"), ("--checkpoint-every", "0"),
]


@pytest.mark.parametrize(("flag", "value"), BAD_VALUES)
def test_bad_numeric_values_fail_before_anything_is_written(capsys, tmp_path, flag, value):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "lenet5", f"{flag}={value}", *QUICK, "--out", str(out))
    assert_one_line_error(code, err, flag)
    assert code == 2 and not out.exists()


def test_good_edge_values_pass():
    TrainConfig(momentum=0.0, weight_decay=0.0, warmup_epochs=0.0, label_smoothing=0.0, sigma=0.0, window=1).validate()


def test_library_configs_are_validated_too():
    with pytest.raises(ConvzooError, match="--milestones"):
        TrainConfig(milestones=[0, 10]).validate()


def test_a_missing_pretrained_file_and_a_bad_freeze_fail_before_anything_is_written(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "lenet5", "--pretrained", str(tmp_path / "none.pth"), "--out", str(out))
    assert_one_line_error(code, err, "--pretrained", "none.pth", "does not exist")
    code, _, err = run_cli(capsys, "train", "lenet5", "--pretrained", str(tmp_path), "--out", str(out))
    assert_one_line_error(code, err, "--pretrained", "not a file")
    code, _, err = run_cli(capsys, "train", "lenet5", "--freeze", "bogus", "--out", str(out))
    assert_one_line_error(code, err, "bogus", "stages:N")
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--dataset", "mnist", "--data-dir", "nowhere"], ["--model-kwargs", "nosuch=1"]])
def test_a_run_that_fails_while_setting_up_removes_the_folders_it_created(capsys, tmp_path, flags):
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "new" / "run"
    code, _, err = run_cli(capsys, "train", "lenet5", *flags, "--out", str(out))
    assert_one_line_error(code, err)
    assert code == 2 and [path.name for path in tmp_path.rglob("*")] == ["runs"]  # the folder that was there stays


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A finished 1-epoch run at a constant rate, and a 2-epoch run of the same settings."""
    root = tmp_path_factory.mktemp("resume")
    settings = [*QUICK, "--schedule", "constant", "--optimizer", "sgd", "--lr", "0.05"]
    assert main(["train", "lenet5", *settings, "--out", str(root / "short")]) == 0
    assert main(["train", "lenet5", *settings, "--epochs", "2", "--out", str(root / "long")]) == 0
    return root


@pytest.mark.parametrize("flags", [["--lr", "0.1"], ["--batch-size", "8", "--amp"], ["--recipe", "default"],
                                   ["lenet5"], ["--model-kwargs", "width=2"]])
def test_resume_refuses_other_flags_naming_them(capsys, one_epoch, flags):
    code, _, err = run_cli(capsys, "train", *flags, "--resume", str(one_epoch / "short"))
    names = [flag for flag in flags if flag.startswith("--")] or ["MODEL"]
    assert_one_line_error(code, err, "--resume", *names)
    assert code == 2


def test_resume_with_epochs_extends_a_constant_run_to_the_longer_run(capsys, one_epoch, tmp_path):
    extended = tmp_path / "extended"
    extended.mkdir()
    for name in ("resume.safetensors", "model.safetensors", "model.json", "metrics.csv", "metrics.jsonl"):
        (extended / name).write_bytes((one_epoch / "short" / name).read_bytes())
    code, out, err = run_cli(capsys, "train", "--resume", str(extended), "--epochs", "2")
    assert code == 0, err
    assert "epoch 2/2" in out
    expected, actual = load_file(one_epoch / "long" / "model.safetensors"), load_file(extended / "model.safetensors")
    assert all((expected[key] == actual[key]).all() for key in expected)  # as if trained for 2 epochs at once
    assert (one_epoch / "long" / "metrics.csv").read_text() == (extended / "metrics.csv").read_text()

    code, _, err = run_cli(capsys, "train", "--resume", str(extended), "--epochs", "1")
    assert_one_line_error(code, err, "--epochs 1", "2 epochs")


def test_resume_with_epochs_recomputes_a_cosine_schedule_for_the_new_total(capsys, tmp_path):
    out = tmp_path / "run"
    one_step = ["--epochs", "1", "--batch-size", "2048", "--lr", "0.004"]  # one optimiser step per epoch
    assert main(["train", "lenet5", *one_step, "--out", str(out)]) == 0
    before = load_file(out / "model.safetensors")
    assert main(["train", "--resume", str(out), "--epochs", "2"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["lr"] == pytest.approx(0.002)  # half-way along the 2-epoch cosine curve, not the 1-epoch's 0
    after = load_file(out / "model.safetensors")
    assert any(not (before[key] == after[key]).all() for key in before)  # the step was taken at that rate
