"""Data for pose estimation: keypoint layouts, real annotation formats, targets and a seeded generator of synthetic
people."""

from __future__ import annotations

from convzoo.data.pose.coco import CocoImages, CocoTopDown, read_coco_keypoints
from convzoo.data.pose.mpii import MpiiTopDown, read_mpii
from convzoo.data.pose.skeleton import COCO, MPII, OPENPOSE_COCO, Skeleton, get_skeleton
from convzoo.data.pose.synthetic import BODY_PARTS, PoseSample, SyntheticPeople, write_coco
from convzoo.data.pose.synthetic_sets import SyntheticDense, SyntheticScenes, SyntheticTopDown
from convzoo.data.pose.targets import bottom_up_target, coco_to_openpose, top_down_target

__all__ = [
    "BODY_PARTS", "COCO", "CocoImages", "CocoTopDown", "MPII", "MpiiTopDown", "OPENPOSE_COCO", "PoseSample",
    "Skeleton", "SyntheticDense", "SyntheticPeople", "SyntheticScenes", "SyntheticTopDown", "bottom_up_target",
    "coco_to_openpose", "get_skeleton", "read_coco_keypoints", "read_mpii", "top_down_target", "write_coco",
]
