"""UCF101 action recognition videos, in the layout the dataset is distributed in.

Paper: UCF101: A Dataset of 101 Human Actions Classes From Videos in The Wild
(Soomro, Zamir, Shah, CRCV-TR-12-01 2012) https://arxiv.org/abs/1212.0402

Layout (``UCF101.rar`` and ``UCF101TrainTestSplits-RecognitionTask.zip`` extracted)::

    root/<ClassName>/v_<ClassName>_gXX_cYY.avi      the videos, one folder per class
    annotations/classInd.txt                         "1 ApplyEyeMakeup", one class per line, 1-based
    annotations/trainlist0N.txt                      "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    annotations/testlist0N.txt                       "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

``annotations`` is ``root/ucfTrainTestlist`` unless given. Splits 1-3 are the three
official train/test partitions by group (the 25 actors' groups: 7 for testing each time).
A test list has no labels: a video's label is its class folder's. Every listed video is
checked to exist when the dataset is built (no decoding); clips are decoded when read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch

from convzoo.data.video.clips import VideoClipDataset, VideoSample, check_files_exist
from convzoo.data.video.sampling import ClipMode
from convzoo.errors import ConvzooError

__all__ = ["UCF101_SPLITS", "load_ucf101", "read_class_index", "read_split_list"]

UCF101_SPLITS = (1, 2, 3)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ConvzooError(f"UCF101 annotation file {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def read_class_index(path: str | os.PathLike) -> list[str]:
    """The class names of ``classInd.txt`` in label order (its 1-based numbers become 0-based labels)."""
    path = Path(path)
    numbered: dict[int, str] = {}
    for line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ConvzooError(f"{path}: expected lines '<number> <ClassName>', got {line!r}")
        numbered[int(parts[0])] = parts[1]
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise ConvzooError(f"{path}: class numbers must run 1..{len(numbered)}")
    return [numbered[number] for number in range(1, len(numbered) + 1)]


def read_split_list(path: str | os.PathLike, classes: list[str]) -> list[tuple[str, int]]:
    """``(relative video path, 0-based label)`` for every line of a train or test list.

    A train list's label is its second column (1-based); a test list's is the video's class folder.
    """
    path = Path(path)
    label_of = {name: label for label, name in enumerate(classes)}
    entries = []
    for line in _lines(path):
        parts = line.split()
        relative = parts[0]
        folder = relative.split("/")[0]
        if folder not in label_of:
            raise ConvzooError(f"{path}: {relative} is in class folder {folder!r}, not in classInd.txt")
        if len(parts) > 1 and not parts[1].isdigit():
            raise ConvzooError(f"{path}: expected lines '<video path> [<label number>]', got {line!r}")
        label = int(parts[1]) - 1 if len(parts) > 1 else label_of[folder]
        if not 0 <= label < len(classes):
            raise ConvzooError(f"{path}: label {label + 1} of {relative} is not in 1..{len(classes)}")
        entries.append((relative, label))
    return entries


def load_ucf101(
    root: str | os.PathLike,
    *,
    split: int = 1,
    train: bool = True,
    annotations: str | os.PathLike | None = None,
    clip_length: int = 16,
    stride: int = 1,
    mode: ClipMode | None = None,
    clips_per_video: int = 1,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> VideoClipDataset:
    """The training or test videos of one UCF101 split as a dataset of ``(clip, label)``.

    Args:
        root: the folder of the class folders.
        split: 1, 2 or 3.
        train: the split's ``trainlist`` (True) or ``testlist`` (False).
        annotations: the folder of ``classInd.txt`` and the lists; default ``root/ucfTrainTestlist``.
        clip_length: frames per clip.
        stride: distance between consecutive frames of a clip.
        mode: clip sampling; default ``"random"`` for training, ``"uniform"`` for testing.
        clips_per_video: clips per video in ``"uniform"`` mode.
        transform: uint8 frames ``(T, H, W, 3)`` to the clip; see :class:`VideoClipDataset`.

    Raises:
        ConvzooError: an unknown split, a missing or malformed annotation file, or a listed video that is missing.
    """
    if split not in UCF101_SPLITS:
        raise ConvzooError(f"UCF101 split must be one of {UCF101_SPLITS}, got {split}")
    root = Path(root)
    annotations = Path(annotations) if annotations is not None else root / "ucfTrainTestlist"
    classes = read_class_index(annotations / "classInd.txt")
    split_file = annotations / f"{'train' if train else 'test'}list0{split}.txt"
    entries = read_split_list(split_file, classes)
    samples = [VideoSample(str(root / relative), label) for relative, label in entries]
    check_files_exist([sample.path for sample in samples], split_file)
    return VideoClipDataset(
        samples,
        classes,
        clip_length=clip_length,
        stride=stride,
        mode=mode if mode is not None else ("random" if train else "uniform"),
        clips_per_video=clips_per_video,
        transform=transform,
    )
