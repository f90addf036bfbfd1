"""Digit scenes: the embedded 2-D segmentation default, generated offline from a seed.

Each scene is an RGB image of natural texture with one to three handwritten digits
drawn on it, and a mask that gives every pixel its class: 0 for the background, ``d + 1``
for a pixel of the digit ``d`` (11 classes, named ``"background", "0", ..., "9"``).
Everything comes from files that scikit-learn and scikit-image ship, so it needs no
download:

* digits: scikit-learn's 1,797 handwritten 8x8 digits (:mod:`convzoo.data.digits`),
  split by the fixed indices of the classification split, so the test
  scenes hold digit images that no training scene shows;
* textures: random crops of the bundled photographs (:mod:`convzoo.data.natural_images`),
  each photograph first shrunk so a crop holds structure rather than a flat patch, with
  its colour channels shuffled and, half the time, inverted.

How a scene is drawn (side ``S``, 64 by default):

1. The scene is cut into four quadrants; 1-3 of them (uniformly) get a digit, so digits
   never overlap. A digit's box is ``0.31 S``-``0.44 S`` wide (20-28 pixels at 64),
   placed at a random position inside its quadrant and rotated by up to 15 degrees.
2. The 8x8 digit is upsampled (bicubic to 32x32, then bilinear sampling through the box's
   affine map); its intensity ``a`` in [0, 1] is the digit's coverage of each pixel. The
   mask labels a pixel with the digit's class where ``a >= 0.5``. The strokes are made
   bolder first (a 3x3 max filter at 32x32), so that they are several pixels wide in the
   scene: on thinner strokes a one-pixel error along a boundary would halve a digit's IoU,
   and the score would measure edge placement more than recognition.
3. The ink is a random colour, textured by a second photograph crop, laid over the
   texture with opacity ``0.9-1.0`` times ``a``. Its colour is drawn until its luminance
   differs by at least 0.4 from the texture's under that digit, so every digit is visible,
   in colour and in gray; but ink may be brighter or darker than its surroundings and of
   any hue, so no per-pixel colour rule separates digits from texture (the test suite
   checks a per-pixel classifier fails), and only the digit's shape tells its class.

Splits: the training scenes come from ``seed`` and the training digits; validation and
test scenes from fixed seeds (:data:`VAL_SEED`, :data:`TEST_SEED`) and their own digits,
so every run and every model is scored on the same scenes. All scenes of a split are
drawn at once with batched tensor operations (about a second for the default 1,000 / 200
/ 200 at 64x64), and kept in memory, cached per process.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import SegmentationData, TensorPairs, convert_image_channels, resolve_in_chans
from convzoo.data.splits import LUMA_WEIGHTS
from convzoo.errors import ConvzooError

__all__ = [
    "CLASS_NAMES",
    "MIN_SIDE",
    "SCENE_COUNTS",
    "SCENE_SIDE",
    "TEST_SEED",
    "VAL_SEED",
    "digit_pools",
    "generate_scenes",
    "load_scenes",
    "texture_crops",
]

CLASS_NAMES = ["background"] + [str(digit) for digit in range(10)]
SCENE_SIDE = 64
MIN_SIDE = 16
SCENE_COUNTS = {"train": 1000, "val": 200, "test": 200}
VAL_SEED = 1_000_001
TEST_SEED = 2_000_003

_DIGIT_FRACTION = (0.3125, 0.4375)  # box side / scene side: 20-28 pixels at 64
_MAX_DEGREES = 15.0
_MASK_THRESHOLD = 0.5
_OPACITY = (0.9, 1.0)
_MIN_LUMA_CONTRAST = 0.4
_INK_TEXTURE = 0.1  # how strongly the second crop modulates the ink colour
_TEXTURE_SHRINK = (1.5, 2.5, 4.0)  # a photograph's shorter side, in scene sides, before cropping
_COLOUR_TRIES = 16
_STROKE_FILTER = 3  # max filter on the 32x32 digit: strokes about 1.5 px bolder in the scene


@lru_cache(maxsize=1)
def digit_pools() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per split: the digits as float ``(N, 1, 32, 32)`` coverage maps in [0, 1], and their labels."""
    from sklearn.datasets import load_digits

    from convzoo.data.digits import split_indices

    digits = load_digits()
    images = torch.from_numpy(digits.images).float().div_(16.0)[:, None]  # (N, 1, 8, 8)
    images = F.pad(images, (1, 1, 1, 1))  # ink fades to zero inside the box
    images = F.interpolate(images, size=(32, 32), mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
    images = F.max_pool2d(images, _STROKE_FILTER, stride=1, padding=_STROKE_FILTER // 2)  # bolder strokes
    labels = torch.from_numpy(digits.target).long()
    train, val, test = split_indices(digits.target)
    return {name: (images[index], labels[index]) for name, index in (("train", train), ("val", val), ("test", test))}


@lru_cache(maxsize=4)
def _texture_pyramid(side: int) -> list[torch.Tensor]:
    """Every bundled photograph as float ``(3, h, w)``, shrunk to each of the crop scales."""
    from convzoo.data.natural_images import load_denoise_images

    photographs = load_denoise_images("natural", in_chans=3)
    textures = []
    for photo in photographs.train + photographs.val + photographs.test:
        pixels = torch.from_numpy(np.array(photo.pixels)).permute(2, 0, 1).float().div_(255.0)[None]
        shorter = min(pixels.shape[-2:])
        for shrink in _TEXTURE_SHRINK:
            target = min(shorter, round(shrink * side))
            if target < side:
                continue
            size = [round(extent * target / shorter) for extent in pixels.shape[-2:]]
            textures.append(F.interpolate(pixels, size=size, mode="bilinear", antialias=True, align_corners=False)[0])
    if not textures:
        raise ConvzooError(f"scene side {side} is larger than every bundled photograph")
    return textures


def texture_crops(count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random texture crops ``(count, 3, side, side)``, recoloured."""
    textures = _texture_pyramid(side)
    choice = torch.randint(len(textures), (count,), generator=generator).tolist()
    corners = torch.rand(count, 2, generator=generator).tolist()
    crops = []
    for index, (down, across) in zip(choice, corners):
        texture = textures[index]
        top = int(down * (texture.shape[1] - side + 1))
        left = int(across * (texture.shape[2] - side + 1))
        crops.append(texture[:, top : top + side, left : left + side])
    crops = torch.stack(crops)  # (N, 3, S, S)
    order = torch.argsort(torch.rand(count, 3, generator=generator), dim=1)
    crops = torch.gather(crops, 1, order[:, :, None, None].expand_as(crops))
    invert = torch.rand(count, generator=generator) < 0.5
    crops[invert] = 1.0 - crops[invert]
    return crops


def _placements(count: int, side: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per scene and quadrant: whether it holds a digit ``(N, 4)`` and the digit box's affine map ``(N, 4, 2, 3)``.

    The map takes the scene's normalised coordinates (``F.affine_grid``'s, -1..1) to the
    digit box's, so sampling the digit through it draws the digit into the box.
    """
    digits_per_scene = torch.randint(1, 4, (count,), generator=generator)
    quadrant_rank = torch.argsort(torch.rand(count, 4, generator=generator), dim=1)
    present = quadrant_rank < digits_per_scene[:, None]  # (N, 4): the first k of a random order
    low, high = _DIGIT_FRACTION
    box = side * (low + (high - low) * torch.rand(count, 4, generator=generator))  # (N, 4) pixels
    half = side / 2
    quadrant_origin = torch.tensor([[0.0, 0.0], [half, 0.0], [0.0, half], [half, half]])  # (x, y)
    centre = (
        quadrant_origin + box[..., None] / 2 + (half - box[..., None]) * torch.rand(count, 4, 2, generator=generator)
    )
    angle = math.radians(_MAX_DEGREES) * (2 * torch.rand(count, 4, generator=generator) - 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation_t = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # R^T: (N, 4, 2, 2)
    # digit coords u = R^T (p - c) / (box / 2), with pixel p = (x + 1) * side / 2.
    linear = rotation_t * (side / box)[..., None, None]
    offset = (rotation_t @ ((side - 2 * centre) / box[..., None])[..., None])[..., 0]
    return present, torch.cat([linear, offset[..., None]], dim=-1)


def _ink_colours(local_luma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """An RGB colour per digit ``(..., 3)`` whose luminance differs from ``local_luma`` by >= 0.4 where possible."""
    candidates = torch.rand(*local_luma.shape, _COLOUR_TRIES, 3, generator=generator)
    luma = candidates @ torch.tensor(LUMA_WEIGHTS)  # (..., tries)
    contrast = (luma - local_luma[..., None]).abs()
    good = contrast >= _MIN_LUMA_CONTRAST
    pick = torch.where(good.any(-1), good.float().argmax(-1), contrast.argmax(-1))
    return torch.gather(candidates, -2, pick[..., None, None].expand(*pick.shape, 1, 3))[..., 0, :]


def generate_scenes(
    count: int, side: int = SCENE_SIDE, *, seed: int, split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` digit scenes of ``side`` x ``side`` pixels, drawn from ``seed`` with the digits of ``split``.

    Returns:
        images float32 ``(count, 3, side, side)`` in [0, 1] and masks uint8
        ``(count, side, side)`` with values 0 (background) and 1-10 (digits 0-9).
    """
    if side < MIN_SIDE:
        raise ConvzooError(f"digit scenes need a side of at least {MIN_SIDE} pixels, not {side}")
    if split not in SCENE_COUNTS:
        raise ConvzooError(f"digit scenes draw the digits of split 'train', 'val' or 'test', not {split!r}")
    pool_images, pool_labels = digit_pools()[split]
    generator = torch.Generator().manual_seed(seed)
    background = texture_crops(count, side, generator)  # (N, 3, S, S)
    ink_texture = texture_crops(count, side, generator)
    present, theta = _placements(count, side, generator)
    which = torch.randint(len(pool_labels), (count, 4), generator=generator)

    grid = F.affine_grid(theta.view(-1, 2, 3), [count * 4, 1, side, side], align_corners=False)
    coverage = F.grid_sample(
        pool_images[which.view(-1)], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    coverage = coverage.view(count, 4, side, side) * present[..., None, None]  # (N, 4, S, S)
    strongest, slot = coverage.max(dim=1)  # (N, S, S)

    luma = torch.einsum("nchw,c->nhw", background, torch.tensor(LUMA_WEIGHTS))
    local_luma = (coverage * luma[:, None]).sum((-2, -1)) / coverage.sum((-2, -1)).clamp_min(1e-6)  # (N, 4)
    colours = _ink_colours(local_luma, generator)  # (N, 4, 3)
    ink_colour = torch.gather(colours, 1, slot.view(count, -1, 1).expand(-1, -1, 3))  # (N, S*S, 3)
    ink_colour = ink_colour.view(count, side, side, 3).permute(0, 3, 1, 2)
    ink_shade = torch.einsum("nchw,c->nhw", ink_texture, torch.tensor(LUMA_WEIGHTS))[:, None] - 0.5
    ink = (ink_colour + _INK_TEXTURE * ink_shade).clamp_(0.0, 1.0)
    low, high = _OPACITY
    opacity = low + (high - low) * torch.rand(count, 1, 1, 1, generator=generator)
    alpha = opacity * strongest[:, None]
    images = background * (1 - alpha) + ink * alpha

    digit_class = torch.gather(pool_labels[which] + 1, 1, slot.view(count, -1)).view(count, side, side)
    masks = torch.where(strongest >= _MASK_THRESHOLD, digit_class, torch.zeros_like(digit_class))
    return images.clamp_(0.0, 1.0), masks.to(torch.uint8)


@lru_cache(maxsize=8)
def cached_scenes(split: str, count: int, side: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`generate_scenes`, remembered per process (the tensors are shared: do not modify them)."""
    return generate_scenes(count, side, seed=seed, split=split)


def load_scenes(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """The digit scenes: :data:`SCENE_COUNTS` scenes per split, ``image_size`` (64) pixels a side.

    ``data_dir`` does not apply (the scenes are generated). ``in_chans`` 1 gives the
    scenes' luminance. With ``augment`` the training scenes are zoomed, cropped and
    rotated per item (:class:`~convzoo.data.segmentation.augment.JointAugment`), never
    mirrored, since a mirrored digit is not that digit.
    """
    side = SCENE_SIDE if image_size is None else image_size
    channels = resolve_in_chans(in_chans, 3, "scenes")
    seeds = {"train": seed, "val": VAL_SEED, "test": TEST_SEED}
    splits = {}
    for split, count in SCENE_COUNTS.items():
        images, masks = cached_scenes(split, count, side, seeds[split])
        transform = JointAugment(flip=False) if augment and split == "train" else None  # a mirrored 2 is no 2
        splits[split] = TensorPairs(convert_image_channels(images, channels), masks, transform)
    return SegmentationData(**splits, class_names=list(CLASS_NAMES), in_chans=channels, dims=2)
