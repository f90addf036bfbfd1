"""`convzoo train --task hyperspectral` and `convzoo eval` end to end, on tiny scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from safetensors.torch import load_file

from helpers import assert_one_line_error, run_cli as run

from convzoo.cli import main
from convzoo.data.hyperspectral import SCENES
from convzoo.train.checkpoint import load_checkpoint

TINY = ["--task", "hyperspectral", "--scene-size", "12", "--pca-components", "13", "--window", "9",
        "--epochs", "1", "--batch-size", "16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "hybridsn", *TINY, "--seed", "3", "--out", str(out)]) == 0
    return out


def test_synthetic_run_writes_scores_map_and_checkpoint(trained):
    for name in ("model.safetensors", "model.json", "metrics.csv", "confusion.png", "classification_map.png"):
        assert (trained / name).is_file(), name
    report = json.loads((trained / "test_metrics.json").read_text())
    assert {"loss", "accuracy", "average_accuracy", "kappa", "per_class_accuracy", "confusion", "map"} <= set(report)
    assert 0 <= report["accuracy"] <= 1 and -1 <= report["kappa"] <= 1
    confusion = np.array(report["confusion"])
    assert confusion.sum() == report["pixels"]["test"]
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    model, meta = load_checkpoint(trained)
    assert meta.task == "hyperspectral" and meta.dataset == "synthetic"
    assert meta.input_size == [13, 9, 9] and meta.model_args["window_size"] == 9
    assert meta.task_args["components"] == 13 and meta.task_args["train_ratio"] == 0.3
    assert meta.metrics["test_kappa"] == pytest.approx(report["kappa"])
    assert model.fixed_input_size == 9


def test_eval_rebuilds_the_same_split_and_scores(trained, capsys, tmp_path):
    report = json.loads((trained / "test_metrics.json").read_text())
    out = tmp_path / "map.png"
    code, stdout, _ = run(capsys, "eval", str(trained), "--out", str(out))
    assert code == 0 and out.is_file()
    assert f"OA {report['accuracy']:.2%}" in stdout and f"kappa {report['kappa']:.4f}" in stdout
    assert f"({'test'}, {report['pixels']['test']} pixels)" in stdout


def test_the_map_title_names_the_split_that_was_scored(trained, capsys, tmp_path, monkeypatch):
    import convzoo.tasks.hyperspectral.scoring as pipeline

    titles = []
    monkeypatch.setattr(pipeline, "plot_classification_map", lambda *args, title: titles.append(title))
    code, stdout, _ = run(capsys, "eval", str(trained), "--split", "val", "--out", str(tmp_path / "map.png"))
    assert code == 0
    pixels = stdout.split("(val, ")[1].split(" pixels")[0]
    assert titles and titles[0].endswith(f"on the {pixels} val pixels") and "test" not in titles[0]


def test_a_seeded_run_repeats_exactly(trained, tmp_path):
    again = tmp_path / "again"
    assert main(["train", "hybridsn", *TINY, "--seed", "3", "--out", str(again)]) == 0
    first, second = load_file(str(trained / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert all((first[key] == second[key]).all() for key in first)
    assert (trained / "metrics.csv").read_text() == (again / "metrics.csv").read_text()


def write_indian_pines(folder, size=12, bands=20):
    """An Indian Pines look-alike in the real files: every class has several labelled pixels."""
    files = SCENES["indian_pines"]
    rng = np.random.default_rng(0)
    labels = (np.arange(size * size) % 17).reshape(size, size).astype(np.uint8)
    cube = (rng.normal(size=(size, size, bands)) * 100 + 3000 + labels[..., None] * 50).astype(np.int16)
    scipy.io.savemat(folder / files.cube_file, {files.cube_key: cube})
    scipy.io.savemat(folder / files.gt_file, {files.gt_key: labels})


def test_indian_pines_from_its_mat_files(tmp_path, capsys):
    write_indian_pines(tmp_path)
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "hybridsn", "--task", "hyperspectral", "--dataset", "indian_pines",
                            "--data-dir", str(tmp_path), "--pca-components", "4", "--window", "9", "--epochs", "1",
                            "--train-ratio", "0.5", "--border", "reflect", "--scene-map", "labelled",
                            "--out", str(out))
    assert code == 0, err
    assert "test scores   OA" in stdout and "AA" in stdout and "kappa" in stdout
    report = json.loads((out / "test_metrics.json").read_text())
    assert len(report["per_class_accuracy"]) == 16 and "Corn-notill" in report["per_class_accuracy"]
    assert report["pixels"]["train"] == 67  # half of the 135 labelled pixels (every 17th is unlabelled), rounded down
    code, stdout, _ = run(capsys, "eval", str(out), "--data-dir", str(tmp_path), "--out", str(tmp_path / "m.png"))
    assert code == 0 and f"OA {report['accuracy']:.2%}" in stdout


@pytest.mark.parametrize("extra, fragments", [
    (["--dataset", "pavia_university"], ["needs --data-dir", "PaviaU.mat"]),
    (["--dataset", "salinas", "--data-dir", "/nonexistent"], ["Salinas_corrected.mat not found"]),
    (["--dataset", "mnist"], ["unknown hyperspectral dataset 'mnist'"]),
    (["--window", "8"], ["positive odd"]),
    (["--pca-components", "99"], ["cannot keep 99 principal components"]),
    (["--train-ratio", "1.5"], ["between 0 and 1"]),
])
def test_user_errors_are_one_line(capsys, tmp_path, extra, fragments):
    code, _, err = run(capsys, "train", "hybridsn", *TINY, *extra, "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, *fragments)


def test_a_model_with_another_window_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "train", "lenet5", *TINY, "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, "LeNet5 takes only 32x32 inputs", "odd side")
