"""The pose task end to end through the command line: top-down, bottom-up and dense runs on the synthetic people,
COCO and MPII layouts, eval, the pose command, resume, and bad input as one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli as run

from convzoo.data.pose.synthetic import SyntheticPeople, write_coco

TOP_DOWN = ["hourglass_s1", "--image-size", "64", "--model-kwargs", "num_features=16", "--pose-images", "16",
            "--epochs", "1", "--batch-size", "8"]
BOTTOM_UP = ["openpose_small", "--bottom-up", "--image-size", "64", "--pose-images", "8", "--epochs", "1",
             "--batch-size", "4"]
DENSE = ["densepose_resnet18", "--image-size", "64", "--pose-images", "8", "--epochs", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "people.png"
    Image.fromarray((SyntheticPeople(1, image_size=(96, 80), seed=5)[0].image.permute(1, 2, 0).numpy() * 255)
                    .astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def coco_tree(tmp_path_factory):
    """COCO's layout (annotations/person_keypoints_{train,val}2017.json, train2017/, val2017/) of synthetic people."""
    root = tmp_path_factory.mktemp("coco")
    (root / "annotations").mkdir()
    for split, seed in (("train", 0), ("val", 1)):
        written = write_coco(SyntheticPeople(6, image_size=(64, 64), people=(1, 2), seed=seed), root / f"tmp_{split}")
        notes = json.loads(written.read_text())
        (root / "annotations" / f"person_keypoints_{split}2017.json").write_text(json.dumps(notes))
        shutil.move(str(written.parent / "images"), str(root / f"{split}2017"))
    return root


def _files(out, *names):
    for name in names:
        assert (out / name).is_file(), name


def test_top_down_run_eval_and_pose(tmp_path, capsys, photo):
    out = tmp_path / "hg"
    code, printed, _ = run(capsys, "train", *TOP_DOWN, "--out", str(out))
    assert code == 0 and "PCK@0.2" in printed and "COCO     AP" in printed
    _files(out, "model.safetensors", "pose_sample.png", "test_metrics.json")
    meta = json.loads((out / "model.json").read_text())
    assert meta["task"] == "pose" and meta["task_args"]["mode"] == "top_down" and meta["input_size"] == [3, 64, 64]
    assert len(meta["class_names"]) == 17 and meta["task_args"]["sigma"] == 2.0
    report = json.loads((out / "test_metrics.json").read_text())
    assert 0 <= report["pck@0.2"] <= 1 and report["items"] == 4 and {"AP", "AR"} <= set(report)
    code, printed, _ = run(capsys, "eval", str(out), "--split", "val")
    assert code == 0 and "hourglass_s1 on synthetic (val: 4 items, top-down)" in printed
    code, printed, _ = run(capsys, "pose", str(out), str(photo), "--box", "10", "10", "40", "60", "--out",
                           str(tmp_path / "skeleton.png"))
    assert code == 0 and "person 1:" in printed and Image.open(tmp_path / "skeleton.png").size[0] >= 384
    code, _, err = run(capsys, "predict", str(out), str(photo))
    assert_one_line_error(code, err, "convzoo pose")
    code, _, err = run(capsys, "pose", str(out), str(photo), "--dense")
    assert_one_line_error(code, err, "--dense needs a dense-pose checkpoint")


def test_bottom_up_run_counts_people(tmp_path, capsys, photo):
    out = tmp_path / "openpose"
    code, printed, _ = run(capsys, "train", *BOTTOM_UP, "--out", str(out))
    assert code == 0 and "right count in" in printed
    report = json.loads((out / "test_metrics.json").read_text())
    assert 0 <= report["people_count_accuracy"] <= 1 and report["people_count_error"] >= 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["task_args"]["mode"] == "bottom_up" and len(meta["class_names"]) == 18
    code, printed, _ = run(capsys, "pose", str(out), str(photo), "--out", str(tmp_path / "people.png"))
    assert code == 0 and printed.startswith("people") and (tmp_path / "people.png").is_file()
    code, _, err = run(capsys, "pose", str(out), str(photo), "--box", "0", "0", "5", "5")
    assert_one_line_error(code, err, "--box is for top-down")


def test_dense_run_and_picture(tmp_path, capsys, photo):
    out = tmp_path / "dense"
    code, printed, _ = run(capsys, "train", *DENSE, "--out", str(out))
    assert code == 0 and "part mIoU" in printed
    report = json.loads((out / "test_metrics.json").read_text())
    assert 0 <= report["part_miou"] <= 1 and 0 <= report["pixel_accuracy"] <= 1
    code, _, _ = run(capsys, "pose", str(out), str(photo), "--dense", "--out", str(tmp_path / "iuv.png"))
    assert code == 0 and Image.open(tmp_path / "iuv.png").size[0] > 200
    code, _, err = run(capsys, "pose", str(out), str(photo))
    assert_one_line_error(code, err, "add --dense")


@pytest.mark.parametrize("model", [TOP_DOWN, BOTTOM_UP])
def test_coco_layout_trains(model, tmp_path, capsys, coco_tree):
    out = tmp_path / "coco"
    flag = model.index("--pose-images")
    argv = model[:flag] + model[flag + 2:]
    code, printed, _ = run(capsys, "train", *argv, "--dataset", "coco", "--data-dir", str(coco_tree), "--out",
                           str(out))
    assert code == 0 and "COCO     AP" in printed
    code, printed, _ = run(capsys, "eval", str(out))
    assert code == 0 and "on coco (test:" in printed


def test_mpii_layout_trains(tmp_path, capsys):
    root = tmp_path / "mpii"
    (root / "annot").mkdir(parents=True)
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    records = []
    for index in range(4):
        name = f"{index:03d}.jpg"
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(root / "images" / name)
        joints = rng.uniform(20, 60, (16, 2)).tolist()
        records.append({"image": name, "joints": joints, "joints_vis": [1] * 16, "center": [40.0, 40.0],
                        "scale": 0.3})
    for split in ("train", "valid"):
        (root / "annot" / f"{split}.json").write_text(json.dumps(records))
    out = tmp_path / "run"
    code, printed, _ = run(capsys, "train", *TOP_DOWN[:-6], "--epochs", "1", "--batch-size", "4", "--dataset", "mpii",
                           "--data-dir", str(root), "--out", str(out))
    assert code == 0 and "PCK@0.2" in printed and "PCKh" not in printed  # the JSON conversion has no head boxes
    assert len(json.loads((out / "model.json").read_text())["class_names"]) == 16


def test_resume_continues_the_same_crops(tmp_path, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    tiny = [*TOP_DOWN[:-6], "--pose-images", "8", "--batch-size", "4", "--schedule", "constant"]
    assert run(capsys, "train", *tiny, "--epochs", "2", "--out", str(straight))[0] == 0
    assert run(capsys, "train", *tiny, "--epochs", "1", "--out", str(resumed))[0] == 0
    assert run(capsys, "train", "--resume", str(resumed), "--epochs", "2")[0] == 0
    first = json.loads((straight / "test_metrics.json").read_text())
    second = json.loads((resumed / "test_metrics.json").read_text())
    numbers = [key for key, value in first.items() if isinstance(value, (int, float))]
    assert {key: first[key] for key in numbers} == pytest.approx({key: second[key] for key in numbers})


@pytest.mark.parametrize(("argv", "fragments"), [
    (["train", "hourglass_s1", "--bottom-up"], ["--bottom-up needs", "top-down"]),
    (["train", "hourglass_s1", "--dataset", "coco"], ["--dataset coco needs --data-dir"]),
    (["train", "openpose_small", "--dataset", "mpii", "--data-dir", "."], ["mpii has no bottom-up data"]),
    (["train", "hourglass_s1", "--dataset", "coco", "--data-dir", "/nonexistent"], ["does not exist"]),
    (["train", "hourglass_s1", "--dataset", "lsp"], ["unknown pose dataset 'lsp'"]),
    (["train", "hourglass_s1", "--heatmap-sigma", "0"], ["--heatmap-sigma must be greater than 0"]),
    (["train", "lenet5", "--task", "pose"], ["classification model", "--task pose"]),
])
def test_bad_settings_are_one_line(argv, fragments, tmp_path, capsys):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)
