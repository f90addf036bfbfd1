"""Object keypoint similarity (OKS): COCO's match score between a detected and a true pose.

Paper: Microsoft COCO: Common Objects in Context (Lin et al., ECCV 2014)
https://arxiv.org/abs/1405.0312, keypoint evaluation: https://cocodataset.org/#keypoints-eval

OKS plays for keypoints the part IoU plays for boxes. For a true pose with labelled
keypoints ``i`` (visibility ``v_i > 0``), a detection at distance ``d_i`` from each, the
object's area ``s^2`` and the per-keypoint constants ``sigma_i``::

    OKS = sum_i exp(-d_i^2 / (2 s^2 k_i^2)) delta(v_i > 0) / sum_i delta(v_i > 0),   k_i = 2 sigma_i

Each term is an unnormalised Gaussian of the distance, 1 on the spot, with a width that
grows with the object and with how loosely annotators click that keypoint (hips more than
eyes). The conventions are those of cocoapi's ``COCOeval.computeOks``, so the scores
equal its own:

* the variances are ``(2 sigma_i)^2`` and the area gets machine epsilon (``2^-52``) added,
  so an object of area 0 gives finite numbers;
* the detection's visibility flags are not read: every detected keypoint counts;
* a true pose with no labelled keypoint (a crowd region, a person too small to label) is
  measured from its box: each detected keypoint's distance is its distance to the
  outside of the box grown by its width and height on every side (three times as wide and
  high, same centre; 0 inside), and the OKS averages over all ``J`` keypoints. Without
  ``boxes`` such a pose has OKS 0 with every detection.
"""

from __future__ import annotations

from typing import Sequence

import torch

from convzoo.data.pose.skeleton import COCO
from convzoo.errors import ConvzooError

__all__ = ["oks"]

_AREA_EPSILON = 2.0**-52  # numpy's spacing(1), which COCOeval adds to the area


def _check(name: str, keypoints: torch.Tensor, joints: int) -> None:
    if keypoints.dim() != 3 or keypoints.shape[1:] != (joints, 3):
        raise ConvzooError(f"oks expects {name} of shape (N, {joints}, 3) (x, y, visibility), "
                           f"got {tuple(keypoints.shape)}")


def _distance_to_grown_box(detected: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-axis distances ``(D, G, J)`` of detected keypoints to the outside of each box grown by its size."""
    x, y, width, height = boxes.unbind(-1)  # (G,) each
    low = torch.stack([x - width, y - height], -1)[None, :, None]  # (1, G, 1, 2)
    high = torch.stack([x + 2 * width, y + 2 * height], -1)[None, :, None]
    points = detected[:, None, :, :2]  # (D, 1, J, 2)
    outside = (low - points).clamp(min=0) + (points - high).clamp(min=0)  # (D, G, J, 2)
    return outside[..., 0], outside[..., 1]


def oks(ground_truth_keypoints: torch.Tensor, detected_keypoints: torch.Tensor, area: torch.Tensor,
        sigmas: Sequence[float] = COCO.sigmas, boxes: torch.Tensor | None = None) -> torch.Tensor:
    """The OKS of every detection with every true pose, as COCO's evaluation computes it.

    Args:
        ground_truth_keypoints: ``(G, J, 3)`` true keypoints (x, y, visibility v; ``v > 0`` labelled).
        detected_keypoints: ``(D, J, 3)`` (or ``(D, J, 2)``) detected keypoints; visibility is not read.
        area: ``(G,)`` the true objects' areas (COCO's segment area, ``s^2``).
        sigmas: the ``J`` per-keypoint constants (COCO's by default).
        boxes: ``(G, 4)`` the true objects' boxes ``(x, y, width, height)``, used only for poses
            with no labelled keypoint (see the module docstring).

    Returns:
        ``(D, G)`` OKS in ``[0, 1]``, in the floating dtype of the keypoints (float64 for an
        exact match with cocoapi).
    """
    joints = len(sigmas)
    truth = torch.as_tensor(ground_truth_keypoints)
    dtype = truth.dtype if truth.is_floating_point() else torch.get_default_dtype()
    truth = truth.to(dtype)
    detected = torch.as_tensor(detected_keypoints, dtype=dtype, device=truth.device)
    _check("ground_truth_keypoints", truth, joints)
    if detected.dim() != 3 or detected.shape[1] != joints or detected.shape[2] not in (2, 3):
        raise ConvzooError(f"oks expects detected_keypoints of shape (N, {joints}, 3), got {tuple(detected.shape)}")
    area = torch.as_tensor(area, dtype=dtype, device=truth.device).reshape(-1)
    if area.numel() != truth.shape[0]:
        raise ConvzooError(f"oks expects one area per true pose ({truth.shape[0]}), got {area.numel()}")
    variances = (2 * torch.as_tensor(sigmas, dtype=dtype, device=truth.device)) ** 2  # (J,)
    labelled = truth[..., 2] > 0  # (G, J)
    dx = detected[:, None, :, 0] - truth[None, :, :, 0]  # (D, G, J)
    dy = detected[:, None, :, 1] - truth[None, :, :, 1]
    unlabelled_pose = ~labelled.any(-1)  # (G,)
    if boxes is not None:
        boxes = torch.as_tensor(boxes, dtype=dtype, device=truth.device)
        if boxes.shape != (truth.shape[0], 4):
            raise ConvzooError(f"oks expects boxes of shape ({truth.shape[0]}, 4) (x, y, width, height), "
                               f"got {tuple(boxes.shape)}")
    if boxes is not None and unlabelled_pose.any():
        box_dx, box_dy = _distance_to_grown_box(detected, boxes)
        dx = torch.where(unlabelled_pose[None, :, None], box_dx, dx)
        dy = torch.where(unlabelled_pose[None, :, None], box_dy, dy)
    exponent = (dx**2 + dy**2) / variances / (area[None, :, None] + _AREA_EPSILON) / 2  # (D, G, J)
    # A pose with labelled keypoints averages over those; one without, over all J (from its box).
    counted = labelled | unlabelled_pose[:, None]  # (G, J)
    similarity = (torch.exp(-exponent) * counted).sum(-1) / counted.sum(-1)  # (D, G)
    if boxes is None:
        similarity = similarity.masked_fill(unlabelled_pose[None, :], 0.0)
    return similarity
