"""Pose estimation for the training engine: the maps' weighted squared error over every stage, and PCK in a batch.

A pose network returns ``(B, S, C, h, w)``: S stages (hourglass stacks, OpenPose
stages) whose maps are all supervised (the papers' intermediate supervision), the last
being the prediction. A target is ``(B, 2, C, h, w)``: the target maps (Gaussian
heatmaps, and part affinity fields for a bottom-up network) and per-pixel weights (0 on
unlabelled joints and ignored regions). The loss is the sum over stages of the weighted
mean squared error (Newell et al. 2016, Sec. 3.3; Cao et al. 2017, Eq. 5).

The per-epoch score of a top-down network is PCK@0.2 inside the batch: keypoints
decoded from the last stage's heatmaps and from the target heatmaps (whose Gaussian
peaks decode to the true keypoints within a quarter of a heatmap pixel), a joint
correct within 0.2 of the larger side of the box around the person's labelled joints.
A bottom-up network's score comes from grouping whole images at the end of the run, so
its epochs log the loss alone.
"""

from __future__ import annotations

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.pose.decoding import decode_heatmaps

__all__ = ["PCK_THRESHOLD", "PoseTask", "box_sizes", "pose_loss"]

PCK_THRESHOLD = 0.2


def _check_shapes(output: torch.Tensor, target: torch.Tensor) -> None:
    if output.dim() != 5 or target.dim() != 5 or target.shape[1] != 2 or output.shape[2:] != target.shape[2:]:
        raise ConvzooError(
            f"a pose network's output (B, S, C, h, w) and its target (B, 2, C, h, w) must agree in C, h, w; got "
            f"{tuple(output.shape)} and {tuple(target.shape)}"
        )


def pose_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over stages of the weighted mean squared error of the maps."""
    _check_shapes(output, target)
    maps, weights = target[:, 0].unsqueeze(1), target[:, 1].unsqueeze(1)  # (B, 1, C, h, w)
    squared = (output.float() - maps).square() * weights
    return squared.mean(dim=(0, 2, 3, 4)).sum()


def box_sizes(keypoints: torch.Tensor) -> torch.Tensor:
    """``(B,)`` the larger side of the box around each person's labelled joints (at least 1)."""
    labelled = keypoints[..., 2] > 0
    big = torch.finfo(keypoints.dtype).max
    low = torch.where(labelled[..., None], keypoints[..., :2], big).amin(dim=1)
    high = torch.where(labelled[..., None], keypoints[..., :2], -big).amax(dim=1)
    sides = (high - low).amax(dim=1)
    return torch.where(labelled.any(dim=1), sides, torch.zeros_like(sides)).clamp(min=1.0)


class PoseTask:
    """What the training engine needs to know about pose estimation.

    Args:
        num_pafs: the output channels that are part affinity fields (0 for a top-down network).
        output_stride: input pixels per map pixel.
    """

    name = "pose"

    def __init__(self, num_pafs: int = 0, output_stride: int = 4) -> None:
        self.num_pafs = num_pafs
        self.output_stride = output_stride

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return pose_loss(output, target)

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        """Correct and labelled joints of PCK@0.2 (top-down networks); nothing for bottom-up ones."""
        if self.num_pafs:
            return {}
        predicted = decode_heatmaps(output[:, -1].detach().float(), stride=self.output_stride)
        truth = decode_heatmaps(target[:, 0].float(), stride=self.output_stride)
        labelled = target[:, 1].flatten(2).amax(dim=2) > 0  # (B, J): the joint's weights are not all 0
        truth[..., 2] = labelled.to(truth.dtype)
        distance = (predicted[..., :2] - truth[..., :2]).norm(dim=-1) / box_sizes(truth)[:, None]
        correct = (distance <= PCK_THRESHOLD) & labelled
        return {"pck_correct": correct.sum(), "pck_labelled": labelled.sum()}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        if "pck_labelled" not in sums:
            return {}
        return {"pck@0.2": sums["pck_correct"].item() / max(sums["pck_labelled"].item(), 1)}
