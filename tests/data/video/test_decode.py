"""Decoding small real video files that the tests write with PyAV (see conftest.py)."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from convzoo.data.video.decode import VideoReader, probe_video, read_frames, require_av
from convzoo.errors import ConvzooError

pytest.importorskip("av")

CONTAINERS = [("clip.avi", "mpeg4"), ("clip.mp4", "libx264"), ("clip.mkv", "mpeg4")]  # .mkv stores no frame count


def red_levels(frames: torch.Tensor) -> list[float]:
    return frames[..., 0].float().mean(dim=(1, 2)).tolist()


@pytest.mark.parametrize("name, codec", CONTAINERS)
def test_probe_reads_count_rate_and_size(tmp_path, video_writer, name, codec):
    info = probe_video(video_writer(tmp_path / name, codec=codec))
    assert (info.num_frames, info.fps, info.height, info.width) == (20, 10.0, 24, 32)
    assert info.path == str(tmp_path / name)


@pytest.mark.parametrize("name, codec", CONTAINERS)
def test_clip_frames_are_the_asked_frames(tmp_path, video_writer, name, codec):
    path = video_writer(tmp_path / name, codec=codec)
    indices = [13, 15, 17, 19]  # past several key frames: the reader seeks
    frames = read_frames(path, indices)
    assert frames.shape == (4, 24, 32, 3) and frames.dtype == torch.uint8
    assert red_levels(frames) == pytest.approx([10 * i + 20 for i in indices], abs=6)  # lossy codec: coarse
    assert frames[..., 2].float().mean().item() == pytest.approx(128, abs=6)  # RGB order, not BGR


@pytest.mark.parametrize("name, codec", CONTAINERS)
def test_seeking_decodes_what_sequential_decoding_does(tmp_path, video_writer, name, codec):
    path = video_writer(tmp_path / name, codec=codec)
    with VideoReader(path) as reader:
        everything = reader.read(list(range(20)))
        torch.testing.assert_close(reader.read([12, 7, 12, 18]), everything[[12, 7, 12, 18]], rtol=0, atol=0)


def test_frames_past_the_end_are_refused(tmp_path, video_writer):
    path = video_writer(tmp_path / "clip.avi")
    with pytest.raises(ConvzooError, match=r"frames 18\.\.20 .*clip\.avi, which has 20"):
        read_frames(path, [18, 20])


def test_a_file_that_is_not_a_video_is_one_error_naming_it(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("this is not a video\n")
    with pytest.raises(ConvzooError, match=r"notes\.avi is not a readable video"):
        probe_video(path)


def test_a_missing_file_is_one_error_naming_it(tmp_path):
    with pytest.raises(ConvzooError, match=r"video file .*absent\.mp4 does not exist"):
        read_frames(tmp_path / "absent.mp4", [0])


def test_missing_pyav_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` fail
    with pytest.raises(ConvzooError, match=r"pip install 'convzoo\[video\]'"):
        require_av()


def test_time_slots_without_a_picture_show_the_picture_before(tmp_path):
    """An AVI whose stream skips two time slots (as opencv-doc's tree.avi skips most): its headers count them."""
    av = pytest.importorskip("av")
    path = tmp_path / "gaps.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        for level, pts in enumerate([0, 1, 4, 5, 6, 7]):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * level, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 10)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert probe_video(path).num_frames == 8
    levels = read_frames(path, list(range(8))).float().mean(dim=(1, 2, 3))
    torch.testing.assert_close(levels, torch.tensor([0.0, 40, 40, 40, 80, 120, 160, 200]), atol=8, rtol=0)
    torch.testing.assert_close(read_frames(path, [3, 2]).float().mean(), torch.tensor(40.0), atol=8, rtol=0)
