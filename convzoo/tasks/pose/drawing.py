"""Pictures of poses: each person's skeleton over the image, limbs in their layout's colours.

A limb is drawn when both of its joints are labelled (visibility > 0) and, for a
prediction, scored at least ``min_score``; joints are dots, outlined in white so that
they read on any background. Drawing is done with PIL on a copy of the image scaled up
to at least ``min_side`` pixels, so that small training crops stay legible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from convzoo.data.pose.skeleton import Skeleton

__all__ = ["draw_skeletons", "skeleton_picture"]

MIN_SIDE = 384


def _as_uint8(image: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` or ``(1, H, W)`` in [0, 1] as an RGB PIL image."""
    array = image.detach().float().clamp(0, 1).mul(255).round().byte().cpu().numpy()
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0)
    return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), mode="RGB")


def skeleton_picture(image: torch.Tensor, people: Sequence[torch.Tensor], skeleton: Skeleton, *,
                     min_score: float = 0.0, min_side: int = MIN_SIDE) -> Image.Image:
    """The image with every person's skeleton drawn over it.

    Args:
        image: ``(C, H, W)`` in [0, 1] (C = 1 or 3).
        people: per person ``(J, 3)`` keypoints in the image's pixels: x, y and a visibility
            (ground truth) or a score (prediction); a joint is drawn when the third value is
            above ``min_score`` (and above 0).
        skeleton: the keypoint layout: its limbs and their colours.
    """
    picture = _as_uint8(image)
    scale = max(1.0, min_side / min(picture.size))
    if scale > 1:
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.BILINEAR)
    draw = ImageDraw.Draw(picture)
    width = max(2, round(picture.width / 128))
    for keypoints in people:
        points = keypoints.detach().float().cpu()
        shown = (points[:, 2] > max(min_score, 0.0)).tolist()
        xy = [((x + 0.5) * scale - 0.5, (y + 0.5) * scale - 0.5) for x, y in points[:, :2].tolist()]
        for (a, b), colour in zip(skeleton.limbs, skeleton.colours):
            if shown[a] and shown[b]:
                draw.line([xy[a], xy[b]], fill=colour, width=width)
        radius = width + 1
        for (x, y), visible in zip(xy, shown):
            if visible:
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    return picture


def draw_skeletons(image: torch.Tensor, people: Sequence[torch.Tensor], skeleton: Skeleton, path: str | Path, *,
                   min_score: float = 0.0) -> Path:
    """Write :func:`skeleton_picture` as a PNG at ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skeleton_picture(image, people, skeleton, min_score=min_score).save(path)
    return path
