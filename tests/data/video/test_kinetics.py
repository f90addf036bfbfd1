"""Kinetics-style CSVs over small real .mp4 files the test writes (see conftest.py)."""

from __future__ import annotations

import pytest

from convzoo.data.video.kinetics import load_kinetics_csv, read_kinetics_csv
from convzoo.data.video.sampling import frames_to_clip
from convzoo.errors import ConvzooError

pytest.importorskip("av")


@pytest.fixture
def kinetics_csv(tmp_path, video_writer):
    video_writer(tmp_path / "videos" / "a.mp4", codec="libx264")
    video_writer(tmp_path / "videos" / "b.avi")
    csv_path = tmp_path / "train.csv"
    csv_path.write_text(
        "label,path,time_start,time_end,split\n"
        "zumba,videos/a.mp4,1.0,1.5,train\n"  # frames 10..14 at 10 fps
        "abseiling,videos/b.avi,,,train\n"
    )
    return csv_path


def test_rows_read_with_kinetics_column_names(kinetics_csv):
    assert read_kinetics_csv(kinetics_csv) == [
        ("videos/a.mp4", "zumba", 1.0, 1.5),
        ("videos/b.avi", "abseiling", None, None),
    ]


def test_clips_come_from_inside_each_rows_window(kinetics_csv):
    data = load_kinetics_csv(kinetics_csv, clip_length=5, mode="uniform", transform=frames_to_clip)
    assert data.classes == ["abseiling", "zumba"] and data.targets == [1, 0]
    clip, label = data[0]
    assert label == 1 and clip.shape == (3, 5, 24, 32)
    red = [255 * level for level in clip[0].mean(dim=(1, 2)).tolist()]
    assert red == pytest.approx([120, 130, 140, 150, 160], abs=6)  # frames 10..14
    with pytest.raises(ConvzooError, match=r"a\.mp4 is too short: .*spans 6 frames; the video has 5"):
        load_kinetics_csv(kinetics_csv, clip_length=6, mode="uniform")[0]


def test_bad_csvs_are_one_error_naming_the_file(kinetics_csv, tmp_path):
    with pytest.raises(ConvzooError, match=r"train\.csv: class 'zumba' is not among the 1 classes given"):
        load_kinetics_csv(kinetics_csv, classes=["abseiling"])
    (tmp_path / "videos" / "b.avi").unlink()
    with pytest.raises(ConvzooError, match=r"train\.csv names .*b\.avi, which does not exist"):
        load_kinetics_csv(kinetics_csv)
    headless = tmp_path / "headless.csv"
    headless.write_text("videos/a.mp4,zumba\n")
    with pytest.raises(ConvzooError, match=r"headless\.csv: expected a header with columns path,label"):
        read_kinetics_csv(headless)
