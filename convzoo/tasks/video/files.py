"""Classifying a video file (or a folder of its frames) with a video checkpoint: ``convzoo predict``.

The file is read as the checkpoint's test videos were: ``eval_clips`` evenly spaced clips
of ``clip_length`` frames ``frame_stride`` apart, each frame's shorter side resized and the
centre cropped to the trained clip size, converted to gray for a gray network (the moving
digits), normalised with the training statistics; the softmax scores of the clips are
averaged into the video's. Only the clips' frames are decoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convzoo.data.video.clips import ClipReader
from convzoo.data.video.decode import VideoReader
from convzoo.data.video.frames import FrameFolderReader
from convzoo.data.video.sampling import VideoTransform, clip_indices
from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import CheckpointMeta

__all__ = ["VideoPrediction", "classify_video", "eval_transform", "open_video", "read_clips"]


@dataclass
class VideoPrediction:
    """A video's class scores: ``scores`` ``(K,)``, the mean softmax of its ``clips`` clips of its ``frames``."""

    scores: torch.Tensor
    clips: int
    frames: int


def open_video(path: str | os.PathLike) -> ClipReader:
    """The reader of a video file, or of a folder of its frames."""
    return FrameFolderReader(path) if Path(path).is_dir() else VideoReader(path)


def eval_transform(meta: CheckpointMeta) -> VideoTransform:
    """The test-time transform of the checkpoint's clips: resize, centre crop, its channels and statistics."""
    in_chans, _, _, crop = meta.input_size
    return VideoTransform(short_side=meta.task_args["short_side"], crop_size=crop, train=False,
                          mean=tuple(meta.mean), std=tuple(meta.std), in_chans=in_chans)


def read_clips(path: str | os.PathLike, meta: CheckpointMeta) -> tuple[torch.Tensor, int]:
    """The test clips ``(N, C, T, H, W)`` of the video at ``path`` as the checkpoint reads them, and its frame count."""
    settings = meta.task_args
    transform = eval_transform(meta)
    with open_video(path) as reader:
        frames = reader.info.num_frames
        try:
            clips = clip_indices(frames, settings["clip_length"], settings.get("frame_stride", 1), "uniform",
                                 num_clips=settings.get("eval_clips", 1))
        except ConvzooError as error:
            raise ConvzooError(f"{path} is too short: {error}") from None
        return torch.stack([transform(reader.read(indices)) for indices in clips]), frames


@torch.no_grad()
def classify_video(model: nn.Module, meta: CheckpointMeta, path: str | os.PathLike) -> VideoPrediction:
    """The class scores of the video at ``path``: the mean softmax of its test clips."""
    clips, frames = read_clips(path, meta)
    device = next(model.parameters()).device
    probabilities = model.eval()(clips.to(device)).float().softmax(dim=1)  # (N, K)
    return VideoPrediction(scores=probabilities.mean(dim=0).cpu(), clips=len(clips), frames=frames)
