"""UCF101's layout on a tiny tree of real .avi files the test writes (see conftest.py)."""

from __future__ import annotations

import pytest
import torch

from convzoo.data.video.sampling import VideoTransform, frames_to_clip
from convzoo.data.video.ucf101 import load_ucf101, read_class_index, read_split_list
from convzoo.errors import ConvzooError

pytest.importorskip("av")

CLASSES = ["ApplyEyeMakeup", "Basketball"]


def video_name(class_name: str, group: int, clip: int = 1) -> str:
    return f"{class_name}/v_{class_name}_g{group:02d}_c{clip:02d}.avi"


@pytest.fixture
def ucf_root(tmp_path, video_writer):
    """Two classes, group 8 for training and group 1 for testing, split 1; a 6-frame test video of class 2."""
    root = tmp_path / "UCF101"
    for class_name in CLASSES:
        video_writer(root / video_name(class_name, 8))
        video_writer(root / video_name(class_name, 1), num_frames=20 if class_name == CLASSES[0] else 6)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for i, name in enumerate(CLASSES, 1)))
    (lists / "trainlist01.txt").write_text("".join(f"{video_name(n, 8)} {i}\r\n" for i, n in enumerate(CLASSES, 1)))
    (lists / "testlist01.txt").write_text("".join(f"{video_name(n, 1)}\r\n" for n in CLASSES))
    return root


def test_class_index_is_in_label_order(ucf_root):
    assert read_class_index(ucf_root / "ucfTrainTestlist" / "classInd.txt") == CLASSES


def test_training_items_are_random_clips_with_their_labels(ucf_root):
    data = load_ucf101(ucf_root, split=1, train=True, clip_length=8, transform=VideoTransform(24, 16, train=True))
    assert data.classes == CLASSES and len(data) == 2 and data.targets == [0, 1]
    clip, label = data[1]
    assert clip.shape == (3, 8, 16, 16) and clip.dtype == torch.float32 and label == 1
    batch, labels = next(iter(torch.utils.data.DataLoader(data, batch_size=2)))
    assert batch.shape == (2, 3, 8, 16, 16) and labels.tolist() == [0, 1]


def test_uniform_test_clips_decode_the_expected_frames(ucf_root):
    data = load_ucf101(ucf_root, train=False, clip_length=4, stride=2, clips_per_video=3, transform=frames_to_clip)
    assert data.mode == "uniform" and len(data) == 6
    assert [data.video_of(item) for item in range(6)] == [0, 0, 0, 1, 1, 1]
    assert data.targets == [0, 0, 0, 1, 1, 1]  # test lists carry no labels: the class folder gives them
    first, label = data[0]
    last, _ = data[2]
    assert label == 0 and first.shape == (3, 4, 24, 32)
    red = [255 * level for level in first[0].mean(dim=(1, 2)).tolist()]
    assert red == pytest.approx([20, 40, 60, 80], abs=6)  # frames 0, 2, 4, 6
    red = [255 * level for level in last[0].mean(dim=(1, 2)).tolist()]
    assert red == pytest.approx([150, 170, 190, 210], abs=6)  # frames 13, 15, 17, 19


def test_a_video_shorter_than_one_clip_is_one_error_naming_it(ucf_root):
    data = load_ucf101(ucf_root, train=False, clip_length=4, stride=2)
    with pytest.raises(
        ConvzooError, match=r"v_Basketball_g01_c01\.avi is too short: .*spans 7 frames; the video has 6"
    ):
        data[1]


def test_a_split_file_naming_a_missing_video_is_one_error_naming_it(ucf_root):
    (ucf_root / video_name("Basketball", 8)).unlink()
    with pytest.raises(ConvzooError, match=r"trainlist01\.txt names .*v_Basketball_g08_c01\.avi, which does not exist"):
        load_ucf101(ucf_root, split=1)


def test_bad_splits_and_missing_lists_are_refused(ucf_root):
    with pytest.raises(ConvzooError, match=r"split must be one of \(1, 2, 3\), got 4"):
        load_ucf101(ucf_root, split=4)
    with pytest.raises(ConvzooError, match=r"annotation file .*trainlist02\.txt does not exist"):
        load_ucf101(ucf_root, split=2)


def test_a_malformed_split_line_is_one_error_naming_the_file(tmp_path):
    split_file = tmp_path / "trainlist01.txt"
    split_file.write_text("Basketball/v_Basketball_g01_c01.avi one\n")
    with pytest.raises(ConvzooError, match=r"trainlist01\.txt: expected lines '<video path> \[<label number>\]'"):
        read_split_list(split_file, ["Basketball"])
