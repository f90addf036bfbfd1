"""The video task's datasets: moving digits' splits, and UCF101, Kinetics CSVs and frame folders over files the
tests write."""

from __future__ import annotations

import pytest
import torch

from video_trees import CLASSES, SIDE, write_frame_folders

from convzoo.data.video.moving_digits import CLASS_NAMES
from convzoo.errors import ConvzooError
from convzoo.tasks.video.data import load_video_data, short_side_for, video_settings
from convzoo.train.config import TrainConfig


def settings(**changes) -> dict:
    return {**video_settings(TrainConfig(model="r3d_18", task="video")), **changes}


def test_moving_digits_splits_are_gray_clips_with_an_eighth_held_out():
    data = load_video_data(settings(video_clips=16, clip_length=8, image_size=16))
    assert (len(data.train), len(data.val), len(data.test)) == (16, 2, 2)
    clip, label = data.test[0]
    assert clip.shape == data.clip_shape == (1, 8, 16, 16) and 0 <= label < len(CLASS_NAMES)
    assert data.class_names == list(CLASS_NAMES) and (data.mean, data.std) == ([0.0], [1.0])


def test_moving_digits_as_rgb():
    data = load_video_data(settings(video_clips=8, in_chans=3))
    assert data.val[0][0].shape == (3, 16, 32, 32)


@pytest.mark.parametrize("changes, message", [
    (dict(frame_stride=2), "--frame-stride is for video files"),
    (dict(dataset="hmdb51"), "unknown video dataset 'hmdb51'; expected one of moving-digits, ucf101"),
    (dict(dataset="ucf101"), "--dataset ucf101 reads files: give --data-dir"),
    (dict(dataset="kinetics", data_dir="/nowhere"), "--data-dir /nowhere is not a folder"),
])
def test_bad_settings_are_one_clear_error(changes, message):
    with pytest.raises(ConvzooError, match=message):
        load_video_data(settings(**changes))


def test_ucf101_splits_decode_clips_from_the_lists(ucf101_root):
    data = load_video_data(settings(dataset="ucf101", data_dir=str(ucf101_root), clip_length=8, image_size=24,
                                    eval_clips=3), augment=True)
    assert data.class_names == CLASSES
    assert (len(data.train), len(data.val), len(data.test)) == (6, 3, 9)  # test: 3 clips of each of 3 videos
    assert data.test.video_of(8) == 2 and data.short_side == short_side_for(24) == 27
    clip, label = data.train[0]
    assert clip.shape == data.clip_shape == (3, 8, 24, 24) and label == 0
    assert data.test.targets == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_ucf101_refuses_gray_clips(ucf101_root):
    with pytest.raises(ConvzooError, match="gives RGB clips"):
        load_video_data(settings(dataset="ucf101", data_dir=str(ucf101_root), in_chans=1))


def test_kinetics_csvs_share_the_training_classes(tmp_path, ucf101_root):
    rows = [f"{ucf101_root / 'east' / 'v_east_g08_c01.avi'},east", f"{ucf101_root / 'west' / 'v_west_g08_c01.avi'},west"]
    (tmp_path / "train.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "val.csv").write_text("path,label\n" + rows[1] + "\n")
    data = load_video_data(settings(dataset="kinetics", data_dir=str(tmp_path), eval_clips=2, image_size=SIDE))
    assert data.class_names == ["east", "west"]
    assert (len(data.train), len(data.val), len(data.test)) == (2, 1, 2)  # no test.csv: val's videos, 2 clips
    assert data.test[0][1] == 1 and data.test[0][0].shape == (3, 16, SIDE, SIDE)


def test_frame_folders_with_other_classes_in_val_are_refused(tmp_path):
    write_frame_folders(tmp_path / "train", ["east", "west"])
    write_frame_folders(tmp_path / "val", ["east", "north"])
    with pytest.raises(ConvzooError, match="val has the class folders"):
        load_video_data(settings(dataset="frames", data_dir=str(tmp_path)))


def test_frame_folders_read_as_clips(tmp_path):
    write_frame_folders(tmp_path / "train", ["east", "west"])
    write_frame_folders(tmp_path / "val", ["east", "west"])
    data = load_video_data(settings(dataset="frames", data_dir=str(tmp_path), image_size=SIDE, eval_clips=2))
    clip, label = data.test[3]
    assert clip.shape == (3, 16, SIDE, SIDE) and label == 1 and torch.isfinite(clip).all()
