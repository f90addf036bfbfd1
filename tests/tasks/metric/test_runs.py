"""The metric task end to end through the command line: train, eval, verify, retrieve, resume, and bad input as one
line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli as run

from convzoo.data.metric import load_metric_dataset

TINY = ["--task", "metric", "--epochs", "1", "--classes-per-batch", "5", "--samples-per-class", "4"]
SCORES = {"auc", "eer", "tar@far=1e-3", "tar@far=1e-2", "threshold", "accuracy", "recall@1", "recall@8", "map",
          "map@r", "one_shot@5"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch siamese_lenet5 run on the digits default: its folder and what `convzoo train` printed."""
    from convzoo.cli import main

    out = tmp_path_factory.mktemp("metric-run")
    assert main(["train", "siamese_lenet5", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """Test digits as PNG files: two of class 5, one of class 6, and a gallery of 6 images of 5-9."""
    folder = tmp_path_factory.mktemp("digit-files")
    data = load_metric_dataset("digits", image_size=32, in_chans=1, augment="none")
    files = {}
    for index in range(40):
        image, label = data.test[index]
        pixels = (image[0] - image.min()) / (image.max() - image.min()) * 255
        path = folder / f"{index:02d}_{int(label)}.png"
        Image.fromarray(pixels.numpy().astype(np.uint8)).save(path)
        files.setdefault(int(label), []).append(path)
    gallery = folder / "gallery"
    gallery.mkdir()
    for label, paths in files.items():
        for path in paths[1:3]:
            (gallery / path.name).write_bytes(path.read_bytes())
    return files, gallery


def test_train_writes_checkpoint_scores_and_pictures(trained):
    meta = json.loads((trained / "model.json").read_text())
    assert meta["task"] == "metric" and meta["dataset"] == "digits"
    assert meta["task_args"]["loss"] == "triplet" and meta["task_args"]["mining"] == "batch_hard"
    assert 0 <= meta["task_args"]["threshold"] <= 2  # L2-normalised embeddings: distances in [0, 2]
    report = json.loads((trained / "test_metrics.json").read_text())
    assert SCORES <= set(report) and report["classes"] == 5
    assert {"val_loss", "val_recall@1", "test_auc", "test_one_shot@5"} <= set(meta["metrics"])
    for picture in ("roc.png", "embeddings.png", "curves.png"):
        assert Image.open(trained / picture).size[0] > 100


def test_eval_prints_the_three_kinds_of_scores(trained, capsys):
    code, out, _ = run(capsys, "eval", str(trained))
    assert code == 0
    assert "siamese_lenet5 on digits (test: 449 images, 5 classes)" in out
    for fragment in ("verification  AUC", "retrieval     recall@1", "one-shot      5-way"):
        assert fragment in out
    report = json.loads((trained / "test_metrics.json").read_text())
    assert f"AUC {report['auc']:.4f}" in out  # the same scores as the run's report


def test_verify_an_image_against_itself_and_another(trained, digit_files, capsys):
    files, _ = digit_files
    code, out, _ = run(capsys, "verify", str(trained), str(files[5][0]), str(files[5][0]))
    assert code == 0 and "distance   0.0000" in out and "verdict    same" in out
    code, out, _ = run(capsys, "verify", str(trained), str(files[5][0]), str(files[6][0]))
    assert code == 0 and "threshold" in out and "verdict" in out


def test_retrieve_finds_the_query_itself_first(trained, digit_files, tmp_path, capsys):
    files, gallery = digit_files
    query = sorted(gallery.iterdir())[0]
    strip = tmp_path / "strip.png"
    code, out, _ = run(capsys, "retrieve", str(trained), str(query), "--gallery", str(gallery), "--top-k", "3",
                       "--out", str(strip))
    assert code == 0
    lines = out.splitlines()
    rank, distance, path = lines[0].split()
    assert path.endswith(query.name) and float(distance) < 1e-2  # float32 rounding of the distance to itself
    assert len(lines) == 4 and Image.open(strip).size[0] > 100


def test_resume_continues_the_same_batches(tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    constant = ["--schedule", "constant"]  # the same rate whatever the run's length
    assert run(capsys, "train", "siamese_lenet5", *TINY, *constant, "--epochs", "2", "--out", str(straight))[0] == 0
    assert run(capsys, "train", "siamese_lenet5", *TINY, *constant, "--out", str(resumed))[0] == 0
    assert run(capsys, "train", "--resume", str(resumed), "--epochs", "2")[0] == 0
    first = json.loads((straight / "test_metrics.json").read_text())
    second = json.loads((resumed / "test_metrics.json").read_text())
    numbers = [key for key, value in first.items() if isinstance(value, (int, float))]
    assert {key: first[key] for key in numbers} == pytest.approx({key: second[key] for key in numbers})


@pytest.mark.parametrize(("argv", "fragments"), [
    (["train", "siamese_lenet5", "--task", "metric", "--loss", "koch"], ["--loss koch", "siamese_koch"]),
    (["train", "siamese_lenet5", "--task", "metric", "--classes-per-batch", "9"], ["9"]),
    (["train", "siamese_lenet5", "--task", "metric", "--samples-per-class", "1"], ["--samples-per-class"]),
    (["train", "lenet5", "--task", "metric"], ["classification model", "--task metric"]),
])
def test_bad_training_settings_are_one_line(argv, fragments, capsys, tmp_path):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)


def test_bad_files_are_one_line(trained, digit_files, tmp_path, capsys):
    files, _ = digit_files
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "retrieve", str(trained), str(files[5][0]), "--gallery", str(empty))
    assert_one_line_error(code, err, "holds no image")
    code, _, err = run(capsys, "verify", str(trained), str(files[5][0]), str(tmp_path / "missing.png"))
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run(capsys, "predict", str(trained), str(files[5][0]))
    assert_one_line_error(code, err, "convzoo verify")


def test_koch_network_trains_on_an_omniglot_tree(tmp_path, capsys):
    """siamese_koch with its own loss on Omniglot's layout: pairs scored by the network, one-shot on what the split
    has (two evaluation characters: 2-way)."""
    from helpers import write_omniglot

    tree = write_omniglot(tmp_path / "omniglot", ("Greek", "Latin"), ("Angelic", "Keble"),
                          ("character01", "character02"), drawings=3)
    out = tmp_path / "koch"
    code, printed, _ = run(capsys, "train", "siamese_koch", "--task", "metric", "--loss", "koch", "--dataset",
                           "omniglot", "--data-dir", str(tree), "--epochs", "1", "--classes-per-batch", "2",
                           "--samples-per-class", "3", "--out", str(out))
    assert code == 0 and "2-way" in printed
    meta = json.loads((out / "model.json").read_text())
    assert meta["task_args"]["loss"] == "koch" and meta["input_size"] == [1, 105, 105]
    report = json.loads((out / "test_metrics.json").read_text())
    assert report["classes"] == 2 and 0 <= report["one_shot@2"] <= 1
    code, printed, _ = run(capsys, "eval", str(out))
    assert code == 0 and "siamese_koch on omniglot (test: 6 images, 2 classes)" in printed
