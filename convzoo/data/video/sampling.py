"""Clip sampling and the per-clip transforms of video classification.

A clip is ``clip_length`` frames taken every ``stride`` frames, so it spans
``(clip_length - 1) * stride + 1`` frames of the video. Two ways to choose clips:

* ``"random"`` (training): one clip whose first frame is drawn uniformly from every
  start that fits, from a seeded ``torch.Generator`` or torch's global generator;
* ``"uniform"`` (evaluation): ``num_clips`` clips with evenly spaced starts from the
  first fitting start to the last (one clip: the centre one), the clips whose scores
  C3D averages into a video-level prediction (Tran et al., ICCV 2015).

The transforms work on float clips ``(C, T, H, W)`` in [0, 1], the layout of 3D
convolutional networks: resize of the shorter side, centre or random crop, horizontal
flip, and normalisation with the Kinetics-400 mean and std that torchvision's video
models (``r3d_18``, ``mc3_18``, ``r2plus1d_18``) were trained with. :class:`VideoTransform`
chains them as torchvision's video recipe does: shorter side 128, crop 112, flip when
training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from convzoo.errors import ConvzooError

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "ClipMode",
    "VideoTransform",
    "center_crop",
    "clip_indices",
    "clip_span",
    "frames_to_clip",
    "horizontal_flip",
    "normalize_clip",
    "random_crop",
    "to_gray",
    "resize_short_side",
]

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

ClipMode = Literal["uniform", "random"]


def clip_span(clip_length: int, stride: int = 1) -> int:
    """How many consecutive frames a clip of ``clip_length`` frames taken every ``stride`` frames covers."""
    if clip_length < 1 or stride < 1:
        raise ConvzooError(f"clip_length and stride must be >= 1, got {clip_length} and {stride}")
    return (clip_length - 1) * stride + 1


def clip_indices(
    num_frames: int,
    clip_length: int,
    stride: int = 1,
    mode: ClipMode = "uniform",
    *,
    num_clips: int = 1,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """The frame indices of the clips to take from a video of ``num_frames`` frames.

    Args:
        num_frames: frames in the video (or in the window of it the clips come from).
        clip_length: frames per clip.
        stride: distance between consecutive frames of a clip.
        mode: ``"uniform"`` for ``num_clips`` evenly spaced clips, ``"random"`` for one clip at a random start.
        num_clips: clips of ``"uniform"``; ``"random"`` takes one.
        generator: the random start's generator (torch's global one when None).

    Returns:
        One list of ``clip_length`` frame indices per clip.

    Raises:
        ConvzooError: the video is shorter than one clip, or an unknown mode.
    """
    span = clip_span(clip_length, stride)
    if num_frames < span:
        raise ConvzooError(
            f"a clip of {clip_length} frames at stride {stride} spans {span} frames; the video has {num_frames}"
        )
    last_start = num_frames - span
    if mode == "random":
        starts = [int(torch.randint(last_start + 1, (), generator=generator))]
    elif mode == "uniform":
        if num_clips < 1:
            raise ConvzooError(f"num_clips must be >= 1, got {num_clips}")
        if num_clips == 1:
            starts = [last_start // 2]
        else:
            starts = [round(k * last_start / (num_clips - 1)) for k in range(num_clips)]
    else:
        raise ConvzooError(f"clip sampling mode must be 'uniform' or 'random', got {mode!r}")
    return [list(range(start, start + span, stride)) for start in starts]


def frames_to_clip(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` as a float clip ``(3, T, H, W)`` in [0, 1]."""
    return frames.permute(3, 0, 1, 2).float().div_(255)


# ITU-R BT.601 luma weights, PIL's convert("L").
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_gray(clip: torch.Tensor) -> torch.Tensor:
    """An RGB clip ``(3, T, H, W)`` as its luma ``(1, T, H, W)`` (BT.601 weights, as PIL's ``convert("L")``)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=clip.dtype).view(3, 1, 1, 1)
    return (clip * weights).sum(dim=0, keepdim=True)


def resize_short_side(frames: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 frames ``(T, H, W, 3)`` so their shorter side is ``size`` (bilinear, antialiased), still uint8.

    The frames are resized as 8-bit channels-last images, PyTorch's vectorised kernel for
    them (the one torchvision's v2 transforms use): about 25 times faster than resizing the
    float clip, and within one level of 255 of it.
    """
    height, width = frames.shape[1:3]
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    if new_size == (height, width):
        return frames
    images = frames.permute(0, 3, 1, 2)  # (T, 3, H, W) over channels-last memory: no copy
    resized = F.interpolate(images, size=new_size, mode="bilinear", align_corners=False, antialias=True)
    return resized.permute(0, 2, 3, 1)  # (T, H', W', 3)


def _check_crop(clip: torch.Tensor, size: int) -> None:
    height, width = clip.shape[-2:]
    if size > min(height, width):
        raise ConvzooError(f"a crop of {size}x{size} does not fit in frames of {height}x{width}")


def center_crop(clip: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` window of every frame of ``clip`` ``(C, T, H, W)``."""
    _check_crop(clip, size)
    height, width = clip.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return clip[..., top : top + size, left : left + size]


def random_crop(clip: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random ``size`` x ``size`` window, the same in every frame of ``clip`` ``(C, T, H, W)``."""
    _check_crop(clip, size)
    height, width = clip.shape[-2:]
    top = int(torch.randint(height - size + 1, (), generator=generator))
    left = int(torch.randint(width - size + 1, (), generator=generator))
    return clip[..., top : top + size, left : left + size]


def horizontal_flip(clip: torch.Tensor) -> torch.Tensor:
    """``clip`` ``(C, T, H, W)`` mirrored left to right."""
    return clip.flip(-1)


def normalize_clip(
    clip: torch.Tensor,
    mean: tuple[float, ...] = KINETICS_MEAN,
    std: tuple[float, ...] = KINETICS_STD,
) -> torch.Tensor:
    """``(clip - mean) / std`` per channel of ``clip`` ``(C, T, H, W)``; Kinetics-400's statistics by default."""
    mean_t = torch.tensor(mean, dtype=clip.dtype).view(-1, 1, 1, 1)
    std_t = torch.tensor(std, dtype=clip.dtype).view(-1, 1, 1, 1)
    return (clip - mean_t) / std_t


@dataclass(frozen=True)
class VideoTransform:
    """uint8 frames ``(T, H, W, 3)`` to a normalised float clip ``(in_chans, T, crop_size, crop_size)``.

    Training: shorter side resized, random crop, horizontal flip half of the time;
    evaluation: shorter side resized, centre crop. Picklable, for DataLoader workers.

    Args:
        short_side: frames are resized so their shorter side has this many pixels.
        crop_size: side of the square crop.
        train: random crop and flip (True) or centre crop (False).
        mean: per-channel mean subtracted (Kinetics-400's by default).
        std: per-channel std divided by.
        generator: source of the crop and flip (torch's global generator when None).
        in_chans: 3 for RGB clips, 1 for their luma (:func:`to_gray`; give a one-value ``mean`` and ``std``).
    """

    short_side: int = 128
    crop_size: int = 112
    train: bool = False
    mean: tuple[float, ...] = KINETICS_MEAN
    std: tuple[float, ...] = KINETICS_STD
    generator: torch.Generator | None = None
    in_chans: int = 3

    def __post_init__(self) -> None:
        if self.crop_size > self.short_side:
            raise ConvzooError(f"crop_size {self.crop_size} is larger than short_side {self.short_side}")
        if self.in_chans not in (1, 3):
            raise ConvzooError(f"video clips have 3 channels (RGB) or 1 (gray), not {self.in_chans}")
        if not len(self.mean) == len(self.std) == self.in_chans:
            raise ConvzooError(f"{self.in_chans}-channel clips need {self.in_chans} means and stds, "
                               f"got {len(self.mean)} and {len(self.std)}")

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        clip = frames_to_clip(resize_short_side(frames, self.short_side))  # (3, T, H, W)
        if self.in_chans == 1:
            clip = to_gray(clip)  # (1, T, H, W)
        if self.train:
            clip = random_crop(clip, self.crop_size, self.generator)
            if torch.rand((), generator=self.generator) < 0.5:
                clip = horizontal_flip(clip)
        else:
            clip = center_crop(clip, self.crop_size)
        return normalize_clip(clip, self.mean, self.std)
