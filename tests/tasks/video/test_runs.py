"""The video task end to end through the command line: train on moving digits and on UCF101 files, eval, predict
a video file, and every bad input as one line."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from helpers import assert_one_line_error, run_cli as run, write_video_frames
from video_trees import CLASSES, rgb_frames, ucf_video, write_ucf101

from convzoo.cli import main
from convzoo.data.video.moving_digits import CLASS_NAMES, generate_moving_digits
from convzoo.tasks.video.files import read_clips
from convzoo.train.checkpoint import load_checkpoint

TINY = ["--epochs", "1", "--batch-size", "8", "--clip-length", "4", "--image-size", "16"]


def train(*argv: str) -> str:
    """What ``convzoo train ARGV`` printed; it must succeed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", *argv]) == 0
    return printed.getvalue()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """r3d_18 trained one epoch on 16 moving-digit clips of 4x16x16: the run folder and what train printed."""
    out = tmp_path_factory.mktemp("digits")
    return out, train("r3d_18", *TINY, "--video-clips", "16", "--out", str(out))


@pytest.fixture(scope="module")
def ucf_run(tmp_path_factory, ucf101_root):
    out = tmp_path_factory.mktemp("ucf")
    return out, train("r3d_18", "--dataset", "ucf101", "--data-dir", str(ucf101_root), "--split", "1",
                      "--eval-clips", "3", *TINY, "--out", str(out))


def test_moving_digits_run_reports_clips_and_videos(digits_run):
    out, printed = digits_run
    meta = json.loads((out / "model.json").read_text())
    assert meta["task"] == "video" and meta["dataset"] == "moving-digits"
    assert meta["class_names"] == list(CLASS_NAMES) and meta["input_size"] == [1, 4, 16, 16]
    assert meta["task_args"]["short_side"] == 16 and meta["task_args"]["video_clips"] == 16
    report = json.loads((out / "test_metrics.json").read_text())
    assert (report["clips"], report["videos"]) == (2, 2) and np.array(report["confusion"]).sum() == 2
    assert "test clips   accuracy" in printed and "(2 videos, one clip each)" in printed
    assert (out / "confusion.png").stat().st_size > 0


def test_ucf101_run_averages_three_clips_per_test_video(ucf_run):
    out, printed = ucf_run
    meta = json.loads((out / "model.json").read_text())
    assert meta["class_names"] == CLASSES and meta["input_size"] == [3, 4, 16, 16]
    assert meta["task_args"]["split"] == 1 and meta["task_args"]["short_side"] == 18
    report = json.loads((out / "test_metrics.json").read_text())
    assert (report["clips"], report["videos"]) == (9, 3)
    assert "(3 videos, 3 clips each, scores averaged)" in printed


def test_eval_rebuilds_the_test_split(capsys, ucf_run):
    out, _ = ucf_run
    code, printed, _ = run(capsys, "eval", str(out))
    report = json.loads((out / "test_metrics.json").read_text())
    assert code == 0 and printed.startswith("r3d_18 on ucf101 (test)")
    assert f"accuracy {report['video_accuracy']:.2%}" in printed.splitlines()[2]


def test_predict_prints_the_top_classes_of_a_video_file(capsys, ucf_run, ucf101_root):
    out, _ = ucf_run
    video = ucf101_root / ucf_video("west", 1)
    code, printed, _ = run(capsys, "predict", str(out), str(video), "--top-k", "2")
    assert code == 0 and printed.startswith(f"{video}: ") and "(3 clips of 20 frames)" in printed
    assert len([name for name in CLASSES if f" {name} " in printed]) == 2


def test_a_video_file_is_read_as_the_training_clips_were(tmp_path, digits_run):
    """A moving-digit clip written as an .avi and read back for a gray checkpoint: the same clip, up to the codec."""
    _, meta = load_checkpoint(digits_run[0])
    clips, labels = generate_moving_digits(1, frames=4, side=16, seed=5)
    path = write_video_frames(tmp_path / "clip.avi", rgb_frames(clips[0]))
    read, frames = read_clips(path, meta)
    assert frames == 4 and read.shape == (10, 1, 4, 16, 16)  # the default 10 test clips, all of the 4 frames
    assert (read[0] - clips[0]).abs().mean() < 0.03


def test_predict_reads_a_folder_of_frames(capsys, tmp_path, digits_run):
    from PIL import Image

    clips, _ = generate_moving_digits(1, frames=6, side=16, seed=1)
    for index, frame in enumerate(rgb_frames(clips[0])):
        Image.fromarray(frame).save(tmp_path / f"{index:03d}.png")
    code, printed, _ = run(capsys, "predict", str(digits_run[0]), str(tmp_path))
    assert code == 0 and "(10 clips of 6 frames)" in printed and printed.count("%") == 5


def test_bad_video_files_are_one_line(capsys, tmp_path, digits_run):
    checkpoint = str(digits_run[0])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    assert_one_line_error(*run(capsys, "predict", checkpoint, str(text))[::2], "notes.mp4", "not a readable video")
    short = write_video_frames(tmp_path / "short.avi", np.zeros((3, 16, 16, 3), np.uint8))
    assert_one_line_error(*run(capsys, "predict", checkpoint, str(short))[::2], "short.avi is too short",
                          "spans 4 frames; the video has 3")


def test_a_split_list_naming_a_missing_video_is_one_line(capsys, tmp_path):
    root = write_ucf101(tmp_path / "UCF101")
    (root / ucf_video("north", 1)).unlink()
    code, _, err = run(capsys, "train", "r3d_18", "--dataset", "ucf101", "--data-dir", str(root), *TINY,
                       "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "testlist01.txt names", "v_north_g01_c01.avi, which does not exist")


@pytest.mark.parametrize("argv, fragments", [
    (["c3d"], ["c3d cannot take the 16x32x32 clips", "16x112x112"]),
    (["resnet18", "--task", "video"], ["resnet18 is a classification model", "--task video cannot train"]),
    (["r3d_18", "--dataset", "kinetics"], ["--dataset kinetics reads files: give --data-dir"]),
    (["r3d_18", "--split", "4"], ["--split", "invalid choice: 4"]),
])
def test_bad_runs_are_one_line(capsys, tmp_path, argv, fragments):
    code, _, err = run(capsys, "train", *argv, "--video-clips", "8", "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)


def test_eval_on_another_dataset_needs_its_files(capsys, digits_run):
    code, _, err = run(capsys, "eval", str(digits_run[0]), "--dataset", "ucf101")
    assert_one_line_error(code, err, "--dataset ucf101 reads files: give --data-dir")

