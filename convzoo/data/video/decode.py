"""Decoding video files through PyAV, one clip at a time.

A :class:`VideoReader` opens a file's container, reads its first video stream's frame
count, frame rate and size from the headers, and decodes only the frames a clip asks for:
it seeks to the key frame at or before the first wanted frame (where the container has an
index), decodes forward from there and keeps the wanted frames as RGB, so a clip never
holds the whole video in memory.

Frame ``i`` is the ``i``-th frame in presentation order; it is found from a decoded
frame's timestamp, ``round((pts - start) * time_base * fps)``. A stream without
timestamps is decoded from its start and counted instead. A time slot the file stores no
picture for (an AVI's empty frames) shows the picture before it, as a player does.

Reading needs PyAV (``pip install av``, or ``pip install 'convzoo[video]'``); it is
imported when a video is opened, so convzoo itself imports without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import Any, Sequence

import numpy as np
import torch

from convzoo.errors import ConvzooError

__all__ = ["VideoInfo", "VideoReader", "probe_video", "read_frames", "require_av"]


def require_av() -> Any:
    """The ``av`` module, or a ConvzooError that says how to install it."""
    try:
        import av
    except ImportError:
        raise ConvzooError("reading video files needs PyAV: pip install 'convzoo[video]'") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What the headers of a video file say about its first video stream."""

    path: str
    num_frames: int
    fps: float
    height: int
    width: int


class VideoReader:
    """An open video file that decodes the frames of one clip at a time.

    Use it as a context manager (or call :meth:`close`); it holds the file open.

    Args:
        path: a video file in any container and codec FFmpeg reads (.avi, .mp4, .mkv, ...).

    Raises:
        ConvzooError: the file is missing, is not a video, or has no video frames.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise ConvzooError(f"video file {self.path} does not exist")
        av = require_av()
        try:
            self._container = av.open(self.path)
        except Exception as error:  # FFmpeg's errors for unreadable input come in many classes
            raise ConvzooError(f"{self.path} is not a readable video ({type(error).__name__}: {error})") from None
        try:
            self.info = self._read_info()
        except BaseException:
            self._container.close()
            raise

    def _read_info(self) -> VideoInfo:
        if not self._container.streams.video:
            raise ConvzooError(f"{self.path} has no video stream")
        stream = self._container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise ConvzooError(f"{self.path} has no frame rate in its headers")
        self._stream = stream
        self._rate = Fraction(rate)
        num_frames = stream.frames or self._count_packets()
        if num_frames <= 0:
            raise ConvzooError(f"{self.path} has no video frames")
        return VideoInfo(self.path, num_frames, float(self._rate), stream.height, stream.width)

    def _count_packets(self) -> int:
        """The frame count of a container that does not store it (.mkv, .webm): its packets, demuxed, not decoded."""
        count = sum(1 for packet in self._container.demux(self._stream) if packet.size > 0)
        self._container.seek(0)
        return count

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The frames at ``indices`` (any order, repeats allowed) as uint8 ``(T, H, W, 3)`` RGB."""
        if len(indices) == 0:
            raise ConvzooError(f"no frames asked of {self.path}")
        wanted = set(indices)
        if min(wanted) < 0 or max(wanted) >= self.info.num_frames:
            raise ConvzooError(
                f"frames {min(wanted)}..{max(wanted)} asked of {self.path}, which has {self.info.num_frames}"
            )
        decoded = self._decode_from_seek(wanted) if min(wanted) > 0 else None
        if decoded is None:
            decoded = self._decode_from_start(wanted)
        missing = wanted - decoded.keys()
        if missing:
            raise ConvzooError(
                f"{self.path} ended before frame {min(missing)} (its headers say {self.info.num_frames} frames)"
            )
        return torch.from_numpy(np.stack([decoded[index] for index in indices]))  # (T, H, W, 3)

    def _decode_from_seek(self, wanted: set[int]) -> dict[int, np.ndarray] | None:
        """Seek to the key frame before the first wanted frame and decode; None where the seek fails or overshoots."""
        first = min(wanted)
        target = (self._stream.start_time or 0) + self._pts_of(first)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except Exception:  # a container without an index cannot seek: FFmpeg's errors come in many classes
            return None
        decoded = self._decode(wanted, counted=False)
        return decoded if first in decoded else None

    def _decode_from_start(self, wanted: set[int]) -> dict[int, np.ndarray]:
        try:
            self._container.seek(0)
        except Exception as error:
            raise ConvzooError(f"cannot rewind {self.path}: {type(error).__name__}: {error}") from None
        return self._decode(wanted, counted=True)

    def _decode(self, wanted: set[int], counted: bool) -> dict[int, np.ndarray]:
        """Decode from where the container stands; ``counted``: it stands at the start, so positions are indices."""
        av = require_av()
        start = self._stream.start_time or 0
        decoded: dict[int, np.ndarray] = {}
        last = max(wanted)
        previous: tuple[int, Any] | None = None  # the last decoded frame before this one, and its index
        try:
            for position, frame in enumerate(self._container.decode(self._stream)):
                if frame.pts is None and not counted:
                    return {}  # no timestamps: only counting from the start tells the index
                index = position if frame.pts is None else self._index_of(frame.pts - start)
                if previous is not None:
                    _hold(previous, index, wanted, decoded)
                if index in wanted:
                    decoded[index] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
                if index >= last:
                    break
                previous = (index, frame)
        except av.error.FFmpegError as error:
            raise ConvzooError(f"cannot decode {self.path}: {error}") from None
        return decoded

    def _pts_of(self, index: int) -> int:
        return round(index / (self._rate * self._stream.time_base))

    def _index_of(self, pts: int) -> int:
        return round(pts * self._stream.time_base * self._rate)


def _hold(previous: tuple[int, Any], index: int, wanted: set[int], decoded: dict[int, np.ndarray]) -> None:
    """Give the wanted frames the file skips between ``previous`` and ``index`` the previous frame's pixels.

    A file may store no picture for some time slots (an AVI's empty "drop" frames, a
    variable-rate stream): its headers count them, and a player shows the previous
    picture for them, as this does.
    """
    previous_index, frame = previous
    skipped = [wanted_index for wanted_index in wanted if previous_index < wanted_index < index]
    if skipped:
        pixels = frame.to_ndarray(format="rgb24")  # (H, W, 3)
        for skipped_index in skipped:
            decoded[skipped_index] = pixels


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and size of the video at ``path``, from its headers."""
    with VideoReader(path) as reader:
        return reader.info


def read_frames(path: str | os.PathLike, indices: Sequence[int]) -> torch.Tensor:
    """The frames at ``indices`` of the video at ``path`` as uint8 ``(T, H, W, 3)`` RGB."""
    with VideoReader(path) as reader:
        return reader.read(indices)
