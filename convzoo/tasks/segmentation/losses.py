"""Segmentation losses: cross-entropy that skips ignored pixels, soft multi-class Dice, and their sum.

Cross-entropy scores every pixel on its own, so on images where the background covers
most pixels its gradient is dominated by the background. The Dice loss (Milletari et
al., V-Net, 3DV 2016, https://arxiv.org/abs/1606.04797, Eq. 1) scores the overlap of
each class's predicted probability map ``p_k`` with its one-hot target ``t_k`` instead,

    Dice_k = (2 sum_i p_ik t_ik + s) / (sum_i p_ik + sum_i t_ik + s),   loss = 1 - mean_k Dice_k,

a ratio that a small class counts as much as a large one. :func:`segmentation_loss` adds
the two, ``CE + dice_weight * Dice``, a common pairing (nnU-Net's, for one).

Pixels whose target is ``ignore_index`` count in neither term. The sums run over the
whole batch and every pixel (one Dice per class and batch, not per image), so a class
absent from one image does not make that image's Dice undefined.

Deviations:
    The denominators are plain sums, not V-Net's sums of squares (the form of
    segmentation_models_pytorch and MONAI by default); the smoothing ``s = 1`` keeps a
    class absent from both prediction and target at Dice 1 (no loss) and gives a class
    absent from the target a loss that drives its predicted probability to zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DICE_SMOOTHING", "cross_entropy_loss", "segmentation_loss", "soft_dice_loss"]

DICE_SMOOTHING = 1.0


def cross_entropy_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Mean cross-entropy over the pixels whose target is not ``ignore_index``; 0 if every pixel is ignored.

    Shape:
        logits ``(B, K, *S)``, target ``(B, *S)`` of class indices.
    """
    total = F.cross_entropy(logits.float(), target, ignore_index=ignore_index, reduction="sum")
    counted = (target != ignore_index).sum().clamp_min(1)
    return total / counted


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, smoothing: float = DICE_SMOOTHING
) -> torch.Tensor:
    """``1 - mean_k Dice_k`` of the softmax probabilities against the one-hot target (module docstring).

    Shape:
        logits ``(B, K, *S)``, target ``(B, *S)`` of class indices.
    """
    num_classes = logits.shape[1]
    counted = (target != ignore_index).unsqueeze(1)  # (B, 1, *S)
    probs = logits.float().softmax(dim=1) * counted  # (B, K, *S): zero at ignored pixels
    one_hot = F.one_hot(target.where(counted[:, 0], 0), num_classes).movedim(-1, 1) * counted  # (B, K, *S)
    axes = [0, *range(2, logits.dim())]
    overlap = (probs * one_hot).sum(dim=axes)  # (K,)
    sizes = probs.sum(dim=axes) + one_hot.sum(dim=axes)  # (K,)
    dice = (2 * overlap + smoothing) / (sizes + smoothing)
    return 1 - dice.mean()


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, dice_weight: float = 1.0
) -> torch.Tensor:
    """``cross-entropy + dice_weight * soft Dice``, both skipping ``ignore_index`` pixels."""
    loss = cross_entropy_loss(logits, target, ignore_index)
    if dice_weight:
        loss = loss + dice_weight * soft_dice_loss(logits, target, ignore_index)
    return loss
