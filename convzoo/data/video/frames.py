"""Videos stored as folders of extracted frames, one folder per video, in class folders.

Layout (as frame-extraction scripts for UCF101 and Kinetics write it)::

    root/<class>/<video>/<frame image>     e.g. Basketball/v_Basketball_g01_c01/img_00001.jpg

Frames are the image files of a video's folder (:data:`~convzoo.data.images.IMAGE_SUFFIXES`), in
natural order (``img_2`` before ``img_10``); classes are ``root``'s subfolders, sorted;
hidden files and folders are skipped. Folders are listed when the dataset is built (an
empty video folder fails then, naming it); only the frames of the clip asked for are
decoded, with PIL, when an item is read. Items are the same ``(clip, label)`` as
:class:`~convzoo.data.video.clips.VideoClipDataset`'s.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from convzoo.data.images import IMAGE_SUFFIXES
from convzoo.data.video.clips import ClipReader, VideoClipDataset, VideoSample
from convzoo.data.video.decode import VideoInfo
from convzoo.data.video.sampling import ClipMode
from convzoo.errors import ConvzooError

__all__ = ["FrameFolderDataset", "FrameFolderReader", "list_frames", "load_frame_folders"]


def _natural_key(name: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frames(folder: str | os.PathLike) -> list[str]:
    """The frame images of ``folder`` in natural order; a ConvzooError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConvzooError(f"frame folder {folder} does not exist")
    names = [
        name for name in os.listdir(folder) if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)
    ]
    if not names:
        raise ConvzooError(f"frame folder {folder} has no frame images ({', '.join(IMAGE_SUFFIXES)})")
    return [str(folder / name) for name in sorted(names, key=_natural_key)]


class FrameFolderReader:
    """The frames of one video folder, read as a clip; the same interface as :class:`VideoReader`.

    Args:
        folder: the video's folder of frame images.
        fps: the frame rate the frames were extracted at (only time windows use it).
    """

    def __init__(self, folder: str | os.PathLike, fps: float = 25.0) -> None:
        self.frames = list_frames(folder)
        with self._open(self.frames[0]) as first:
            width, height = first.size
        self.info = VideoInfo(os.fspath(folder), len(self.frames), fps, height, width)

    @staticmethod
    def _open(path: str) -> Image.Image:
        try:
            return Image.open(path)
        except Exception as error:  # PIL fails in many ways on a file that is not an image
            raise ConvzooError(f"cannot read frame {path}: {type(error).__name__}: {error}") from None

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The frames at ``indices`` as uint8 ``(T, H, W, 3)`` RGB."""
        frames = []
        for index in indices:
            with self._open(self.frames[index]) as image:
                frame = np.asarray(image.convert("RGB"))  # (H, W, 3)
            if frame.shape[:2] != (self.info.height, self.info.width):
                raise ConvzooError(
                    f"frame {self.frames[index]} is {frame.shape[1]}x{frame.shape[0]}, "
                    f"the video's first frame {self.info.width}x{self.info.height}"
                )
            frames.append(frame)
        return torch.from_numpy(np.stack(frames))  # (T, H, W, 3)

    def __enter__(self) -> FrameFolderReader:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        return None


class FrameFolderDataset(VideoClipDataset):
    """Clips of videos stored as frame folders; the arguments of :class:`VideoClipDataset` plus ``fps``."""

    def __init__(self, samples: list[VideoSample], classes: list[str], *, fps: float = 25.0, **kwargs: Any) -> None:
        super().__init__(samples, classes, **kwargs)
        self.fps = fps

    def open_video(self, path: str) -> ClipReader:
        return FrameFolderReader(path, self.fps)


def _visible_subfolders(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def load_frame_folders(
    root: str | os.PathLike,
    *,
    clip_length: int = 16,
    stride: int = 1,
    mode: ClipMode = "random",
    clips_per_video: int = 1,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    fps: float = 25.0,
) -> FrameFolderDataset:
    """The videos under ``root/<class>/<video>/`` as a dataset of ``(clip, label)``.

    Args:
        root: the folder of class folders.
        clip_length, stride, mode, clips_per_video, transform: as :class:`VideoClipDataset`.
        fps: the frame rate the frames were extracted at.

    Raises:
        ConvzooError: ``root`` is missing or has no class folders, or a video folder has no frames.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConvzooError(f"frame folder root {root} does not exist")
    class_folders = _visible_subfolders(root)
    if not class_folders:
        raise ConvzooError(f"{root} has no class folders (expected root/<class>/<video>/<frames>)")
    samples = []
    for label, class_folder in enumerate(class_folders):
        for video in _visible_subfolders(class_folder):
            list_frames(video)  # an empty video folder fails now, not in a DataLoader worker
            samples.append(VideoSample(str(video), label))
    return FrameFolderDataset(
        samples,
        [folder.name for folder in class_folders],
        fps=fps,
        clip_length=clip_length,
        stride=stride,
        mode=mode,
        clips_per_video=clips_per_video,
        transform=transform,
    )
