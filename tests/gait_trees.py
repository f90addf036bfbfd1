"""Small CASIA-B trees of raw silhouette PNGs, drawn from generated walkers, for the gait tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from convzoo.data.gait.sequences import CONDITIONS, GaitSequence
from convzoo.data.gait.walkers import render_frame, sample_walker

RAW_SHAPE = (240, 320)  # (H, W) of CASIA-B's silhouette frames


def raw_frame(walker, condition: str, view: int, phase: float, shift: int) -> np.ndarray:
    """A walker's drawing pasted into a CASIA-B-sized frame, ``shift`` columns right of the left edge."""
    drawing = render_frame(walker, condition, view, phase, walker.lean, np.zeros(6), (walker.arm_swing,) * 2)
    frame = np.zeros(RAW_SHAPE, np.uint8)
    frame[20:20 + drawing.shape[0], shift:shift + drawing.shape[1]] = drawing  # (192, 256) inside (240, 320)
    return frame


def write_casia_b_tree(root: str | Path, subjects: int = 3, views: Sequence[int] = (0, 90, 180), frames: int = 3,
                       seed: int = 0) -> Path:
    """Write ``root/<subject>/<type>-<index>/<view>/<subject>-<type>-<index>-<view>-<frame>.png``.

    Subjects ``001`` .. are generated walkers (seeded by ``seed`` and their number); every
    condition of CASIA-B (nm-01..06, bg-01..02, cl-01..02) from each of ``views``, ``frames``
    frames of 240x320 each, the walker moving across the frame. Returns ``root``.
    """
    root = Path(root)
    for n in range(1, subjects + 1):
        walker = sample_walker(np.random.default_rng([seed, n]))
        for condition, count in CONDITIONS.items():
            for index in range(1, count + 1):
                for view in views:
                    sequence = GaitSequence(f"{n:03d}", condition, index, view)
                    folder = root / sequence.name
                    folder.mkdir(parents=True, exist_ok=True)
                    for t in range(frames):
                        phase = index + t * 2 * math.pi / max(frames, 2)
                        image = raw_frame(walker, condition, view, phase, shift=10 + 20 * (t % 3))
                        stem = sequence.name.replace("/", "-")
                        Image.fromarray(image).save(folder / f"{stem}-{t + 1:03d}.png")
    return root
