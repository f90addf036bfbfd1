"""Euclidean distances between embeddings, safe to differentiate at zero.

The derivative of ``sqrt(s)`` is ``1 / (2 sqrt(s))``, infinite at ``s = 0``; an anchor's
distance to itself, or to a duplicate of itself, is exactly such a zero, and one infinite
factor turns the whole gradient into NaN (``0 * inf``). :func:`safe_sqrt` takes the root
only of the positive entries and gives the zero entries a zero distance with a zero
gradient, which is the subgradient a norm has at the origin.

The pairwise matrix uses the Gram expansion ``|x_i - x_j|^2 = |x_i|^2 + |x_j|^2 - 2 x_i . x_j``
(memory ``N^2``, not ``N^2 D``), clamped at zero against rounding, with an exact zero on
the diagonal. The expansion cancels badly in low precision, so half-precision embeddings
are measured in float32 and autocast (``--amp``) is switched off for the product.
"""

from __future__ import annotations

import torch

__all__ = ["pair_distances", "pairwise_distances", "safe_sqrt"]


def _at_least_float32(embeddings: torch.Tensor) -> torch.Tensor:
    return embeddings.to(torch.promote_types(embeddings.dtype, torch.float32))


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """``sqrt`` of non-negative ``squared``, 0 with a zero (finite) gradient where it is 0."""
    positive = squared > 0
    root = torch.where(positive, squared, torch.ones_like(squared)).sqrt()  # no sqrt(0) in the graph
    return torch.where(positive, root, torch.zeros_like(root))


def pairwise_distances(embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Euclidean distance between every two rows of ``embeddings`` (squared if ``squared``).

    Shape:
        embeddings ``(N, D)`` -> ``(N, N)``, symmetric, zero on the diagonal.
    """
    embeddings = _at_least_float32(embeddings)
    with torch.autocast(embeddings.device.type, enabled=False):
        gram = embeddings @ embeddings.T  # (N, N)
    norms = gram.diagonal()  # (N,): |x_i|^2
    squared_distances = (norms[:, None] + norms[None, :] - 2 * gram).clamp_min(0)
    eye = torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    squared_distances = squared_distances.masked_fill(eye, 0)
    return squared_distances if squared else safe_sqrt(squared_distances)


def pair_distances(a: torch.Tensor, b: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Euclidean distance between row ``i`` of ``a`` and row ``i`` of ``b`` (squared if ``squared``).

    Shape:
        a, b ``(N, D)`` -> ``(N,)``.
    """
    squared_distances = (_at_least_float32(a) - _at_least_float32(b)).pow(2).sum(dim=1)
    return squared_distances if squared else safe_sqrt(squared_distances)
