"""PCK and PCKh: the share of joints predicted within a fraction of a body size of the truth.

Papers: Articulated Human Detection with Flexible Mixtures of Parts (Yang and Ramanan, TPAMI
2013) https://doi.org/10.1109/TPAMI.2012.261 (PCK); 2D Human Pose Estimation: New Benchmark
and State of the Art Analysis (Andriluka et al., CVPR 2014)
http://human-pose.mpi-inf.mpg.de/ (PCKh, MPII Human Pose)

A predicted joint is correct when its distance to the true joint is at most ``threshold``
times a size of the person, the normaliser::

    correct = ||p - g|| / normaliser <= threshold

counted over the labelled joints only (visibility ``v > 0``: an occluded joint that was
labelled counts, as in MPII's evaluation). PCK@0.2 normalises by the torso or the
bounding-box size; PCKh@0.5, MPII's measure, by the head size: 0.6 times the diagonal of
the annotated head box (:func:`mpii_head_size`), which is close to the length of the head
segment. Scores are fractions in ``[0, 1]`` (papers print percentages).

The per-joint score is the share of that joint's labelled instances that are correct; the
mean pools all labelled instances of the joints it averages (MPII's ``Mean``, which weighs
each joint by its count). MPII's table leaves the pelvis and the thorax out of the mean:
:func:`pckh` does so by default (:data:`MPII_MEAN_JOINTS`).
"""

from __future__ import annotations

from typing import Sequence

import torch

from convzoo.data.pose.skeleton import MPII
from convzoo.errors import ConvzooError

__all__ = ["MPII_HEAD_SIZE_FACTOR", "MPII_MEAN_JOINTS", "mpii_head_size", "pck", "pckh"]

MPII_HEAD_SIZE_FACTOR = 0.6  # MPII's evaluation: head size = 0.6 x head box diagonal
MPII_MEAN_JOINTS = tuple(i for i, name in enumerate(MPII.joints) if name not in ("pelvis", "thorax"))


def mpii_head_size(head_box: torch.Tensor) -> torch.Tensor:
    """MPII's head size: 0.6 times the diagonal of the head box.

    Args:
        head_box: ``(..., 4)`` the annotated head rectangles ``(x1, y1, x2, y2)`` (MPII's
            ``annorect`` fields of the same names: two opposite corners).

    Returns:
        ``(...)`` head sizes in pixels, the ``head_sizes`` of :func:`pckh`.
    """
    box = torch.as_tensor(head_box)
    box = box.to(box.dtype if box.is_floating_point() else torch.get_default_dtype())
    if box.dim() == 0 or box.shape[-1] != 4:
        raise ConvzooError(f"mpii_head_size expects head boxes of shape (..., 4) (x1, y1, x2, y2), "
                           f"got {tuple(box.shape)}")
    return MPII_HEAD_SIZE_FACTOR * torch.linalg.vector_norm(box[..., 2:] - box[..., :2], dim=-1)


def pck(predicted: torch.Tensor, ground_truth: torch.Tensor, normaliser: torch.Tensor, threshold: float = 0.2,
        mean_joints: Sequence[int] | None = None) -> dict[str, torch.Tensor | float]:
    """Percentage of correct keypoints (as a fraction), per joint and pooled.

    Args:
        predicted: ``(N, J, 2)`` or ``(N, J, 3)`` predicted joints (x, y; a third column is not read).
        ground_truth: ``(N, J, 3)`` true joints (x, y, visibility; ``v > 0`` labelled).
        normaliser: ``(N,)`` the size each example's distances are divided by (torso or box size
            for PCK, head size for PCKh), positive wherever a joint is labelled.
        threshold: the largest correct distance, as a fraction of the normaliser.
        mean_joints: the joints the mean pools (all by default).

    Returns:
        ``per_joint``: ``(J,)`` float64 share of correct labelled instances, NaN for a joint never
        labelled; ``counts``: ``(J,)`` labelled instances per joint; ``mean``: the share over all
        labelled instances of ``mean_joints`` (NaN if there are none).
    """
    predicted, ground_truth, normaliser = _checked(predicted, ground_truth, normaliser)
    labelled = ground_truth[..., 2] > 0  # (N, J)
    _check_normaliser(normaliser, labelled)
    distance = torch.linalg.vector_norm(predicted[..., :2] - ground_truth[..., :2], dim=-1)  # (N, J)
    scale = torch.where(labelled.any(1), normaliser, torch.ones_like(normaliser))  # unused where nothing is labelled
    correct = (distance / scale[:, None] <= threshold) & labelled
    counts = labelled.sum(0)  # (J,)
    per_joint = correct.sum(0).double() / counts.double()  # NaN for 0 / 0
    joints = list(range(ground_truth.shape[1])) if mean_joints is None else list(mean_joints)
    if any(not 0 <= joint < ground_truth.shape[1] for joint in joints):
        raise ConvzooError(f"mean_joints {joints} are not all joint indices of the {ground_truth.shape[1]} joints")
    pooled = counts[joints].sum()
    mean = float(correct[:, joints].sum() / pooled) if pooled else float("nan")
    return {"per_joint": per_joint, "counts": counts, "mean": mean}


def pckh(predicted: torch.Tensor, ground_truth: torch.Tensor, head_sizes: torch.Tensor, threshold: float = 0.5,
         mean_joints: Sequence[int] | None = MPII_MEAN_JOINTS) -> dict[str, torch.Tensor | float]:
    """MPII's PCKh: PCK normalised by the head size (PCKh@0.5 by default).

    Args:
        predicted, ground_truth: as for :func:`pck`, in MPII's 16-joint order for the default mean.
        head_sizes: ``(N,)`` each person's head size: 0.6 times the head box diagonal,
            :func:`mpii_head_size` of MPII's head rectangles (not the box diagonal itself).
        threshold: the largest correct distance, as a fraction of the head size.
        mean_joints: the joints the mean pools; MPII's table leaves out the pelvis and thorax
            (:data:`MPII_MEAN_JOINTS`); ``None`` for all joints.

    Returns:
        As :func:`pck`.
    """
    shape = tuple(torch.as_tensor(ground_truth).shape)
    if mean_joints == MPII_MEAN_JOINTS and shape[1:2] != (MPII.num_joints,):
        raise ConvzooError(f"pckh's default mean is over MPII's {MPII.num_joints} joints, got ground truth of shape "
                           f"{shape}; pass mean_joints=None (all joints) or the indices to average")
    return pck(predicted, ground_truth, head_sizes, threshold=threshold, mean_joints=mean_joints)


def _checked(predicted: torch.Tensor, ground_truth: torch.Tensor,
             normaliser: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 CPU tensors of consistent shapes."""
    predicted = torch.as_tensor(predicted).detach().cpu().double()
    ground_truth = torch.as_tensor(ground_truth).detach().cpu().double()
    normaliser = torch.as_tensor(normaliser).detach().cpu().double().reshape(-1)
    if ground_truth.dim() != 3 or ground_truth.shape[2] != 3:
        raise ConvzooError(f"pck expects ground truth of shape (N, J, 3) (x, y, visibility), "
                           f"got {tuple(ground_truth.shape)}")
    if predicted.dim() != 3 or predicted.shape[:2] != ground_truth.shape[:2] or predicted.shape[2] not in (2, 3):
        raise ConvzooError(f"pck expects predictions of shape ({ground_truth.shape[0]}, {ground_truth.shape[1]}, 2), "
                           f"got {tuple(predicted.shape)}")
    if normaliser.numel() != ground_truth.shape[0]:
        raise ConvzooError(f"pck expects one normaliser per example ({ground_truth.shape[0]}), "
                           f"got {normaliser.numel()}")
    return predicted, ground_truth, normaliser


def _check_normaliser(normaliser: torch.Tensor, labelled: torch.Tensor) -> None:
    bad = labelled.any(1) & ~(normaliser > 0)
    if bad.any():
        index = int(bad.nonzero()[0])
        raise ConvzooError(f"pck normaliser of example {index} is {normaliser[index].item()}; expected a positive size")
