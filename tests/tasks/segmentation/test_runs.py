"""The segmentation task end to end through the command line: train, eval, segment, predict, resume, 3-D, and
every bad input as one line."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from helpers import assert_one_line_error, run_cli as run

import convzoo.data.segmentation.scenes as scenes
import convzoo.data.segmentation.volumes as volumes
from convzoo.cli import main
from convzoo.registry import create_model
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint

TINY = ["--task", "segmentation", "--epochs", "1", "--batch-size", "4", "--image-size", "32"]
SMALL_UNET = ["--model-kwargs", "base_width=2"]


@pytest.fixture(scope="module", autouse=True)
def few_items():
    """A handful of scenes and volumes per split: the pipeline's code paths at a fraction of the cost."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scenes, "SCENE_COUNTS", {"train": 8, "val": 4, "test": 4})
        patch.setattr(volumes, "VOLUME_COUNTS", {"train": 4, "val": 2, "test": 2})
        yield


@pytest.fixture(scope="module")
def run_and_output(tmp_path_factory):
    """A run's folder and what `convzoo train` printed."""
    out = tmp_path_factory.mktemp("run")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", "unet_padded", *SMALL_UNET, *TINY, "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def trained(run_and_output):
    return run_and_output[0]


def test_train_writes_checkpoint_report_and_sample(trained):
    meta = json.loads((trained / "model.json").read_text())
    assert meta["task"] == "segmentation" and meta["dataset"] == "scenes"
    assert meta["class_names"] == ["background", *"0123456789"]
    assert meta["model_args"] == {"base_width": 2, "in_chans": 3, "num_classes": 11}
    assert meta["input_size"] == [3, 32, 32] and meta["mean"] == [0.0] * 3 and meta["std"] == [1.0] * 3
    assert meta["task_args"] | {"data_dir": None} == {
        "dataset": "scenes", "data_dir": None, "in_chans": None, "image_size": 32, "seed": 0, "dims": 2,
        "ignore_index": 255, "dice_weight": 1.0, "aux_weight": 0.5,
    }
    assert {"val_miou", "val_pixel_accuracy", "val_mean_dice", "test_miou"} <= set(meta["metrics"])
    report = json.loads((trained / "test_metrics.json").read_text())
    assert list(report["per_class"]) == meta["class_names"]
    assert sum(row["pixels"] for row in report["per_class"].values()) == 4 * 32 * 32
    assert np.array(report["confusion"]).sum() == 4 * 32 * 32
    present = [row["iou"] for row in report["per_class"].values() if row["iou"] is not None]
    assert report["miou"] == pytest.approx(sum(present) / len(present))
    with Image.open(trained / "segmentation_sample.png") as sample:  # 4 rows of image, truth, prediction, overlay
        assert sample.format == "PNG" and sample.size == (4 * 128 + 3 * 4, 4 * 128 + 3 * 4)


def test_train_prints_the_class_table_and_scores(run_and_output):
    out = run_and_output[1]
    assert "class           IoU     Dice      pixels" in out and "\nbackground " in out
    assert "test mIoU " in out and "pixel accuracy" in out and "segmentation_sample.png" in out


def test_eval_prints_the_table_of_the_run(capsys, trained, tmp_path):
    code, out, _ = run(capsys, "eval", str(trained), "--out", str(tmp_path / "eval.png"))
    assert code == 0
    report = json.loads((trained / "test_metrics.json").read_text())
    assert out.startswith("unet_padded on scenes (test, 4 images)\nclass ")
    assert f"mIoU {report['miou']:.2%}  pixel accuracy {report['pixel_accuracy']:.2%}" in out
    for name, row in report["per_class"].items():
        iou = "-" if row["iou"] is None else f"{row['iou']:.2%}"
        assert any(line.split()[:2] == [name, iou] for line in out.splitlines())
    assert (tmp_path / "eval.png").is_file()


def test_segment_writes_image_mask_and_overlay_side_by_side(capsys, trained, tmp_path):
    pixels = (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    out = tmp_path / "overlay.png"
    code, stdout, _ = run(capsys, "segment", str(trained), str(tmp_path / "photo.png"), "--out", str(out))
    assert code == 0 and f"panels   {out}" in stdout and "(40x50)" in stdout
    with Image.open(out) as written:
        panels = np.asarray(written.convert("RGB"))
    assert panels.shape == (40, 3 * 50 + 2 * 4, 3)
    assert np.array_equal(panels[:, :50], pixels)  # the image itself on the left
    tiled = tmp_path / "tiled.png"
    code, stdout, _ = run(capsys, "segment", str(trained), str(tmp_path / "photo.png"), "--out", str(tiled),
                          "--tile", "16")
    assert code == 0 and "tiled" in stdout
    assert np.array_equal(np.asarray(Image.open(tiled).convert("RGB")), panels)  # the same map, tile by tile


def test_resume_continues_the_run(tmp_path):
    """The confusion matrices (int64 sums) go through the resume state."""
    assert main(["train", "unet_padded", *SMALL_UNET, *TINY, "--image-size", "16", "--out", str(tmp_path)]) == 0
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and all(0 <= row["train_miou"] <= 1 for row in rows)


def test_the_valid_unet_trains_on_mirror_extended_scenes(tmp_path):
    assert main(["train", "unet", *SMALL_UNET, *TINY, "--image-size", "16", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "test_metrics.json").read_text())
    assert sum(row["pixels"] for row in report["per_class"].values()) == 4 * 16 * 16  # the extra output ignored


def test_unetplusplus_trains_with_deep_supervision(tmp_path):
    assert main(["train", "unetplusplus", *SMALL_UNET, *TINY, "--image-size", "16", "--out", str(tmp_path)]) == 0
    assert "miou" in json.loads((tmp_path / "test_metrics.json").read_text())


def test_a_3d_unet_trains_on_the_volumes(capsys, tmp_path):
    code, out, _ = run(capsys, "train", "unet3d_padded", *SMALL_UNET, *TINY, "--image-size", "16",
                       "--out", str(tmp_path / "run"))
    assert code == 0
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["dataset"] == "volumes" and meta["task_args"]["dims"] == 3 and meta["input_size"] == [1, 16, 16, 16]
    assert sum(row["pixels"] for row in json.loads((tmp_path / "run" / "test_metrics.json").read_text())
               ["per_class"].values()) == 2 * 16**3
    code, out, _ = run(capsys, "eval", str(tmp_path / "run"))
    assert code == 0 and out.startswith("unet3d_padded on volumes (test, 2 volumes)")
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "slice.png")
    code, _, err = run(capsys, "segment", str(tmp_path / "run"), str(tmp_path / "slice.png"))
    assert_one_line_error(code, err, "segments volumes")


BAD_RUNS = [
    (["train", "unet_padded", *TINY, "--image-size", "40"], ["unet_padded cannot take", "scenes", "multiple of 16"]),
    (["train", "unet3d_padded", "--model-kwargs", "levels=[[2,2],[2,2],[2,2],[2,2],[2,2],[2,2]]", *TINY,
      "--image-size", "16"], ["unet3d_padded cannot take the volumes", "16x16x16", "32"]),
    (["train", "unet3d_padded", *SMALL_UNET, *TINY, "--dataset", "scenes"], ["segments volumes", "--dataset volumes"]),
    (["train", "unet_padded", *SMALL_UNET, *TINY, "--freeze", "features"], ["--task segmentation"]),
    (["train", "unet_padded", *TINY, "--dice-weight", "-1"], ["--dice-weight", "at least 0"]),
    (["train", "unet_padded", *TINY, "--dataset", "nosuchdata"], ["nosuchdata"]),
    (["train", "resnet18", *TINY], ["--task classification"]),
]


@pytest.mark.parametrize("argv, fragments", BAD_RUNS, ids=[" ".join(argv[:2] + argv[-2:]) for argv, _ in BAD_RUNS])
def test_bad_runs_are_one_line_and_leave_nothing(argv, fragments, capsys, tmp_path):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)
    assert code == 2 and not (tmp_path / "run").exists()


def test_bad_segment_and_predict_input_is_one_line(capsys, trained, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    cases = [
        (["segment", str(trained), str(tmp_path / "missing.png")], ["missing.png", "does not exist"]),
        (["segment", str(trained), str(tmp_path / "notes.png")], ["cannot read image", "notes.png"]),
        (["segment", str(trained), str(tmp_path / "photo.png"), "--out", str(tmp_path / "photo.png" / "o.png")],
         ["--out"]),
        (["segment", str(tmp_path / "nowhere"), str(tmp_path / "photo.png")], ["nowhere"]),
        (["predict", str(trained), str(tmp_path / "photo.png")], ["segmentation checkpoint", "convzoo segment"]),
        (["eval", str(trained), "--dataset", "volumes"], ["11 classes", "'volumes' has 4"]),
    ]
    for argv, fragments in cases:
        code, _, err = run(capsys, *argv)
        assert_one_line_error(code, err, *fragments)
        assert code == 2


def test_segment_refuses_a_checkpoint_of_another_task(capsys, tmp_path):
    lenet = {"in_chans": 1, "num_classes": 10}
    save_checkpoint(tmp_path / "model", create_model("lenet5", **lenet), CheckpointMeta(
        model="lenet5", model_args=lenet, dataset="digits", class_names=list("0123456789"), mean=[0.5], std=[0.5],
        input_size=[1, 32, 32]))
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    code, _, err = run(capsys, "segment", str(tmp_path), str(tmp_path / "photo.png"))
    assert_one_line_error(code, err, "classification model, not a segmentation one")
