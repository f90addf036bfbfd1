"""Seeded synthetic point clouds of simple shapes, for point-cloud operators that need data offline.

Each cloud is ``num_points`` points drawn uniformly by area from the surface of one of
five shapes in a canonical pose, then randomly rotated, scaled and jittered:

===========  ==================================================================
class        surface (canonical pose, before scaling)
===========  ==================================================================
sphere       unit sphere
cube         surface of the cube ``[-1, 1]^3`` (six faces, equal shares)
cylinder     radius 1, height 2 along ``z``: side and both caps, by area
cone         base radius 1 at ``z = -1``, apex at ``z = 1``: side and base, by area
torus        ring radius 1, tube radius 0.4, around ``z``
===========  ==================================================================

The rotation is uniform over SO(3) (``rotate=True``), the scale uniform in ``scale``
(one factor per cloud), and Gaussian noise of standard deviation ``noise`` (in the units
of the canonical shape, before scaling) is added to every coordinate. The same ``seed``
gives the same clouds, in the same order, on every machine.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

__all__ = ["SHAPE_CLASSES", "make_point_shapes", "random_rotations", "sample_shape"]

SHAPE_CLASSES: tuple[str, ...] = ("sphere", "cube", "cylinder", "cone", "torus")

_Sampler = Callable[[int, int, torch.Generator], torch.Tensor]


def _uniform(shape: Sequence[int], generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return torch.rand(tuple(shape), generator=generator) * (high - low) + low


def _disk(radius: torch.Tensor, angle: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle), z], dim=-1)


def _sphere(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    points = torch.randn(m, n, 3, generator=g)
    return points / points.norm(dim=-1, keepdim=True)


def _cube(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    face = torch.randint(0, 6, (m, n), generator=g)  # axis = face % 3, side = +-1
    points = _uniform((m, n, 3), g, -1.0, 1.0)
    side = torch.where(face >= 3, 1.0, -1.0)
    return points.scatter(-1, (face % 3).unsqueeze(-1), side.unsqueeze(-1))


def _cylinder(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    angle = _uniform((m, n), g, 0.0, 2 * math.pi)
    on_side = _uniform((m, n), g) < 4 / 6  # side area 4 pi, caps 2 pi
    radius = torch.where(on_side, 1.0, _uniform((m, n), g).sqrt())  # sqrt: uniform on a disk
    cap = torch.where(_uniform((m, n), g) < 0.5, -1.0, 1.0)
    z = torch.where(on_side, _uniform((m, n), g, -1.0, 1.0), cap)
    return _disk(radius, angle, z)


def _cone(m: int, n: int, g: torch.Generator) -> torch.Tensor:
    angle = _uniform((m, n), g, 0.0, 2 * math.pi)
    slant = math.sqrt(5.0)  # side area pi * 1 * sqrt(5), base pi
    on_side = _uniform((m, n), g) < slant / (slant + 1)
    t = _uniform((m, n), g).sqrt()  # distance from the apex (side) or centre (base), uniform by area
    z = torch.where(on_side, 1 - 2 * t, -1.0)
    return _disk(t, angle, z)


def _torus(m: int, n: int, g: torch.Generator, ring: float = 1.0, tube: float = 0.4) -> torch.Tensor:
    # The area element is proportional to (ring + tube cos(phi)): draw 4n candidate tube angles
    # and keep n of them with those weights.
    candidates = _uniform((m, 4 * n), g, 0.0, 2 * math.pi)
    chosen = torch.multinomial(ring + tube * torch.cos(candidates), n, replacement=False, generator=g)
    phi = candidates.gather(1, chosen)
    angle = _uniform((m, n), g, 0.0, 2 * math.pi)
    return _disk(ring + tube * torch.cos(phi), angle, tube * torch.sin(phi))


_SAMPLERS: dict[str, _Sampler] = {
    "sphere": _sphere, "cube": _cube, "cylinder": _cylinder, "cone": _cone, "torus": _torus,
}


def sample_shape(name: str, num_clouds: int, num_points: int, generator: torch.Generator) -> torch.Tensor:
    """``(num_clouds, num_points, 3)`` points on the surface of shape ``name`` in its canonical pose."""
    if name not in _SAMPLERS:
        raise ValueError(f"unknown shape {name!r}; expected one of {sorted(_SAMPLERS)}")
    return _SAMPLERS[name](num_clouds, num_points, generator)


def random_rotations(num: int, generator: torch.Generator) -> torch.Tensor:
    """``(num, 3, 3)`` rotation matrices drawn uniformly from SO(3) (QR of a Gaussian matrix)."""
    q, r = torch.linalg.qr(torch.randn(num, 3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # unique, Haar-distributed Q
    q[:, :, 0] *= torch.sign(torch.linalg.det(q)).unsqueeze(-1)  # reflections -> rotations
    return q.float()


def make_point_shapes(
    num_clouds: int,
    num_points: int = 128,
    *,
    classes: Sequence[str] = SHAPE_CLASSES,
    noise: float = 0.02,
    scale: tuple[float, float] = (0.75, 1.25),
    rotate: bool = True,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A balanced, shuffled set of shape clouds and their labels (indices into ``classes``).

    Args:
        num_clouds: number of clouds; class ``c`` gets ``num_clouds // len(classes)``
            clouds, plus one when ``c < num_clouds % len(classes)``.
        num_points: points per cloud.
        classes: shape names from :data:`SHAPE_CLASSES`, in label order.
        noise: standard deviation of the Gaussian jitter (canonical units).
        scale: range of the uniform per-cloud scale factor.
        rotate: apply a uniformly random rotation to each cloud.
        seed: seed of the generator; the same seed gives the same clouds.

    Returns:
        ``points`` ``(num_clouds, num_points, 3)`` float32 and ``labels`` ``(num_clouds,)`` int64.
    """
    if num_clouds < 1 or num_points < 1:
        raise ValueError(f"num_clouds and num_points must be positive, got {num_clouds} and {num_points}")
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(num_clouds) % len(classes))[torch.randperm(num_clouds, generator=g)]
    points = torch.empty(num_clouds, num_points, 3)
    for label, name in enumerate(classes):  # one batched draw per class
        chosen = (labels == label).nonzero().flatten()
        points[chosen] = sample_shape(name, len(chosen), num_points, g)
    points = points + noise * torch.randn(points.shape, generator=g)
    if rotate:
        points = points @ random_rotations(num_clouds, g).transpose(1, 2)  # (M, N, 3) @ R^T
    factor = _uniform((num_clouds, 1, 1), g, *scale)
    return points * factor, labels
