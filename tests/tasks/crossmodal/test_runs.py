"""The crossmodal task end to end through the command line: train on the generated pairs and on the release's
feature files, eval, retrieve images for a text, and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main

SMALL = ["--epochs", "1", "--model-kwargs", "hidden_dim=32", "common_dim=16"]


def write_features(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, count in (("train", 20), ("test", 8)):
        savemat(folder / f"{prefix}_img.mat", {f"{prefix}_img": rng.normal(size=(count, 12))})
        savemat(folder / f"{prefix}_txt.mat", {f"{prefix}_txt": rng.normal(size=(count, 6))})
        savemat(folder / f"{prefix}_img_lab.mat", {f"{prefix}_img_lab": np.eye(4)[np.arange(count) % 4]})
    return folder


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    assert main(["train", "dscmr", "--task", "crossmodal", *SMALL, "--out", str(out)]) == 0
    return out


def test_train_writes_the_maps_curves_and_vocabulary(digits_run):
    meta = json.loads((digits_run / "model.json").read_text())
    assert meta["task"] == "crossmodal" and meta["dataset"] == "paired-digits"
    assert meta["model_args"] == {"hidden_dim": 32, "common_dim": 16, "image_dim": 64, "text_dim": 53,
                                  "num_classes": 10}
    assert "seven" in meta["task_args"]["vocabulary"]
    report = json.loads((digits_run / "test_metrics.json").read_text())
    assert report["pairs"] == 500 and 0 < report["average_map"] <= 1
    assert report["average_map"] == pytest.approx((report["image_to_text_map"] + report["text_to_image_map"]) / 2)
    assert Image.open(digits_run / "precision_recall.png").size[0] > 100


def test_eval_prints_the_same_maps(digits_run, tmp_path, capsys):
    code, out, _ = run(capsys, "eval", str(digits_run), "--out", str(tmp_path / "pr.png"))
    report = json.loads((digits_run / "test_metrics.json").read_text())
    assert code == 0 and f"average {report['average_map']:.4f}" in out and "image->text" in out
    assert (tmp_path / "pr.png").stat().st_size > 0
    code, out, _ = run(capsys, "eval", str(digits_run), "--split", "val")
    assert code == 0 and "(200 pairs" in out


def test_retrieve_ranks_test_images_for_words_and_reports_unknown_ones(digits_run, tmp_path, capsys):
    strip = tmp_path / "strip.png"
    code, out, _ = run(capsys, "retrieve", str(digits_run), "--text", "round loop zebra", "--top-k", "3",
                       "--out", str(strip))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "unknown words (left out): zebra"
    assert len(lines) == 5 and lines[1].split()[0] == "1" and "test image" in lines[1]
    assert Image.open(strip).size[0] > 100
    code, _, err = run(capsys, "retrieve", str(digits_run), "--text", "zebra")
    assert_one_line_error(code, err, "vocabulary")
    code, _, err = run(capsys, "retrieve", str(digits_run))
    assert_one_line_error(code, err, "--text")
    code, _, err = run(capsys, "predict", str(digits_run), "x.png")
    assert_one_line_error(code, err, "convzoo retrieve")


def test_release_features_train_and_refuse_text_queries(tmp_path, capsys):
    folder = write_features(tmp_path / "features")
    out = tmp_path / "run"
    code, printed, _ = run(capsys, "train", "dscmr", "--dataset", "dscmr-features", "--data-dir", str(folder),
                           *SMALL, "--batch-size", "8", "--out", str(out))
    assert code == 0 and "(8 pairs, whole split, cosine)" in printed
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_args"]["image_dim"] == 12 and meta["task_args"]["vocabulary"] == []
    code, _, err = run(capsys, "retrieve", str(out), "--text", "a dog")
    assert_one_line_error(code, err, "paired-digits")
    savemat(folder / "test_txt.mat", {"test_txt": np.zeros((7, 6))})
    code, _, err = run(capsys, "eval", str(out))
    assert_one_line_error(code, err, "test_txt.mat 7")


def test_bad_settings_are_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "dscmr", "--dataset", "dscmr-features", "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, "--data-dir")
    code, _, err = run(capsys, "train", "dscmr", "--crossmodal-alpha", "-1", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "--crossmodal-alpha")
    code, _, err = run(capsys, "train", "dscmr", "--dataset", "dscmr-features", "--data-dir", str(tmp_path / "none"),
                       "--out", str(tmp_path / "c"))
    assert_one_line_error(code, err, "is not a folder")
    code, _, err = run(capsys, "train", "lenet5", "--task", "crossmodal", "--out", str(tmp_path / "d"))
    assert_one_line_error(code, err, "--task crossmodal")


def test_retrieve_refuses_a_task_without_retrieval(tmp_path, capsys):
    out = tmp_path / "lenet"
    assert main(["train", "lenet5", "--epochs", "1", "--out", str(out)]) == 0
    code, _, err = run(capsys, "retrieve", str(out), "--text", "seven")
    assert_one_line_error(code, err, "classification checkpoint, which retrieves nothing", "metric", "crossmodal")


def write_image_text(root: Path) -> Path:
    """Three classes of small drawings, each with a sentence naming its shape."""
    rng = np.random.default_rng(0)
    shapes = {"bars": "vertical bars stripes", "blobs": "round blob spot", "grid": "square grid lines"}
    for split, count in (("train", 4), ("test", 2)):
        for name, sentence in shapes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = (rng.random((20, 20)) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}{index}.png")
                (folder / f"{name}{index}.txt").write_text(f"A picture of {sentence}, number {index}.")
    return root


def test_images_with_raw_text_through_a_zoo_cnn(tmp_path, capsys):
    root = write_image_text(tmp_path / "pairs")
    out = tmp_path / "run"
    code, printed, _ = run(capsys, "train", "dscmr", "--dataset", "image-text", "--data-dir", str(root),
                           "--image-encoder", "lenet5", *SMALL, "--batch-size", "4", "--out", str(out))
    assert code == 0 and "(6 pairs, whole split, cosine)" in printed
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_args"]["image_dim"] == 84 and meta["class_names"] == ["bars", "blobs", "grid"]
    assert "stripes" in meta["task_args"]["vocabulary"] and meta["task_args"]["image_encoder"] == "lenet5"
    code, printed, _ = run(capsys, "eval", str(out))
    assert code == 0 and "(6 pairs" in printed
    code, printed, _ = run(capsys, "retrieve", str(out), "--text", "round spot", "--top-k", "2")
    assert code == 0 and printed.splitlines()[0].split()[2].endswith(".png")
    (root / "test" / "grid" / "grid0.txt").unlink()
    code, _, err = run(capsys, "eval", str(out))
    assert_one_line_error(code, err, "grid0.png has no text")
    code, _, err = run(capsys, "train", "dscmr", "--dataset", "image-text", "--data-dir", str(root),
                       "--image-encoder", "dncnn_s", "--out", str(tmp_path / "bad"))
    assert_one_line_error(code, err, "--image-encoder dncnn_s")
