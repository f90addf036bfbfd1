"""From heatmaps to keypoints: argmax with the quarter-pixel shift, flip testing, back through the crop.

A heatmap network's keypoint is the argmax of its joint's map, moved a quarter of a
pixel towards the higher of its two neighbours in x and in y (the code of Newell et al.
2016 and Xiao et al. 2018): the true peak lies between the argmax and its higher
neighbour, and a quarter pixel halves the worst-case error of the plain argmax (0.5 ->
0.25 pixel). The score of a keypoint is the map's maximum.

Flip testing (Newell et al. 2016) averages the maps of an image and of its mirror
image, the latter mirrored back with left and right joints swapped
(``Skeleton.flip_permutation``). Xiao et al.'s code then shifts the mirrored maps one
pixel to the right, which makes up for their ``x / s`` coordinate mapping; under the
cell-centre mapping of :mod:`convzoo.data.pose.targets` a mirrored map is exactly the
map of the mirrored image, so no shift is applied.

Coordinates: map pixel ``(i, j)`` is input pixel ``((j + 0.5) s - 0.5, (i + 0.5) s - 0.5)``
for stride ``s`` (pixel centres at integers, :func:`convzoo.data.pose.targets.to_input_pixels`).
A top-down crop's keypoints go back to the image through the inverse of the crop's
affine matrix (:func:`convzoo.data.pose.transforms.crop_matrix`).

Papers: Stacked Hourglass Networks for Human Pose Estimation (Newell, Yang, Deng, ECCV
2016) https://arxiv.org/abs/1603.06937; Simple Baselines for Human Pose Estimation and
Tracking (Xiao, Wu, Wei, ECCV 2018) https://arxiv.org/abs/1804.06208
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from convzoo.data.pose.skeleton import Skeleton
from convzoo.data.pose.targets import to_input_pixels
from convzoo.data.pose.transforms import invert_matrix, transform_points
from convzoo.errors import ConvzooError

__all__ = ["crop_keypoints_to_image", "decode_heatmaps", "flip_test"]


def _quarter_shift(lower: torch.Tensor, higher: torch.Tensor, interior: torch.Tensor) -> torch.Tensor:
    """+-0.25 towards the larger of the two neighbours, 0 on the map's border or on a tie."""
    return 0.25 * torch.sign(higher - lower) * interior


def decode_heatmaps(heatmaps: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Keypoints from heatmaps: argmax, quarter-pixel shift, input pixels.

    Args:
        heatmaps: ``(B, J, h, w)``, the last stage of a heatmap network.
        stride: the network's output stride.

    Returns:
        ``(B, J, 3)``: x and y in input pixels, and the score (the map's maximum).
    """
    if heatmaps.dim() != 4:
        raise ConvzooError(f"heatmaps must have shape (B, J, h, w); got {tuple(heatmaps.shape)}")
    height, width = heatmaps.shape[-2:]
    flat = heatmaps.float().flatten(2)  # (B, J, h * w)
    scores, index = flat.max(dim=-1)  # (B, J)
    x, y = index % width, index // width

    def value_at(dx: int, dy: int) -> torch.Tensor:
        neighbour = (y + dy).clamp(0, height - 1) * width + (x + dx).clamp(0, width - 1)
        return flat.gather(-1, neighbour[..., None])[..., 0]

    shift_x = _quarter_shift(value_at(-1, 0), value_at(1, 0), (x > 0) & (x < width - 1))
    shift_y = _quarter_shift(value_at(0, -1), value_at(0, 1), (y > 0) & (y < height - 1))
    points = torch.stack([x + shift_x, y + shift_y], dim=-1)  # (B, J, 2) in map pixels
    return torch.cat([to_input_pixels(points, stride), scores[..., None]], dim=-1)


def flip_test(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """The mean of the heatmaps of ``images`` and of their mirrors, mirrored back with left/right swapped.

    Both halves go through ``model`` in one batch; call it under ``torch.no_grad()`` in
    eval mode. The model returns ``(B, S, J, h, w)`` (its last stage is used) or
    ``(B, J, h, w)``, with ``J = skeleton.num_joints`` heatmap channels (not PAFs).

    Shape:
        images ``(B, C, H, W)`` -> ``(B, J, h, w)``.
    """
    batch = len(images)
    output = model(torch.cat([images, images.flip(-1)]))
    heatmaps = output[:, -1] if output.dim() == 5 else output  # (2B, J, h, w)
    if heatmaps.dim() != 4 or heatmaps.shape[1] != skeleton.num_joints:
        raise ConvzooError(
            f"flip_test needs {skeleton.num_joints} heatmap channels ({skeleton.name}); "
            f"the model gave shape {tuple(output.shape)}"
        )
    plain, mirrored = heatmaps[:batch], heatmaps[batch:]
    return (plain + mirrored.flip(-1)[:, skeleton.flip_permutation()]) / 2


def crop_keypoints_to_image(keypoints: torch.Tensor, matrices: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Keypoints decoded in top-down crops ``(B, J, 3)`` moved back to their images.

    Args:
        keypoints: ``(B, J, 3)`` in crop pixels (x, y, score); the third column is kept.
        matrices: ``(B, 2, 3)`` or one ``(2, 3)``: each crop's image -> crop matrix
            (:func:`convzoo.data.pose.transforms.crop_matrix`).
    """
    matrices = np.asarray(matrices.detach().cpu() if isinstance(matrices, torch.Tensor) else matrices, np.float64)
    matrices = np.broadcast_to(matrices, (len(keypoints), 2, 3))
    moved = keypoints.clone()
    for crop, matrix in enumerate(matrices):
        moved[crop, :, :2] = transform_points(invert_matrix(matrix), keypoints[crop, :, :2])
    return moved
