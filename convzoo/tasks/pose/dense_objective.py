"""Dense pose for the training engine: the IUV loss, and part IoU and (u, v) error summed over batches.

A dense network returns ``(B, 3P + 1, H, W)`` (part logits, then u and v per part); a
target is ``(B, 3, H, W)``: the part index (as a float), then the true u and v
(:class:`~convzoo.data.pose.synthetic_sets.SyntheticDense`). The loss is
:func:`~convzoo.tasks.pose.dense.dense_pose_loss`; the scores come from a confusion matrix
of parts and the (u, v) error on correctly labelled pixels, both sums, so that they add up
across batches and processes.
"""

from __future__ import annotations

import torch

from convzoo.tasks.pose.dense import DensePoseMeter, dense_pose_loss

__all__ = ["DensePoseTask", "split_labels"]


def split_labels(target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 3, H, W)`` labels as the part index ``(B, H, W)`` int64 and ``uv`` ``(B, 2, H, W)``."""
    return target[:, 0].round().long(), target[:, 1:]


class DensePoseTask:
    """What the training engine needs to know about dense pose, for ``num_parts`` body parts."""

    name = "pose"

    def __init__(self, num_parts: int) -> None:
        self.num_parts = num_parts

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        parts, uv = split_labels(target)
        return dense_pose_loss(output.float(), parts, uv)

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        meter = DensePoseMeter(self.num_parts)
        meter.update(output.detach().float(), *split_labels(target))
        return {"confusion": meter.confusion, "uv_error_sum": torch.tensor(meter.uv_error_sum, dtype=torch.float64),
                "uv_pixels": torch.tensor(meter.uv_pixels)}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        meter = DensePoseMeter(self.num_parts)
        meter.confusion = sums["confusion"].cpu()
        meter.uv_error_sum = float(sums["uv_error_sum"])
        meter.uv_pixels = int(sums["uv_pixels"])
        return meter.compute()
