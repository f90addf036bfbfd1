"""Moving-digit clips written as real video files in UCF101's layout and as folders of frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from helpers import write_video_frames

from convzoo.data.video.moving_digits import CLASS_NAMES, generate_moving_digits

CLASSES = ["east", "north", "west"]  # three of the moving digits' motions
FRAMES, SIDE = 20, 32
TRAIN_GROUPS, TEST_GROUPS = (8, 9), (1,)  # UCF101's split 1 tests groups 1-7


def rgb_frames(clip) -> np.ndarray:
    """A gray clip ``(1, T, S, S)`` in [0, 1] as uint8 RGB frames ``(T, S, S, 3)``."""
    return (clip[0].numpy() * 255).round().astype(np.uint8)[..., None].repeat(3, axis=-1)


def clips_of(name: str, count: int, seed: int) -> list[np.ndarray]:
    """``count`` clips of motion ``name`` as RGB frames."""
    clips, labels = generate_moving_digits(16 * count, frames=FRAMES, side=SIDE, seed=seed)
    chosen = (labels == CLASS_NAMES.index(name)).nonzero().flatten()[:count]
    return [rgb_frames(clips[index]) for index in chosen]


def ucf_video(class_name: str, group: int) -> str:
    return f"{class_name}/v_{class_name}_g{group:02d}_c01.avi"


def write_ucf101(root: Path) -> Path:
    """Three classes, two training videos and one test video each, split 1; class folders named by motion."""
    for label, name in enumerate(CLASSES):
        frames = clips_of(name, len(TRAIN_GROUPS) + len(TEST_GROUPS), seed=label)
        for group, clip in zip(TRAIN_GROUPS + TEST_GROUPS, frames):
            write_video_frames(root / ucf_video(name, group), clip)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i} {name}\r\n" for i, name in enumerate(CLASSES, 1)))
    (lists / "trainlist01.txt").write_text(
        "".join(f"{ucf_video(name, g)} {i}\r\n" for i, name in enumerate(CLASSES, 1) for g in TRAIN_GROUPS))
    (lists / "testlist01.txt").write_text("".join(f"{ucf_video(name, g)}\r\n" for name in CLASSES for g in TEST_GROUPS))
    return root


def write_frame_folders(root: Path, classes: list[str], videos: int = 1) -> Path:
    for label, name in enumerate(classes):
        for number, clip in enumerate(clips_of(name, videos, seed=label)):
            folder = root / name / f"video{number}"
            folder.mkdir(parents=True)
            for index, frame in enumerate(clip):
                Image.fromarray(frame).save(folder / f"frame{index + 1}.png")
    return root
