"""Small real video files written with PyAV: frame ``i`` has red ``10 * i + 20``, green ``230 - 10 * i``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

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
    av = pytest.importorskip("av")  # imported here: the other tests of this folder do not need PyAV
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = 5
        if codec == "libx264":
            stream.options = {"crf": "1"}
        else:
            stream.bit_rate = 4_000_000
        for index in range(num_frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pattern_frame(index), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def video_writer() -> Callable[..., Path]:
    return write_video
