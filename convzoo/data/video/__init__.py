"""Video data: clips ``(C, T, H, W)`` with a label, generated offline or decoded from video files.

- :mod:`~convzoo.data.video.moving_digits`: the embedded default, seeded clips of a digit
  moving over a photograph's texture, labelled by the motion (a single frame cannot tell).
- :mod:`~convzoo.data.video.decode`: PyAV decoding of the frames of one clip, lazily
  (``pip install 'convzoo[video]'``).
- :mod:`~convzoo.data.video.sampling`: which frames make a clip (uniform or random, stride),
  short-side resize, crops, flips and Kinetics normalisation.
- :mod:`~convzoo.data.video.ucf101`, :mod:`~convzoo.data.video.kinetics`,
  :mod:`~convzoo.data.video.frames`: UCF101's class folders and split files, a Kinetics-style
  CSV (path, label, start, end), folders of extracted frames; all give
  :class:`~convzoo.data.video.clips.VideoClipDataset` items ``(clip, label)``.
"""

from __future__ import annotations

from convzoo.data.video.clips import VideoClipDataset, VideoSample
from convzoo.data.video.frames import load_frame_folders
from convzoo.data.video.kinetics import load_kinetics_csv
from convzoo.data.video.moving_digits import CLASS_NAMES, MovingDigits, generate_moving_digits, moving_digits_splits
from convzoo.data.video.sampling import VideoTransform, clip_indices
from convzoo.data.video.ucf101 import load_ucf101

__all__ = [
    "CLASS_NAMES",
    "MovingDigits",
    "VideoClipDataset",
    "VideoSample",
    "VideoTransform",
    "clip_indices",
    "generate_moving_digits",
    "load_frame_folders",
    "load_kinetics_csv",
    "load_ucf101",
    "moving_digits_splits",
]
