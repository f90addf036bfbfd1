"""Small real video files written with PyAV: frame ``i`` has red ``10 * i + 20``, green ``230 - 10 * i``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from helpers import write_video_frames

HEIGHT, WIDTH, FPS = 24, 32, 10


def frame_red(index: int) -> int:
    """The red level written into every pixel of frame ``index``."""
    return 10 * index + 20


def pattern_frame(index: int) -> np.ndarray:
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[..., 0] = frame_red(index)
    frame[..., 1] = 230 - 10 * index
    frame[..., 2] = 128
    return frame


def write_video(path: Path, num_frames: int = 20, codec: str = "mpeg4") -> Path:
    """Write ``num_frames`` pattern frames of 32x24 at 10 fps, a key frame every 5, to ``path``."""
    frames = np.stack([pattern_frame(index) for index in range(num_frames)])
    return write_video_frames(path, frames, fps=FPS, codec=codec)


@pytest.fixture
def video_writer() -> Callable[..., Path]:
    return write_video
