"""Top-down crops: the affine map that cuts one person out of an image, and a dataset of such crops.

A top-down pose network sees one person at a time, in a fixed-size crop around that
person's box (Newell et al. 2016 crop by MPII's centre and scale; Xiao et al. 2018 and
HRNet by COCO's boxes, enlarged to the input's aspect ratio and padded by 25%). The crop
is one affine map of the image plane, kept as a ``(2, 3)`` matrix ``M``: a point
``(x, y)`` of the image lands at ``M @ (x, y, 1)`` in the crop. Keypoints go through the
matrix, the image is resampled through its inverse, and predictions made in the crop go
back to the image through :func:`invert_matrix`.

Papers: Stacked Hourglass Networks for Human Pose Estimation (Newell, Yang, Deng, ECCV
2016) https://arxiv.org/abs/1603.06937; Simple Baselines for Human Pose Estimation and
Tracking (Xiao, Wu, Wei, ECCV 2018) https://arxiv.org/abs/1804.06208

Coordinates follow the pixel-centre convention of the whole pose task: pixel ``(0, 0)``
covers ``[-0.5, 0.5] x [-0.5, 0.5]``, so an image of width ``W`` spans ``[-0.5, W - 0.5]``
and its centre is ``((W - 1) / 2, (H - 1) / 2)``. Sizes are given as ``(width, height)``
here, as PIL and OpenCV give them; the datasets' ``input_size`` is ``(height, width)``,
as tensors are shaped.

The crop matrix, in order: move the region's centre to the origin, rotate by
``rotation_degrees`` (positive turns the picture counter-clockwise as it is seen on the
screen, y pointing down), scale the region's ``(w, h)`` to the output's ``(W, H)``, mirror
left-right if ``flip``, and move the origin to the output's centre. Mirroring moves
points only; a dataset also swaps the left and right joints (``Skeleton.flip_permutation``).

Training augmentation (:class:`CropJitter`) follows Newell et al. Sec. 4: the region is
scaled by a factor uniform in ``[1 - s, 1 + s]`` (0.75-1.25), rotated by an angle uniform in
``[-r, r]`` degrees (+-30) and mirrored with probability 1/2.

Deviations: HRNet's code draws scale and rotation from clipped normals and rotates only
60% of the crops; uniform draws, as the paper states the ranges, are used here. The
random numbers of item ``i`` come from NumPy's generator seeded with
``(seed, epoch, i)``, not from a global state: an item is the same whatever order,
process or worker draws it, and :meth:`TopDownCrops.set_epoch` selects the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convzoo.data.folder import IMAGENET_MEAN, IMAGENET_STD
from convzoo.data.natural_images import read_image, to_tensor
from convzoo.data.pose.skeleton import Skeleton

__all__ = [
    "CropJitter",
    "PersonCrop",
    "TopDownCrops",
    "box_to_center_size",
    "crop_matrix",
    "denormalise_image",
    "invert_matrix",
    "normalise_image",
    "transform_points",
    "warp_image",
]

# A target builder: keypoints in the crop (J, 3) -> whatever the objective trains on.
TargetFn = Callable[[torch.Tensor], Any]


def crop_matrix(
    center: Sequence[float],
    size: Sequence[float],
    output_size: Sequence[int],
    rotation_degrees: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """The ``(2, 3)`` float64 matrix mapping image pixels to the pixels of a crop.

    Args:
        center: ``(x, y)`` of the region's centre in the image.
        size: ``(w, h)`` of the region in image pixels; it fills the output.
        output_size: ``(W, H)`` of the crop.
        rotation_degrees: turns the picture counter-clockwise in the crop.
        flip: mirror the crop left-right.
    """
    width, height = output_size
    angle = math.radians(rotation_degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    rotate = np.array([[cos, sin], [-sin, cos]])  # counter-clockwise on screen, with y pointing down
    scale = np.diag([width / size[0], height / size[1]])
    mirror = np.diag([-1.0 if flip else 1.0, 1.0])
    linear = mirror @ scale @ rotate
    shift = np.array([(width - 1) / 2, (height - 1) / 2]) - linear @ np.asarray(center, dtype=np.float64)
    return np.concatenate([linear, shift[:, None]], axis=1)


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """The ``(2, 3)`` matrix of the inverse map (crop pixels back to image pixels)."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -(linear @ matrix[:, 2])[:, None]], axis=1)


def transform_points(matrix: np.ndarray, points: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``(..., 2)`` points through the ``(2, 3)`` matrix; a tensor in gives a tensor of its dtype back."""
    if isinstance(points, torch.Tensor):
        moved = transform_points(matrix, points.detach().cpu().double().numpy())
        return torch.from_numpy(moved).to(device=points.device, dtype=points.dtype)
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _pixels_to_grid(width: int, height: int) -> np.ndarray:
    """3x3 map from pixel coordinates to ``grid_sample``'s [-1, 1] (``align_corners=False``: -1 is a pixel's edge)."""
    return np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1], [0, 0, 1]])


def warp_image(image: torch.Tensor, matrix: np.ndarray, output_size: Sequence[int]) -> torch.Tensor:
    """Resample ``image`` into the crop of ``matrix``: bilinear, zero outside the image.

    Args:
        image: ``(C, H, W)``; integer images are converted to float (values kept).
        matrix: image -> crop, as :func:`crop_matrix` makes it.
        output_size: ``(W', H')`` of the crop.

    Shape:
        returns ``(C, H', W')``.
    """
    out_width, out_height = output_size
    in_height, in_width = image.shape[-2:]
    crop_to_image = np.vstack([invert_matrix(matrix), [0, 0, 1]])
    # affine_grid maps output grid coordinates to input grid coordinates.
    theta = _pixels_to_grid(in_width, in_height) @ crop_to_image @ np.linalg.inv(_pixels_to_grid(out_width, out_height))
    pixels = image if image.is_floating_point() else image.float()
    theta_tensor = torch.as_tensor(theta[:2], dtype=pixels.dtype, device=pixels.device)[None]  # (1, 2, 3)
    grid = F.affine_grid(theta_tensor, [1, image.shape[0], out_height, out_width], align_corners=False)
    return F.grid_sample(pixels[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]


def box_to_center_size(
    box: Sequence[float], aspect_ratio: float, padding: float = 1.25
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A person box as the ``(center, size)`` of its crop region: enlarged to ``aspect_ratio``, padded.

    Args:
        box: COCO's ``(x, y, w, h)``, whose edges are continuous coordinates in which the
            image spans ``[0, W]``; the centre returned is in pixel-centre coordinates
            (half a pixel less).
        aspect_ratio: the crop's width / height (192 / 256 for COCO's usual input).
        padding: the region's growth over the (enlarged) box: 1.25 keeps context around the person.
    """
    x, y, width, height = (float(value) for value in box)
    center = (x + width / 2 - 0.5, y + height / 2 - 0.5)
    if width > aspect_ratio * height:
        height = width / aspect_ratio
    else:
        width = height * aspect_ratio
    return center, (width * padding, height * padding)


def normalise_image(image: torch.Tensor) -> torch.Tensor:
    """A ``(3, H, W)`` image in [0, 1] normalised by ImageNet's mean and std, as ImageNet-trained encoders expect."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype)[:, None, None]
    return (image - mean) / std


def denormalise_image(image: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`normalise_image`: a normalised ``(3, H, W)`` image back in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=image.dtype)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=image.dtype)[:, None, None]
    return (image * std + mean).clamp(0, 1)


@dataclass(frozen=True)
class CropJitter:
    """Random scale, rotation and mirror of a training crop (Newell et al. 2016, Sec. 4).

    Args:
        scale: the region's size is multiplied by a factor uniform in ``[1 - scale, 1 + scale]``.
        rotation: degrees; the angle is uniform in ``[-rotation, rotation]``.
        flip: mirror with probability 1/2.
    """

    scale: float = 0.25
    rotation: float = 30.0
    flip: bool = True

    def draw(self, generator: np.random.Generator) -> tuple[float, float, bool]:
        """One ``(scale factor, rotation degrees, flipped)``; always three draws, so streams stay aligned."""
        factor = generator.uniform(1 - self.scale, 1 + self.scale)
        angle = generator.uniform(-self.rotation, self.rotation)
        mirrored = bool(generator.random() < 0.5) and self.flip
        return float(factor), float(angle), mirrored


@dataclass(frozen=True, eq=False)
class PersonCrop:
    """One person to crop: the image file, its keypoints ``(J, 3)`` in image pixels and the crop region."""

    image_path: Path | None  # None where the dataset draws its images (TopDownCrops.image_of)
    keypoints: np.ndarray
    center: tuple[float, float]
    size: tuple[float, float]


class TopDownCrops(Dataset):
    """One person per item, cut out of its image and resized to ``input_size``.

    Each item is ``(image, target)``: the crop ``(3, H, W)`` float32 normalised by
    :func:`normalise_image` (in [0, 1] with ``normalise=False``), and ``target_fn(keypoints)`` of the keypoints in the crop
    ``(J, 3)`` (float32; x and y in crop pixels, v as annotated), or those keypoints
    when ``target_fn`` is ``None``. Unlabelled keypoints (v = 0) keep x = y = 0;
    labelled ones may fall outside the crop (target builders give them no peak).

    Args:
        people: the people to crop (any sequence: a lazy one is not copied).
        skeleton: their keypoint layout (its flip pairs swap under a mirror).
        input_size: ``(H, W)`` of the crops.
        jitter: training augmentation; ``None`` for the plain crop of the region.
        target_fn: builds the training target from the keypoints in the crop.
        seed: with the epoch and the index, seeds the item's augmentation.
        normalise: ImageNet's mean and std; ``False`` keeps the pixels in [0, 1].
    """

    def __init__(
        self,
        people: Sequence[PersonCrop],
        skeleton: Skeleton,
        *,
        input_size: tuple[int, int],
        jitter: CropJitter | None = None,
        target_fn: TargetFn | None = None,
        seed: int = 0,
        normalise: bool = True,
    ) -> None:
        self.people = people if isinstance(people, Sequence) else list(people)
        self.skeleton = skeleton
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.jitter = jitter
        self.target_fn = target_fn
        self.seed = seed
        self.normalise = normalise
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.people)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation the items draw."""
        self.epoch = epoch

    def crop_of(self, index: int) -> tuple[np.ndarray, bool]:
        """Item ``index``'s crop matrix (image -> crop) in this epoch, and whether the crop is mirrored."""
        person = self.people[index]
        height, width = self.input_size
        if self.jitter is None:
            return crop_matrix(person.center, person.size, (width, height)), False
        generator = np.random.default_rng([self.seed, self.epoch, index])
        factor, angle, flipped = self.jitter.draw(generator)
        size = (person.size[0] * factor, person.size[1] * factor)
        return crop_matrix(person.center, size, (width, height), angle, flipped), flipped

    def keypoints_in_crop(self, index: int, matrix: np.ndarray, flipped: bool) -> torch.Tensor:
        """Item ``index``'s keypoints ``(J, 3)`` moved into its crop (and swapped left/right if mirrored)."""
        keypoints = torch.from_numpy(np.array(self.people[index].keypoints, dtype=np.float32))
        labelled = keypoints[:, 2:] > 0
        keypoints[:, :2] = transform_points(matrix, keypoints[:, :2]) * labelled
        return keypoints[self.skeleton.flip_permutation()] if flipped else keypoints

    def image_of(self, index: int) -> torch.Tensor:
        """Item ``index``'s whole image ``(3, H_img, W_img)`` in [0, 1]: its file, read (subclasses may draw it)."""
        return to_tensor(read_image(self.people[index].image_path, 3))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any]:
        matrix, flipped = self.crop_of(index)
        height, width = self.input_size
        image = self.image_of(index)  # (3, H_img, W_img) in [0, 1]
        crop = warp_image(image, matrix, (width, height))  # (3, H, W)
        crop = normalise_image(crop) if self.normalise else crop
        keypoints = self.keypoints_in_crop(index, matrix, flipped)
        return crop, self.target_fn(keypoints) if self.target_fn is not None else keypoints
