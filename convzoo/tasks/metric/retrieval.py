"""Retrieval: every test embedding queries all the others, ranked by distance; Recall@K, mAP and MAP@R.

Each item of the test split is a query in turn; the gallery is every other item (the query
is left out of its own gallery), ranked by Euclidean distance, nearest first. An item is
relevant to a query when it has the query's label; a query has ``R`` relevant items, the
other items of its class. With ``rel(i)`` = 1 when the item at rank ``i`` is relevant and
``P(i)`` the share of relevant items among the first ``i``:

* Recall@K, as in the deep metric learning literature (Oh Song et al., "Deep Metric
  Learning via Lifted Structured Feature Embedding", CVPR 2016, reported at K = 1, 2, 4,
  8): a query is a hit when any of its K nearest items is relevant; the share of hits;
* mAP: the mean over queries of the average precision over the whole ranking,
  ``AP = (1 / R) sum_i P(i) rel(i)``;
* MAP@R (Musgrave, Belongie and Lim, "A Metric Learning Reality Check", ECCV 2020,
  https://arxiv.org/abs/2003.08505): the same sum cut at rank ``R``,
  ``(1 / R) sum_{i <= R} P(i) rel(i)``, which is 1 only when the R relevant items come
  first, and rewards a well-ordered neighbourhood rather than one hit.

A query whose class has no other item has nothing to retrieve (R = 0): it is skipped by
every score, and the result says how many were (``skipped_queries``) beside the number
scored (``queries``).

mAP needs each query's whole ranking, so the queries go in batches sized to hold about
:data:`RANKING_BUDGET` distances at a time. Ties in distance are ranked by item index
(a stable sort).
"""

from __future__ import annotations

from typing import Sequence

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.neighbours import squared_distances

__all__ = ["RANKING_BUDGET", "ranked_relevance", "retrieval_scores"]

RANKING_BUDGET = 2**21  # query-gallery distances ranked at once (a few tens of MB with the indices)


def _checked(embeddings: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Float embeddings and int64 labels on one device, checked against each other and ``ks``."""
    labels = torch.as_tensor(labels)
    if embeddings.dim() != 2 or labels.shape != embeddings.shape[:1]:
        raise ConvzooError(f"retrieval expects (N, D) embeddings and (N,) labels, got shapes "
                           f"{tuple(embeddings.shape)} and {tuple(labels.shape)}")
    if not torch.isfinite(embeddings).all():
        raise ConvzooError("retrieval embeddings must be finite; got NaN or infinity")
    if not ks or min(ks) < 1 or max(ks) > len(embeddings) - 1:
        raise ConvzooError(f"Recall@K needs 1 <= K <= {len(embeddings) - 1} (the items besides the query); "
                           f"got K = {list(ks)}")
    if embeddings.dtype not in (torch.float32, torch.float64):
        embeddings = embeddings.float()
    return embeddings, labels.to(embeddings.device, torch.long)


def ranked_relevance(queries: torch.Tensor, query_indices: torch.Tensor, embeddings: torch.Tensor,
                     labels: torch.Tensor) -> torch.Tensor:
    """``(B, N - 1)`` bool: is the item at each rank of each query's ranking of the other items relevant?

    ``queries`` are ``embeddings[query_indices]``; each query's own item is ranked last (at
    infinite distance) and cut off.
    """
    distances = squared_distances(queries, embeddings)  # (B, N)
    rows = torch.arange(len(queries), device=queries.device)
    distances[rows, query_indices] = torch.inf
    order = torch.argsort(distances, dim=1, stable=True)[:, :-1]  # (B, N - 1), nearest first
    return labels[order] == labels[query_indices].unsqueeze(1)


def retrieval_scores(embeddings: torch.Tensor, labels: torch.Tensor | Sequence[int],
                     ks: Sequence[int] = (1, 2, 4, 8), *, batch_size: int | None = None) -> dict[str, float]:
    """Recall@K, mAP and MAP@R of every item querying the others.

    Args:
        embeddings: ``(N, D)``.
        labels: ``(N,)`` integer class of each item.
        ks: the K of Recall@K, each at most ``N - 1``.
        batch_size: queries ranked together; by default as many as fit
            :data:`RANKING_BUDGET` distances.

    Returns:
        ``{"recall@1", ..., "map", "map@r", "queries", "skipped_queries"}``: the scores
        (shares in [0, 1]) over the queries scored, their number, and the number skipped
        because their class has no other item.
    """
    embeddings, labels = _checked(embeddings, labels, ks)
    count = len(embeddings)
    _, class_index, class_sizes = torch.unique(labels, return_inverse=True, return_counts=True)
    relevant_total = class_sizes[class_index] - 1  # (N,) R of each query
    scored = torch.nonzero(relevant_total > 0).squeeze(1)
    if len(scored) == 0:
        raise ConvzooError(f"retrieval needs a class with two or more items; each of the {count} items "
                           f"is alone in its class")
    batch_size = batch_size or max(1, RANKING_BUDGET // count)
    ranks = torch.arange(1, count, device=embeddings.device, dtype=torch.float64)  # 1 .. N - 1
    hits = {k: 0.0 for k in ks}
    average_precision = precision_at_r = 0.0
    with torch.no_grad():
        for start in range(0, len(scored), batch_size):
            query_indices = scored[start:start + batch_size]
            relevant = ranked_relevance(embeddings[query_indices], query_indices, embeddings, labels)
            r = relevant_total[query_indices].unsqueeze(1).to(torch.float64)  # (B, 1)
            for k in ks:
                hits[k] += float(relevant[:, :k].any(dim=1).sum())
            precision = relevant.cumsum(dim=1) / ranks  # P(i)
            weighted = precision * relevant  # P(i) rel(i)
            average_precision += float((weighted.sum(dim=1, keepdim=True) / r).sum())
            precision_at_r += float(((weighted * (ranks <= r)).sum(dim=1, keepdim=True) / r).sum())
    queries = len(scored)
    scores = {f"recall@{k}": hits[k] / queries for k in ks}
    scores.update({"map": average_precision / queries, "map@r": precision_at_r / queries,
                   "queries": queries, "skipped_queries": count - queries})
    return scores
