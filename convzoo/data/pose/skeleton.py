"""Keypoint layouts: the joints, the limbs that join them and the left/right pairs of a dataset.

Three layouts appear in pose estimation, and every part of the pose task works on one:

* ``COCO``: the 17 keypoints of COCO's person annotations, in their file order, with the
  19-limb skeleton of the annotation file's ``categories[0]["skeleton"]`` (given here
  0-based) and the per-keypoint constants ``k_i`` of the OKS measure (COCO's
  ``sigmas``, the standard deviation of the annotators' clicks over the object's scale).
* ``MPII``: the 16 joints of MPII Human Pose, in the released annotation's ``id`` order;
  the 16-joint output of the Stacked Hourglass networks (Newell et al. 2016).
* ``OPENPOSE_COCO``: the 18 parts of CMU's COCO body model (COCO's 17 and a neck between
  the shoulders, in OpenPose's order) and its 19 limbs, each with the two channels of its
  part affinity field in the network's 38-channel PAF output (Cao et al. 2017).

Flip pairs are the (left, right) joints that swap when an image is mirrored.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

from convzoo.errors import ConvzooError

__all__ = ["COCO", "COCO_TO_OPENPOSE", "MPII", "OPENPOSE_COCO", "SKELETONS", "Skeleton", "get_skeleton"]


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout.

    Attributes:
        name: the layout's name (``coco``, ``mpii``, ``openpose_coco``).
        joints: joint names, in the order of the annotation files and the heatmap channels.
        limbs: ``(a, b)`` pairs of 0-based joint indices joined by a limb.
        flip_pairs: ``(left, right)`` joint indices that swap under a horizontal flip.
        sigmas: OKS constants ``k_i`` per joint (COCO's); empty where the dataset has none.
        colours: an RGB colour per limb, for drawing skeletons.
        paf_channels: per limb, the (x, y) channel pair of its part affinity field; empty
            where the layout has no PAF output.
    """

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] = ()
    colours: tuple[tuple[int, int, int], ...] = ()
    paf_channels: tuple[tuple[int, int], ...] = ()

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def flip_permutation(self) -> list[int]:
        """The joint order of a mirrored image: ``heatmaps[:, perm]`` swaps left and right."""
        order = list(range(self.num_joints))
        for left, right in self.flip_pairs:
            order[left], order[right] = right, left
        return order


def _palette(count: int) -> tuple[tuple[int, int, int], ...]:
    """``count`` saturated colours around the hue circle, so neighbouring limbs differ."""
    colours = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb(i / count, 1.0, 1.0)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return tuple(colours)


_COCO_LIMBS = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

COCO = Skeleton(
    name="coco",
    joints=(
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle",
    ),
    limbs=_COCO_LIMBS,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    # COCO's keypoint constants (cocoapi's COCOeval, Params.kpt_oks_sigmas).
    sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
            0.087, 0.089, 0.089),
    colours=_palette(len(_COCO_LIMBS)),
)

_MPII_LIMBS = ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11), (11, 12),
               (12, 7), (7, 13), (13, 14), (14, 15))

MPII = Skeleton(
    name="mpii",
    joints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
        "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
        "left_wrist",
    ),
    limbs=_MPII_LIMBS,
    flip_pairs=((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    colours=_palette(len(_MPII_LIMBS)),
)

# OpenPose's limbs (0-based parts) and, for each, its PAF channels: CMU's order, in which the
# PAF of a limb is not stored at 2 * limb index.
_OPENPOSE_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)

OPENPOSE_COCO = Skeleton(
    name="openpose_coco",
    joints=(
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
        "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
        "left_eye", "right_ear", "left_ear",
    ),
    limbs=_OPENPOSE_LIMBS,
    flip_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)),
    colours=_palette(len(_OPENPOSE_LIMBS)),
    paf_channels=(
        (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
        (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
    ),
)

# COCO keypoint -> OpenPose part (the neck is the shoulders' midpoint, not a COCO keypoint).
COCO_TO_OPENPOSE = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

SKELETONS = {skeleton.name: skeleton for skeleton in (COCO, MPII, OPENPOSE_COCO)}


def get_skeleton(name: str) -> Skeleton:
    """The layout called ``name``; an error naming the layouts for any other."""
    if name not in SKELETONS:
        raise ConvzooError(f"unknown keypoint layout {name!r}; expected one of {', '.join(SKELETONS)}")
    return SKELETONS[name]
