"""The crossmodal task end to end through the command line: train on the generated pairs and on the release's
feature files, eval, retrieve images for a text, and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file
from scipy.io import savemat

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main
from convzoo.tasks.crossmodal.encoders import pooled_encoder, read_pixels
from convzoo.tasks.crossmodal.pipeline import load_task_data
from convzoo.train.checkpoint import CheckpointMeta

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


FINETUNE = ["--dataset", "image-text", "--image-encoder", "resnet18", "--image-size", "32", *SMALL, "--batch-size", "4"]


def write_resnet18(path: Path) -> torchvision.models.ResNet:
    """A torchvision resnet18 checkpoint (5 classes: the classifier is left out anyway); the network, eval mode."""
    torch.manual_seed(3)
    network = torchvision.models.resnet18(num_classes=5).eval()
    torch.save(network.state_dict(), path)
    return network


def test_a_fine_tuned_encoder_trains_from_its_weights_and_serves_eval_and_retrieve(tmp_path, capsys):
    root, weights, out = write_image_text(tmp_path / "pairs"), tmp_path / "r18.pth", tmp_path / "run"
    write_resnet18(weights)
    code, printed, _ = run(capsys, "train", "dscmr", *FINETUNE, "--data-dir", str(root), "--image-encoder-finetune",
                           "--image-encoder-weights", str(weights), "--out", str(out))
    assert code == 0 and "(6 pairs, whole split, cosine)" in printed
    meta = json.loads((out / "model.json").read_text())
    assert meta["model_args"]["image_encoder"] == "resnet18" and meta["model_args"]["image_size"] == [3, 32, 32]
    assert meta["task_args"]["image_encoder_finetune"] is True and meta["input_size"] == [3 * 32 * 32 + 17]
    trained = {key.removeprefix("image_encoder."): value for key, value in load_file(out / "model.safetensors").items()
               if key.startswith("image_encoder.")}
    start = pooled_encoder("resnet18", str(weights)).state_dict()
    assert set(trained) == set(start)
    # Three Adam steps at lr 1e-4 move every weight a little away from the loaded checkpoint's.
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.conv2.weight"):
        change = (trained[key] - start[key]).abs()
        assert 0 < change.max() < 1e-3, key
    weights.unlink()  # the checkpoint holds the fine-tuned CNN: evaluation needs no encoder weights
    report = json.loads((out / "test_metrics.json").read_text())
    code, printed, _ = run(capsys, "eval", str(out))
    assert code == 0 and f"average {report['average_map']:.4f}" in printed
    code, printed, _ = run(capsys, "retrieve", str(out), "--text", "round spot", "--top-k", "2")
    assert code == 0 and printed.splitlines()[0].split()[2].endswith(".png")
    code, _, err = run(capsys, "eval", str(out), "--dataset", "paired-digits")
    assert_one_line_error(code, err, "3x32x32 pixel images", "'paired-digits' has 64-d images")


def test_frozen_mode_trains_on_the_unchanged_encoders_features_and_fine_tuning_on_pixels(tmp_path, capsys):
    root, weights, out = write_image_text(tmp_path / "pairs"), tmp_path / "r18.pth", tmp_path / "run"
    network = write_resnet18(weights)
    code, _, _ = run(capsys, "train", "dscmr", *FINETUNE, "--data-dir", str(root), "--image-encoder-weights",
                     str(weights), "--out", str(out))
    assert code == 0
    assert not any(key.startswith("image_encoder.") for key in load_file(out / "model.safetensors"))
    meta = CheckpointMeta(**json.loads((out / "model.json").read_text()))
    assert meta.model_args["image_dim"] == 512 and meta.task_args["image_encoder_finetune"] is False
    frozen = load_task_data(meta.task_args)
    pixels = read_pixels(frozen.train.files, 3, 32)
    network.fc = torch.nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(frozen.train.images, network(pixels))  # the checkpoint's weights, untrained
    fine = load_task_data({**meta.task_args, "image_encoder_finetune": True})
    assert fine.image_shape == (3, 32, 32) and fine.image_dim == 3 * 32 * 32
    torch.testing.assert_close(fine.train.images, pixels)
    rows, labels = fine.train.pairs().tensors
    torch.testing.assert_close(rows, torch.cat([pixels.flatten(1), frozen.train.texts], dim=1))
    torch.testing.assert_close(labels, frozen.train.labels)


def test_fine_tuning_without_images_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "dscmr", "--image-encoder-finetune", "--out", str(tmp_path / "a"))
    assert_one_line_error(code, err, "--image-encoder-finetune", "--dataset image-text", "'paired-digits'")
    folder = write_features(tmp_path / "features")
    code, _, err = run(capsys, "train", "dscmr", "--dataset", "dscmr-features", "--data-dir", str(folder),
                       "--image-encoder-finetune", "--out", str(tmp_path / "b"))
    assert_one_line_error(code, err, "--image-encoder-finetune", "'dscmr-features'")
