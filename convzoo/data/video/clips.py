"""A dataset of clips decoded lazily from video files: the interface every video loader shares.

Each item is ``(clip, label)``: one clip ``(C, T, H, W)`` float, decoded from its video
when the item is read (the file is opened, the clip's frames decoded, the file closed),
so no video is held in memory between items and DataLoader workers share the decoding.

With ``mode="random"`` (training) a video is one item and each read draws a new clip
from torch's global generator (the DataLoader seeds it per worker). With
``mode="uniform"`` (evaluation) a video is ``clips_per_video`` consecutive items, its
evenly spaced clips; :meth:`VideoClipDataset.video_of` maps an item back to its video,
so clip scores can be averaged into a video-level prediction.

A sample may name a time window (``start``/``end`` in seconds, Kinetics' annotation):
its clips are taken inside the window only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import torch
from torch.utils.data import Dataset

from convzoo.data.video.decode import VideoInfo, VideoReader
from convzoo.data.video.sampling import ClipMode, VideoTransform, clip_indices
from convzoo.errors import ConvzooError

__all__ = ["ClipReader", "VideoClipDataset", "VideoSample", "check_files_exist"]


class ClipReader(Protocol):
    """What a dataset reads clips through: a video file (:class:`VideoReader`) or a folder of frames."""

    info: VideoInfo

    def read(self, indices: Sequence[int]) -> torch.Tensor: ...

    def __enter__(self) -> ClipReader: ...

    def __exit__(self, *exc_info: object) -> None: ...


@dataclass(frozen=True)
class VideoSample:
    """One labelled video, or a labelled time window (seconds) of one."""

    path: str
    label: int
    start: float | None = None
    end: float | None = None


class VideoClipDataset(Dataset):
    """Clips of labelled videos, decoded when read.

    Args:
        samples: the labelled videos.
        classes: label ``i`` is ``classes[i]``.
        clip_length: frames per clip (16 for C3D and torchvision's video models).
        stride: distance between consecutive frames of a clip.
        mode: ``"random"``: one random clip per video and read; ``"uniform"``: ``clips_per_video`` fixed clips.
        clips_per_video: clips per video in ``"uniform"`` mode.
        transform: uint8 frames ``(T, H, W, 3)`` to the clip tensor; default :class:`VideoTransform`
            (shorter side 128, crop 112, Kinetics normalisation; random crop and flip in ``"random"`` mode).

    Shape:
        clip: ``(3, clip_length, crop, crop)`` with the default transform.
    """

    def __init__(
        self,
        samples: list[VideoSample],
        classes: list[str],
        *,
        clip_length: int = 16,
        stride: int = 1,
        mode: ClipMode = "random",
        clips_per_video: int = 1,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if mode not in ("random", "uniform"):
            raise ConvzooError(f"clip sampling mode must be 'uniform' or 'random', got {mode!r}")
        if clips_per_video < 1:
            raise ConvzooError(f"clips_per_video must be >= 1, got {clips_per_video}")
        self.samples = samples
        self.classes = classes
        self.clip_length = clip_length
        self.stride = stride
        self.mode = mode
        self.clips_per_video = clips_per_video if mode == "uniform" else 1
        self.transform = transform if transform is not None else VideoTransform(train=mode == "random")

    @property
    def targets(self) -> list[int]:
        """The label of every item."""
        return [self.samples[self.video_of(item)].label for item in range(len(self))]

    def __len__(self) -> int:
        return len(self.samples) * self.clips_per_video

    def video_of(self, item: int) -> int:
        """The index in ``samples`` of the video item ``item`` is a clip of."""
        return item // self.clips_per_video

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        if not 0 <= item < len(self):
            raise IndexError(f"item {item} out of range for {len(self)} clips")
        sample = self.samples[self.video_of(item)]
        frames = self.read_clip_frames(sample, item % self.clips_per_video)
        return self.transform(frames), sample.label

    def read_clip_frames(self, sample: VideoSample, clip: int) -> torch.Tensor:
        """The uint8 frames ``(T, H, W, 3)`` of clip number ``clip`` of ``sample``."""
        with self.open_video(sample.path) as reader:
            first, stop = _window(sample, reader.info.num_frames, reader.info.fps)
            indices = self._clip_indices(sample.path, stop - first)[clip]
            return reader.read([first + index for index in indices])

    def open_video(self, path: str) -> ClipReader:
        """The reader of one video: a context manager with ``info`` and ``read(indices)``; subclasses override it."""
        return VideoReader(path)

    def _clip_indices(self, path: str, num_frames: int) -> list[list[int]]:
        try:
            return clip_indices(num_frames, self.clip_length, self.stride, self.mode, num_clips=self.clips_per_video)
        except ConvzooError as error:
            raise ConvzooError(f"{path} is too short: {error}") from None


def _window(sample: VideoSample, num_frames: int, fps: float) -> tuple[int, int]:
    """The frames ``[first, stop)`` inside the sample's time window (the whole video without one)."""
    first = 0 if sample.start is None else min(num_frames, math.ceil(sample.start * fps))
    stop = num_frames if sample.end is None else min(num_frames, math.floor(sample.end * fps))
    return first, max(first, stop)


def check_files_exist(paths: list[str], listed_in: str | os.PathLike) -> None:
    """Fail with one line naming the first of ``paths`` that is not a file, and the list that names it."""
    for path in paths:
        if not os.path.isfile(path):
            raise ConvzooError(f"{listed_in} names {path}, which does not exist")
