"""Moving digits: the embedded default of the video task, clips labelled by how a digit moves.

Each clip shows one handwritten digit (scikit-learn's bundled 8x8 digits, upscaled)
gliding over a still, textured gray background (a crop of a photograph that
scikit-image or scikit-learn ships), so it needs no download. The label is the MOTION,
never the digit: one of the 12 classes of :data:`CLASS_NAMES`::

    0 east   1 northeast   2 north   3 northwest   4 west   5 southwest   6 south   7 southeast
    8 bounce_east_west            9 bounce_north_south
    10 bounce_northeast_southwest 11 bounce_northwest_southeast

The eight directional classes move at constant speed the whole clip ("north" is up the
image). A bounce moves along its axis, in either sense (drawn at random), for the first
half of the clip, then turns and comes back along the same line, so its last frame is
its first again (for an even frame count, the two middle frames are the turn and hold
the same position).

Why a single frame cannot tell the class: the digit, its start position, the
background crop, the ink level and the speed (:data:`SPEED_RANGE` pixels per frame,
scaled with the side) are all drawn independently of the label, and the digit wraps
around the frame's edges (the frame is a torus). With the start uniform over the torus,
the digit's position in EVERY frame is uniform, whatever the label, so each frame on
its own has the same distribution for all 12 classes. (Keeping the whole motion inside
the frame instead would leak: an eastbound digit would have to start on the left.) The
class lives only in how frames follow each other: a clip moving east, played backwards,
is a clip moving west from another, equally likely, start. So a 2D network that scores
frames and averages the scores over time stays near chance (at best it can pick up weak
statistics of the set of positions), while a 3D network, whose kernels slide over time,
sees the motion.

Sizes (the defaults keep a CPU epoch short): clips of :data:`FRAMES` = 16 frames of
:data:`SIDE` = 32 pixels a side, the digit's box half the side (16 pixels; its ink spans
about 13); 64 KiB per float32 clip. Labels are exactly balanced: ``count // 12`` clips
per class, the first ``count % 12`` classes one more, in a shuffled order. All clips of
a call are drawn at once with batched tensor operations (the digit layer is shifted by
bilinear sampling with circular wrap), in chunks to bound memory.

Rendering: the 8x8 digit comes from :mod:`convzoo.data.segmentation.scenes`' pool (padded,
bicubically upsampled to 32x32, strokes bolded), is shrunk to its box and read as ink
coverage ``a`` in [0, 1]; a frame is ``background * (1 - a) + ink * a``, with the
background's luminance squeezed into :data:`BACKGROUND_RANGE` and the ink level drawn
from :data:`INK_RANGE`, so the digit is always brighter than the texture under it.

Splits (:func:`moving_digits_splits`): the training clips come from ``seed`` and the
training digits, validation and test clips from fixed seeds (:data:`VAL_SEED`,
:data:`TEST_SEED`) and the digits held out by the classification split, so every run is
scored on the same clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convzoo.data.segmentation.scenes import digit_pools, texture_crops
from convzoo.data.splits import LUMA_WEIGHTS
from convzoo.errors import ConvzooError

__all__ = [
    "BACKGROUND_RANGE",
    "CLASS_NAMES",
    "CLIP_COUNTS",
    "FRAMES",
    "INK_RANGE",
    "MIN_FRAMES",
    "MIN_SIDE",
    "SIDE",
    "SPEED_RANGE",
    "TEST_SEED",
    "VAL_SEED",
    "MovingDigits",
    "MovingDigitsBatch",
    "draw_moving_digits",
    "generate_moving_digits",
    "moving_digits_splits",
]

DIRECTIONS = ("east", "northeast", "north", "northwest", "west", "southwest", "south", "southeast")
BOUNCES = (
    "bounce_east_west",
    "bounce_north_south",
    "bounce_northeast_southwest",
    "bounce_northwest_southeast",
)
CLASS_NAMES = DIRECTIONS + BOUNCES
FRAMES = 16
SIDE = 32
MIN_FRAMES = 4
MIN_SIDE = 16
SPEED_RANGE = (1.0, 2.0)  # pixels per frame at side 32, scaled with the side
BACKGROUND_RANGE = (0.0, 0.6)  # the texture's luminance is mapped into this range
INK_RANGE = (0.85, 1.0)
CLIP_COUNTS = {"train": 4800, "val": 600, "test": 600}
VAL_SEED = 1_000_003
TEST_SEED = 2_000_029

_CHUNK = 512  # clips rendered at a time
# Angle of each class's (first) direction in degrees, counter-clockwise from east.
_ANGLES = tuple(45.0 * k for k in range(len(DIRECTIONS))) + (0.0, 90.0, 45.0, 135.0)


@dataclass
class MovingDigitsBatch:
    """Clips with what drew them.

    Attributes:
        clips: float32 ``(N, 1, T, S, S)`` in [0, 1].
        labels: int64 ``(N,)``, indices into :data:`CLASS_NAMES`.
        backgrounds: float32 ``(N, 1, S, S)``, the still background of each clip.
        positions: float32 ``(N, T, 2)``, the digit box's top-left corner ``(x, y)`` in
            pixels per frame (x right, y down), unwrapped: take it modulo ``S`` for the
            position in the frame.
        digits: int64 ``(N,)``, which digit (0-9) each clip shows.
    """

    clips: torch.Tensor
    labels: torch.Tensor
    backgrounds: torch.Tensor
    positions: torch.Tensor
    digits: torch.Tensor


def _balanced_labels(count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` labels, every class as often as possible, in a random order."""
    labels = torch.arange(count) % len(CLASS_NAMES)
    return labels[torch.randperm(count, generator=generator)]


def _paths(labels: torch.Tensor, frames: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """The digit's unwrapped top-left corner per clip and frame ``(N, T, 2)``: start and speed ignore the label."""
    count = len(labels)
    start = side * torch.rand(count, 2, generator=generator)  # uniform over the torus
    low, high = SPEED_RANGE
    speed = (low + (high - low) * torch.rand(count, generator=generator)) * side / SIDE  # (N,)
    angle = torch.deg2rad(torch.tensor(_ANGLES)[labels])
    sense = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    sense = torch.where(labels < len(DIRECTIONS), 1.0, sense)  # a bounce may start either way
    velocity = (speed * sense)[:, None] * torch.stack([torch.cos(angle), -torch.sin(angle)], -1)  # (N, 2), y down
    time = torch.arange(frames, dtype=torch.float32)
    middle = (frames - 1) / 2
    bounce = middle - (time - middle).abs()  # out for half the clip, then back to the start
    travel = torch.where((labels < len(DIRECTIONS))[:, None], time, bounce)  # (N, T) in frames of motion
    return start[:, None] + travel[..., None] * velocity[:, None]


def _digit_layer(images: torch.Tensor, side: int) -> torch.Tensor:
    """Digit coverage maps ``(N, 1, 32, 32)`` shrunk to a box of half the side, in the top-left of a ``side`` canvas."""
    box = side // 2
    sprites = F.interpolate(images, size=(box, box), mode="bilinear", antialias=True, align_corners=False)
    return F.pad(sprites.clamp(0.0, 1.0), (0, side - box, 0, side - box))  # (N, 1, S, S)


def _shift_with_wrap(layer: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Each clip's layer ``(N, 1, S, S)`` moved to each of its positions ``(N, T, 2)``, wrapping: ``(N, T, S, S)``."""
    count, frames = positions.shape[:2]
    side = layer.shape[-1]
    padded = F.pad(layer, (0, 1, 0, 1), mode="circular")  # (N, 1, S+1, S+1): column/row S is column/row 0
    pixel = torch.arange(side, dtype=torch.float32)
    # Frame pixel (i, j) shows layer pixel ((i - y) mod S, (j - x) mod S).
    source_x = torch.remainder(pixel - positions[..., 0, None], side)  # (N, T, S)
    source_y = torch.remainder(pixel - positions[..., 1, None], side)
    grid = torch.stack(
        [source_x[:, :, None, :].expand(-1, -1, side, -1), source_y[:, :, :, None].expand(-1, -1, -1, side)], -1
    )  # (N, T, S, S, 2)
    grid = grid.view(count * frames, side, side, 2) * (2.0 / side) - 1.0  # align_corners: 0..S -> -1..1
    inputs = padded.repeat_interleave(frames, dim=0)  # (N*T, 1, S+1, S+1)
    moved = F.grid_sample(inputs, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return moved.view(count, frames, side, side)


def _backgrounds(count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """Gray texture crops ``(N, 1, S, S)`` with values in :data:`BACKGROUND_RANGE`."""
    crops = texture_crops(count, side, generator)  # (N, 3, S, S), recoloured
    luma = torch.einsum("nchw,c->nhw", crops, torch.tensor(LUMA_WEIGHTS))[:, None]
    low, high = BACKGROUND_RANGE
    return low + (high - low) * luma.clamp(0.0, 1.0)


def _check_sizes(count: int, frames: int, side: int) -> None:
    if count < 1:
        raise ConvzooError(f"moving digits: count must be a positive number of clips, not {count}")
    if frames < MIN_FRAMES:
        raise ConvzooError(f"moving digits need at least {MIN_FRAMES} frames per clip, not {frames}")
    if side < MIN_SIDE:
        raise ConvzooError(f"moving digits need a side of at least {MIN_SIDE} pixels, not {side}")


def draw_moving_digits(
    count: int, *, frames: int = FRAMES, side: int = SIDE, seed: int = 0, split: str = "train"
) -> MovingDigitsBatch:
    """``count`` clips drawn from ``seed`` with the digits of ``split``, with their backgrounds and paths.

    Deterministic given the arguments. See the module docstring for how a clip is drawn.
    """
    _check_sizes(count, frames, side)
    pools = digit_pools()
    if split not in pools:
        raise ConvzooError(f"moving digits draw the digits of split 'train', 'val' or 'test', not {split!r}")
    pool_images, pool_digits = pools[split]
    generator = torch.Generator().manual_seed(seed)
    labels = _balanced_labels(count, generator)
    which = torch.randint(len(pool_digits), (count,), generator=generator)
    backgrounds = _backgrounds(count, side, generator)
    positions = _paths(labels, frames, side, generator)
    low, high = INK_RANGE
    ink = low + (high - low) * torch.rand(count, 1, 1, 1, generator=generator)

    clips = torch.empty(count, 1, frames, side, side)
    for first in range(0, count, _CHUNK):
        part = slice(first, first + _CHUNK)
        coverage = _shift_with_wrap(_digit_layer(pool_images[which[part]], side), positions[part])  # (n, T, S, S)
        clips[part, 0] = backgrounds[part] * (1 - coverage) + ink[part] * coverage
    return MovingDigitsBatch(clips.clamp_(0.0, 1.0), labels, backgrounds, positions, pool_digits[which])


def generate_moving_digits(
    count: int, *, frames: int = FRAMES, side: int = SIDE, seed: int = 0, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` moving-digit clips and their motion labels, deterministic given ``seed``.

    Args:
        count: number of clips.
        frames: frames per clip ``T`` (at least :data:`MIN_FRAMES`).
        side: frame side ``S`` in pixels (at least :data:`MIN_SIDE`).
        seed: seed of everything drawn.
        split: whose digits are shown: ``"train"``, ``"val"`` or ``"test"`` (the fixed
            classification split of :func:`convzoo.data.digits.split_indices`).

    Returns:
        clips float32 ``(count, 1, T, S, S)`` in [0, 1] and labels int64 ``(count,)``,
        indices into :data:`CLASS_NAMES`.
    """
    batch = draw_moving_digits(count, frames=frames, side=side, seed=seed, split=split)
    return batch.clips, batch.labels


class MovingDigits(Dataset):
    """Moving-digit clips held in memory, as ``(clip, label)`` pairs.

    Args:
        count: number of clips.
        frames: frames per clip ``T``.
        side: frame side ``S`` (``H = W = S``).
        seed: seed of the clips.
        split: whose digits are shown (``"train"``, ``"val"``, ``"test"``).
        in_chans: 1 for gray clips, 3 for the gray repeated as RGB.

    Shape:
        clip: float32 ``(in_chans, T, S, S)`` in [0, 1]; label: an ``int``.
    """

    class_names = CLASS_NAMES

    def __init__(
        self,
        count: int,
        *,
        frames: int = FRAMES,
        side: int = SIDE,
        seed: int = 0,
        split: str = "train",
        in_chans: int = 1,
    ) -> None:
        if in_chans not in (1, 3):
            raise ConvzooError(f"moving digits: in_chans must be 1 (gray) or 3 (gray as RGB), not {in_chans}")
        self.clips, self.labels = generate_moving_digits(count, frames=frames, side=side, seed=seed, split=split)
        self.in_chans = in_chans

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        clip = self.clips[index]  # (1, T, S, S)
        if self.in_chans == 3:
            clip = clip.expand(3, -1, -1, -1)
        return clip, int(self.labels[index])


def moving_digits_splits(
    *, seed: int = 0, frames: int = FRAMES, side: int = SIDE, in_chans: int = 1, counts: dict[str, int] | None = None
) -> dict[str, MovingDigits]:
    """Train, validation and test sets: training clips from ``seed``, the others from :data:`VAL_SEED` and :data:`TEST_SEED`.

    ``counts`` maps each split to its number of clips (:data:`CLIP_COUNTS` by default);
    each split shows only its own digits.
    """
    counts = dict(CLIP_COUNTS if counts is None else counts)
    if set(counts) != set(CLIP_COUNTS):
        raise ConvzooError(
            f"moving digits: counts must name the splits 'train', 'val' and 'test', not {sorted(counts)}"
        )
    seeds = {"train": seed, "val": VAL_SEED, "test": TEST_SEED}
    return {
        split: MovingDigits(counts[split], frames=frames, side=side, seed=seeds[split], split=split, in_chans=in_chans)
        for split in CLIP_COUNTS
    }
