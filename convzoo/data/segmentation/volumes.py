"""Shape volumes: the embedded 3-D segmentation default, generated offline from a seed.

Each volume is a one-channel ``(1, D, H, W)`` cube of ``side`` voxels a side holding two
to four solid objects in noise, and a mask labelling every voxel with its object's class:

====  ==========  ==============================================================
0     background  smooth random shading plus Gaussian noise
1     sphere      ``|p| <= r``
2     cube        ``max(|p_i|) <= 0.8 r``, turned about the z axis by a random angle
3     cylinder    radius ``0.6 r``, half height ``r``, its axis along z, y or x
====  ==========  ==============================================================

Voxels are anisotropic, as in most microscopy and CT stacks: slices are
:data:`Z_SPACING` (2) times further apart than the in-plane voxels. Objects are defined
in physical space, so in voxels they are squashed to half their extent along ``D``: a
network must learn the shapes at that anisotropy, as 3D U-Net (Cicek et al., MICCAI 2016)
did on its confocal stacks.

Every object has a random brightness (0.45-1.0 over a background of 0.05-0.35) that does
not depend on its class, so only its shape tells the class. Each object sits inside its
own octant of the cube (radius 14-21% of the side), so they never overlap.

Splits: training volumes come from ``seed``, validation and test volumes from fixed seeds
(:data:`VAL_SEED`, :data:`TEST_SEED`), so every run is scored on the same volumes.
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch
import torch.nn.functional as F

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import SegmentationData, TensorPairs, convert_volume_channels, resolve_in_chans
from convzoo.errors import ConvzooError

__all__ = [
    "CLASS_NAMES",
    "MIN_SIDE",
    "TEST_SEED",
    "VAL_SEED",
    "VOLUME_COUNTS",
    "VOLUME_SIDE",
    "Z_SPACING",
    "generate_volumes",
    "load_volumes",
]

CLASS_NAMES = ["background", "sphere", "cube", "cylinder"]
VOLUME_SIDE = 32
MIN_SIDE = 16
Z_SPACING = 2.0
VOLUME_COUNTS = {"train": 96, "val": 16, "test": 16}
VAL_SEED = 1_000_001
TEST_SEED = 2_000_003

_NOISE = 0.08
_RADIUS_FRACTION = (0.14, 0.21)  # object radius / side, in in-plane voxels
_PLANE_REACH = 1.15  # an object's in-plane half-extent / radius (the turned cube's corners)
_OBJECT_BRIGHTNESS = (0.45, 1.0)
_BACKGROUND_BRIGHTNESS = (0.05, 0.35)


def _octants(side: int) -> list[tuple[slice, slice, slice]]:
    """The eight octant blocks of a cube of ``side`` voxels, as ``(z, y, x)`` slices."""
    half = side // 2
    return [
        (z, y, x)
        for z in (slice(0, half), slice(half, side))
        for y in (slice(0, half), slice(half, side))
        for x in (slice(0, half), slice(half, side))
    ]


def _octant_centres(count: int, side: int, radius: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A centre ``(z, y, x)`` in voxels per volume and octant ``(N, 8, 3)``, keeping each object inside its octant."""
    corners = torch.tensor([[block.start for block in octant] for octant in _octants(side)], dtype=torch.float32)
    # Half-extents in voxels: a turned cube reaches 0.8 * sqrt(2) r in the plane, r / Z_SPACING in depth.
    extent = torch.stack([radius / Z_SPACING, _PLANE_REACH * radius, _PLANE_REACH * radius], dim=-1)  # (N, 8, 3)
    room = (side // 2 - 2 * extent).clamp_min(0)
    return corners + extent + room * torch.rand(count, 8, 3, generator=generator)


def _inside(
    kind: torch.Tensor, offsets: torch.Tensor, radius: torch.Tensor, angle: torch.Tensor, axis: torch.Tensor
) -> torch.Tensor:
    """Which voxels lie inside one object per volume: ``(N, D, H, W)`` booleans.

    ``offsets`` ``(N, 3, D, H, W)`` are the voxels' physical displacements ``(z, y, x)``
    from the object's centre; ``kind`` ``(N,)`` is 1 sphere, 2 cube, 3 cylinder (0 none).
    """
    r = radius.view(-1, 1, 1, 1)
    z, y, x = offsets.unbind(1)
    sphere = z**2 + y**2 + x**2 <= r**2
    cos, sin = torch.cos(angle).view(-1, 1, 1, 1), torch.sin(angle).view(-1, 1, 1, 1)
    turned_y, turned_x = cos * y - sin * x, sin * y + cos * x
    cube = torch.maximum(z.abs(), torch.maximum(turned_y.abs(), turned_x.abs())) <= 0.8 * r
    along = offsets.gather(1, axis.view(-1, 1, 1, 1, 1).expand_as(offsets[:, :1]))[:, 0]
    across_squared = z**2 + y**2 + x**2 - along**2
    cylinder = (across_squared <= (0.6 * r) ** 2) & (along.abs() <= r)
    kind = kind.view(-1, 1, 1, 1)
    return ((kind == 1) & sphere) | ((kind == 2) & cube) | ((kind == 3) & cylinder)


def _uniform(low: float, high: float, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def generate_volumes(count: int, side: int = VOLUME_SIDE, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` shape volumes of ``side`` voxels a side, drawn from ``seed``.

    Returns:
        volumes float32 ``(count, 1, side, side, side)`` in [0, 1] and masks uint8
        ``(count, side, side, side)`` with values 0-3 (:data:`CLASS_NAMES`).
    """
    if side < MIN_SIDE:
        raise ConvzooError(f"shape volumes need a side of at least {MIN_SIDE} voxels, not {side}")
    generator = torch.Generator().manual_seed(seed)
    objects = torch.randint(2, 5, (count,), generator=generator)
    present = torch.argsort(torch.rand(count, 8, generator=generator), dim=1) < objects[:, None]  # (N, 8)
    kind = torch.randint(1, 4, (count, 8), generator=generator) * present
    radius = side * _uniform(*_RADIUS_FRACTION, (count, 8), generator)
    centres = _octant_centres(count, side, radius, generator)  # (N, 8, 3)
    angle = _uniform(0.0, torch.pi / 2, (count, 8), generator)
    axis = torch.randint(0, 3, (count, 8), generator=generator)
    brightness = _uniform(*_OBJECT_BRIGHTNESS, (count, 8), generator)

    coords = torch.stack(
        torch.meshgrid(*[torch.arange(side, dtype=torch.float32) + 0.5] * 3, indexing="ij")
    )  # (3, D, H, W)
    spacing = torch.tensor([Z_SPACING, 1.0, 1.0]).view(1, 3, 1, 1, 1)
    masks = torch.zeros(count, side, side, side, dtype=torch.long)
    level = torch.zeros(count, side, side, side)
    for octant, block in enumerate(_octants(side)):  # each object lies in its own octant: paint only that block
        offsets = (coords[(slice(None), *block)][None] - centres[:, octant, :, None, None, None]) * spacing  # physical
        inside = _inside(kind[:, octant], offsets, radius[:, octant], angle[:, octant], axis[:, octant])  # (N, d, h, w)
        region = (slice(None), *block)
        masks[region] = torch.where(inside, kind[:, octant, None, None, None], masks[region])
        level[region] = torch.where(inside, brightness[:, octant, None, None, None], level[region])
    occupied = masks > 0
    shading = F.interpolate(
        torch.rand(count, 1, 4, 4, 4, generator=generator), size=(side,) * 3, mode="trilinear", align_corners=False
    )
    background = _uniform(*_BACKGROUND_BRIGHTNESS, (count, 1, 1, 1, 1), generator) + 0.1 * (shading - 0.5)
    volumes = torch.where(occupied[:, None], level[:, None], background)
    volumes = volumes + _NOISE * torch.randn(volumes.shape, generator=generator)
    return volumes.clamp_(0.0, 1.0), masks.to(torch.uint8)


@lru_cache(maxsize=8)
def cached_volumes(count: int, side: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`generate_volumes`, remembered per process (the tensors are shared: do not modify them)."""
    return generate_volumes(count, side, seed=seed)


def load_volumes(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """The shape volumes: :data:`VOLUME_COUNTS` per split, cubes of ``image_size`` (32) voxels.

    ``data_dir`` does not apply (the volumes are generated). The volumes have one
    channel; ``in_chans=3`` repeats it. With ``augment`` the training volumes are flipped
    and turned per item (:class:`~convzoo.data.segmentation.augment.JointAugment`).
    """
    side = VOLUME_SIDE if image_size is None else image_size
    channels = resolve_in_chans(in_chans, 1, "volumes")
    seeds = {"train": seed, "val": VAL_SEED, "test": TEST_SEED}
    splits = {}
    for split, count in VOLUME_COUNTS.items():
        volumes, masks = cached_volumes(count, side, seeds[split])
        transform = JointAugment() if augment and split == "train" else None
        splits[split] = TensorPairs(convert_volume_channels(volumes, channels), masks, transform)
    return SegmentationData(**splits, class_names=list(CLASS_NAMES), in_chans=channels, dims=3)
