"""Dense pose: the IUV loss, its scores and the IUV image of a prediction.

Paper: DensePose: Dense Human Pose Estimation In The Wild (R. A. Guler, N. Neverova,
I. Kokkinos, CVPR 2018) https://arxiv.org/abs/1802.00434

A dense-pose network (:class:`~convzoo.models.densepose.DensePoseNet`) returns, per pixel,
``P + 1`` part logits (0 the background) and a ``(u, v)`` for each of the ``P`` parts;
the labels are ``parts`` (0 background, 1..P the part under the pixel) and ``uv``, the
pixel's true coordinates on its part's chart, meaningful where ``parts > 0``.

The loss (Section 4.1 of the paper) has the two terms of the two steps of the IUV
prediction: the cross-entropy of the part classifier over every pixel, and a smooth L1
loss of the (u, v) regression at body pixels only, each pixel supervising only the u and
v channels of its *true* part (the regressors of other parts, and all of them on the
background, get no gradient from it)::

    L = part_weight * CE(logits, parts) + uv_weight * mean_{parts > 0} smoothL1_beta(uv_hat[parts], uv)

The scores are read off one confusion matrix of parts plus running sums of the (u, v)
error, so a split's scores do not depend on its batching (:class:`DensePoseMeter`):

* ``part_miou``: the IoU ``TP / (T + P - TP)`` of each body part 1..P, averaged over the
  parts present in the targets or in the predictions (a part absent from both has no IoU
  and is left out); the background is not averaged in: it is most of the pixels and its
  IoU would hide how well the body is parsed. ``nan`` when no part is present at all.
* ``pixel_accuracy``: the share of all pixels, background included, whose predicted part is right.
* ``uv_error``: the mean Euclidean distance ``|| (u, v)_hat - (u, v) ||`` on the chart, over
  the body pixels whose predicted part is the true one (the paper's pixels with a
  correct ``I``, where ``U, V`` are comparable); ``nan`` when there are none.

Deviations:
    The paper evaluates with geodesic distances on the SMPL surface and a GPS-based AP;
    without a surface these chart-space measures replace them. The smooth L1 ``beta``
    defaults to 0.1 rather than PyTorch's 1: u and v lie in [0, 1], where beta 1 would
    make the loss purely quadratic and its gradient vanish as the error shrinks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from convzoo.errors import ConvzooError
from convzoo.models.densepose import split_iuv

__all__ = ["DensePoseMeter", "dense_pose_loss", "dense_pose_metrics", "iuv_map", "part_iou", "predicted_parts"]


def _check(output: torch.Tensor, parts: torch.Tensor, uv: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Batched ``(output, parts, uv)`` after checking their shapes and part values; one example gains a batch axis."""
    if output.dim() == 3:
        output, parts, uv = output.unsqueeze(0), parts.unsqueeze(0), uv.unsqueeze(0)
    split_iuv(output)  # checks the channel count
    batch, channels, height, width = output.shape
    num_parts = (channels - 1) // 3
    if parts.shape != (batch, height, width) or uv.shape != (batch, 2, height, width):
        raise ConvzooError(
            f"dense-pose labels for an output of shape {tuple(output.shape)} are parts ({batch}, {height}, {width}) "
            f"and uv ({batch}, 2, {height}, {width}), got parts {tuple(parts.shape)} and uv {tuple(uv.shape)}"
        )
    if parts.dtype.is_floating_point or parts.dtype == torch.bool:
        raise ConvzooError(f"dense-pose parts must be integer part indices, got dtype {parts.dtype}")
    if parts.numel() and (int(parts.min()) < 0 or int(parts.max()) > num_parts):
        bad = parts[(parts < 0) | (parts > num_parts)][0].item()
        raise ConvzooError(
            f"part index {bad} is neither the background 0 nor one of the {num_parts} parts 1..{num_parts}"
        )
    return output, parts.long(), uv


def _uv_of_part(u: torch.Tensor, v: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``(B, 2, H, W)``: at each pixel the u and v of part ``index`` (1..P; 0 reads part 1, to be masked out)."""
    channel = (index - 1).clamp(min=0).unsqueeze(1)  # (B, 1, H, W)
    return torch.cat([u.gather(1, channel), v.gather(1, channel)], dim=1)


def dense_pose_loss(
    output: torch.Tensor,
    parts: torch.Tensor,
    uv: torch.Tensor,
    *,
    part_weight: float = 1.0,
    uv_weight: float = 1.0,
    beta: float = 0.1,
) -> torch.Tensor:
    """The IUV loss: cross-entropy over the parts plus smooth L1 on the true part's (u, v) at body pixels.

    Args:
        output: ``(B, 3P + 1, H, W)`` as :class:`~convzoo.models.densepose.DensePoseNet` returns it
            (u, v already in [0, 1]); one example ``(3P + 1, H, W)`` also goes.
        parts: ``(B, H, W)`` integer part of each pixel, 0 the background.
        uv: ``(B, 2, H, W)`` true (u, v) of each pixel on its part's chart; ignored on the background.
        part_weight: weight of the cross-entropy, the mean over all pixels.
        uv_weight: weight of the (u, v) term, the mean over the body pixels and both coordinates
            (0 where there is no body pixel).
        beta: the smooth L1's switch from quadratic to linear.

    Returns:
        The scalar loss.
    """
    output, parts, uv = _check(output, parts, uv)
    logits, u, v = split_iuv(output)
    classification = F.cross_entropy(logits, parts)
    body = parts > 0  # (B, H, W)
    predicted_uv = _uv_of_part(u, v, parts).movedim(1, -1)[body]  # (N, 2) over the N body pixels
    true_uv = uv.movedim(1, -1)[body].to(predicted_uv.dtype)  # (N, 2)
    if true_uv.numel():
        regression = F.smooth_l1_loss(predicted_uv, true_uv, beta=beta)
    else:
        regression = predicted_uv.sum()  # 0, still part of the graph
    return part_weight * classification + uv_weight * regression


def predicted_parts(output: torch.Tensor) -> torch.Tensor:
    """The part index of every pixel, ``argmax`` of the part logits: ``(..., H, W)`` int64, 0 the background."""
    logits, _, _ = split_iuv(output)
    return logits.argmax(dim=-3)


def iuv_map(output: torch.Tensor) -> torch.Tensor:
    """DensePose's IUV image of a prediction: the predicted part I, and U, V of that part.

    ``output`` is ``(3P + 1, H, W)`` (or a batch ``(B, 3P + 1, H, W)``); the result is ``(3, H, W)``
    (or ``(B, 3, H, W)``) float: channel 0 the part index (0 background, 1..P), channels 1
    and 2 the u and v the network gives for that part, 0 on the background. (DensePose's
    IUV files store the same three channels as 8-bit, U and V times 255.)
    """
    batched = output if output.dim() == 4 else output.unsqueeze(0)
    _, u, v = split_iuv(batched)
    index = predicted_parts(batched)  # (B, H, W)
    uv = _uv_of_part(u, v, index) * (index > 0).unsqueeze(1)  # (B, 2, H, W), zero on the background
    iuv = torch.cat([index.unsqueeze(1).to(uv.dtype), uv], dim=1)  # (B, 3, H, W)
    return iuv if output.dim() == 4 else iuv[0]


def part_iou(confusion: torch.Tensor) -> torch.Tensor:
    """Per body part 1..P, the IoU of a ``(P + 1, P + 1)`` confusion matrix (rows: true); ``nan`` where absent."""
    confusion = confusion.to(torch.float64)
    hits = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - hits
    iou = torch.where(union > 0, hits / union.clamp(min=1), torch.full_like(hits, math.nan))
    return iou[1:]


class DensePoseMeter:
    """Dense-pose scores over many batches: a confusion matrix of parts and the (u, v) error summed.

    Args:
        num_parts: body parts P, background not counted.

    ``update`` adds a batch, ``compute`` gives the scores of everything added (see the
    module docstring).
    """

    def __init__(self, num_parts: int) -> None:
        self.num_parts = num_parts
        self.confusion = torch.zeros(num_parts + 1, num_parts + 1, dtype=torch.int64)
        self.uv_error_sum = 0.0
        self.uv_pixels = 0

    @torch.no_grad()
    def update(self, output: torch.Tensor, parts: torch.Tensor, uv: torch.Tensor) -> None:
        """Add a batch: ``output`` ``(B, 3P + 1, H, W)``, ``parts`` ``(B, H, W)``, ``uv`` ``(B, 2, H, W)``."""
        output, parts, uv = _check(output, parts, uv)
        if output.shape[1] != 3 * self.num_parts + 1:
            raise ConvzooError(
                f"this meter scores {self.num_parts} parts (3P + 1 = {3 * self.num_parts + 1} channels), "
                f"got an output of {output.shape[1]} channels"
            )
        _, u, v = split_iuv(output)
        guess = predicted_parts(output)  # (B, H, W)
        size = self.num_parts + 1
        pairs = (parts * size + guess).flatten().cpu()
        self.confusion += torch.bincount(pairs, minlength=size * size).view(size, size)
        right = (parts > 0) & (guess == parts)  # (B, H, W)
        error = (_uv_of_part(u, v, guess).double() - uv.double()).norm(dim=1)  # (B, H, W)
        self.uv_error_sum += float(error[right].sum())
        self.uv_pixels += int(right.sum())

    def compute(self) -> dict[str, float]:
        """``part_miou``, ``pixel_accuracy`` and ``uv_error`` of everything added."""
        iou = part_iou(self.confusion)
        present = iou[~iou.isnan()]
        total = int(self.confusion.sum())
        return {
            "part_miou": float(present.mean()) if present.numel() else math.nan,
            "pixel_accuracy": int(self.confusion.trace()) / total if total else math.nan,
            "uv_error": self.uv_error_sum / self.uv_pixels if self.uv_pixels else math.nan,
        }


def dense_pose_metrics(output: torch.Tensor, parts: torch.Tensor, uv: torch.Tensor) -> dict[str, float]:
    """``part_miou``, ``pixel_accuracy`` and ``uv_error`` of one batch (shapes as :func:`dense_pose_loss`)."""
    num_parts = (output.shape[-3] - 1) // 3 if output.dim() >= 3 else 0
    meter = DensePoseMeter(num_parts)
    meter.update(output, parts, uv)
    return meter.compute()
