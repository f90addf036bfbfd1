"""Folders of extracted frames: PNG files the test writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convzoo.data.video.frames import list_frames, load_frame_folders
from convzoo.data.video.sampling import VideoTransform, frames_to_clip
from convzoo.errors import ConvzooError


def write_frames(folder, num_frames: int) -> None:
    """Frame ``i`` is ``img_{i}.png`` (unpadded, so natural order matters), all pixels red ``10 * i``."""
    folder.mkdir(parents=True)
    for index in range(num_frames):
        frame = np.zeros((12, 16, 3), np.uint8)
        frame[..., 0] = 10 * index
        Image.fromarray(frame).save(folder / f"img_{index}.png")


@pytest.fixture
def frames_root(tmp_path):
    root = tmp_path / "frames"
    write_frames(root / "Basketball" / "v_Basketball_g01_c01", 12)
    write_frames(root / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01", 12)
    (root / "ApplyEyeMakeup" / ".cache").mkdir()  # hidden: skipped
    return root


def test_frames_are_in_natural_order(frames_root):
    names = [path.rsplit("/", 1)[1] for path in list_frames(frames_root / "Basketball" / "v_Basketball_g01_c01")]
    assert names[:3] == ["img_0.png", "img_1.png", "img_2.png"] and names[-1] == "img_11.png"


def test_items_are_clips_of_the_asked_frames(frames_root):
    data = load_frame_folders(
        frames_root, clip_length=3, stride=4, mode="uniform", clips_per_video=2, transform=frames_to_clip
    )
    assert data.classes == ["ApplyEyeMakeup", "Basketball"] and len(data) == 4 and data.targets == [0, 0, 1, 1]
    clip, label = data[3]
    assert label == 1 and clip.shape == (3, 3, 12, 16)
    assert (clip[0, :, 0, 0] * 255).round().tolist() == [30, 70, 110]  # frames 3, 7, 11: lossless
    train = load_frame_folders(frames_root, clip_length=4, transform=VideoTransform(12, 8, train=True))
    assert train[0][0].shape == (3, 4, 8, 8)


def test_bad_folders_are_one_error_naming_them(frames_root, tmp_path):
    with pytest.raises(ConvzooError, match=r"v_ApplyEyeMakeup_g01_c01 is too short: .*the video has 12"):
        load_frame_folders(frames_root, clip_length=13)[0]
    with pytest.raises(ConvzooError, match=r"frame folder root .*absent does not exist"):
        load_frame_folders(tmp_path / "absent")
    (frames_root / "Basketball" / "v_empty").mkdir()
    with pytest.raises(ConvzooError, match=r"frame folder .*v_empty has no frame images"):
        load_frame_folders(frames_root)
