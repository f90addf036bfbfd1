"""DSCMR's three losses (Zhen et al., CVPR 2019, Section 3.2): label space, common space, modality invariance.

With ``u_i`` and ``v_j`` an image's and a text's representations in the common space,
``P`` the shared linear classifier and ``y`` the label vectors (one-hot or multi-hot):

* J1, discrimination in the label space (Eq. 1): ``mean_i ||P^T u_i - y_i||_F`` plus the
  same for the texts: the classifier's output regressed onto the label vector;
* J2, discrimination in the common space (Eqs. 2-4): with
  ``theta_ij = cos(u_i, v_j) / 2`` and ``S_ij = 1`` when the two items share a class, the
  negative log-likelihood of the similarities,
  ``log(1 + exp(theta_ij)) - S_ij theta_ij``, averaged over the image-text pairs, the
  image-image pairs and the text-text pairs of the batch, the three averages added;
* J3, modality invariance (Eq. 5): ``mean_i ||u_i - v_i||_F`` over the pairs.

The objective is ``J1 + alpha J2 + beta J3`` (Eq. 6), with the released code's alpha = 1e-3
and beta = 1e-1.

Deviations:
    The released code writes ``S`` as the product of the label matrices, a count of shared
    classes for multi-hot labels; here ``S_ij`` is 1 when the labels share any class (the
    paper's definition; the same for one-hot labels). The cosine's denominator is clamped
    at 1e-6, as in the released code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ALPHA", "BETA", "common_space_loss", "dscmr_loss", "label_space_loss", "label_similarity",
           "modality_invariance_loss"]

ALPHA = 1e-3  # weight of J2 in the released code
BETA = 1e-1  # weight of J3 in the released code
COSINE_FLOOR = 1e-6


def label_similarity(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``(N, M)``: 1 where a label vector of ``first`` and one of ``second`` share a class, else 0."""
    return (first.float() @ second.float().T > 0).float()


def _half_cosine(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    norms = first.norm(dim=1, keepdim=True) * second.norm(dim=1, keepdim=True).T
    return first @ second.T / norms.clamp(min=COSINE_FLOOR) / 2


def _pair_likelihood(first: torch.Tensor, second: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    theta = _half_cosine(first, second)
    return (F.softplus(theta) - similar * theta).mean()  # softplus(t) = log(1 + exp(t))


def label_space_loss(image_logits: torch.Tensor, text_logits: torch.Tensor, image_labels: torch.Tensor,
                     text_labels: torch.Tensor) -> torch.Tensor:
    """J1: the mean distance of each modality's predictions from its label vectors, the two added."""
    return ((image_logits - image_labels.float()).norm(dim=1).mean()
            + (text_logits - text_labels.float()).norm(dim=1).mean())


def common_space_loss(image_common: torch.Tensor, text_common: torch.Tensor, image_labels: torch.Tensor,
                      text_labels: torch.Tensor) -> torch.Tensor:
    """J2: the similarities' negative log-likelihood over image-image, image-text and text-text pairs."""
    return (_pair_likelihood(image_common, image_common, label_similarity(image_labels, image_labels))
            + _pair_likelihood(image_common, text_common, label_similarity(image_labels, text_labels))
            + _pair_likelihood(text_common, text_common, label_similarity(text_labels, text_labels)))


def modality_invariance_loss(image_common: torch.Tensor, text_common: torch.Tensor) -> torch.Tensor:
    """J3: the mean distance between the two representations of each pair."""
    return (image_common - text_common).norm(dim=1).mean()


def dscmr_loss(image_common: torch.Tensor, text_common: torch.Tensor, image_logits: torch.Tensor,
               text_logits: torch.Tensor, image_labels: torch.Tensor, text_labels: torch.Tensor,
               alpha: float = ALPHA, beta: float = BETA, *, label_weight: float = 1.0) -> torch.Tensor:
    """DSCMR's objective ``label_weight J1 + alpha J2 + beta J3`` (Eq. 6): a scalar.

    Args:
        image_common, text_common: ``(B, D)`` u and v of B image-text pairs.
        image_logits, text_logits: ``(B, C)`` P^T u and P^T v.
        image_labels, text_labels: ``(B, C)`` one-hot or multi-hot label matrices.
        alpha, beta: the weights of J2 and J3 (the released code's 1e-3 and 1e-1).
        label_weight: the weight of J1 (1 in the paper; 0 drops it, the paper's ablation).
    """
    total = alpha * common_space_loss(image_common, text_common, image_labels, text_labels)
    total = total + beta * modality_invariance_loss(image_common, text_common)
    if label_weight:
        total = total + label_weight * label_space_loss(image_logits, text_logits, image_labels, text_labels)
    return total
