"""Cross-modal retrieval scores: mAP over the whole gallery by cosine distance, and precision-recall curves.

Each query (an image's representation, say) ranks every item of the gallery (the texts'
representations) by cosine distance, nearest first; ties keep the gallery's order (a stable
sort). A gallery item is relevant to a query when their labels share a class (for one-hot
labels: the same class). With ``rel(k)`` = 1 when the item at rank ``k`` is relevant,
``P(k)`` the share of relevant items among the first ``k`` and ``R`` the query's relevant
items in the whole gallery, a query's average precision is ``(1 / R) sum_k P(k) rel(k)``
and mAP is its mean over the queries, as in the paper's evaluation (Section 4.2) and the
released code's ``fx_calc_map_label`` over the whole ranking. A query with no relevant item
counts 0, as in the released code.

The precision-recall curve is the mean over queries of (recall@k, precision@k) at every
rank k of the ranking.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convzoo.errors import ConvzooError

__all__ = ["RANKING_BUDGET", "cross_modal_map", "precision_recall_curve", "relevance_ranking"]

RANKING_BUDGET = 2**22  # query-gallery pairs ranked at once


def _label_matrix(labels: torch.Tensor, count: int, what: str) -> torch.Tensor:
    """``(N, C)`` float labels from one-hot/multi-hot ``(N, C)`` or class indices ``(N,)``."""
    labels = torch.as_tensor(labels)
    if labels.shape[:1] != (count,) or labels.dim() not in (1, 2):
        raise ConvzooError(f"{what} labels must be ({count},) class indices or ({count}, C) label vectors, "
                           f"got shape {tuple(labels.shape)}")
    if labels.dim() == 1:
        return F.one_hot(labels.long(), int(labels.max()) + 1).float()
    return labels.float()


def _checked(queries: torch.Tensor, gallery: torch.Tensor, query_labels: torch.Tensor,
             gallery_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise ConvzooError(f"retrieval expects (N, D) queries and (M, D) gallery items, got shapes "
                           f"{tuple(queries.shape)} and {tuple(gallery.shape)}")
    if len(gallery) == 0 or len(queries) == 0:
        raise ConvzooError("retrieval needs at least one query and one gallery item")
    query_labels = _label_matrix(query_labels, len(queries), "query")
    gallery_labels = _label_matrix(gallery_labels, len(gallery), "gallery")
    classes = max(query_labels.shape[1], gallery_labels.shape[1])
    query_labels = F.pad(query_labels, (0, classes - query_labels.shape[1]))
    gallery_labels = F.pad(gallery_labels, (0, classes - gallery_labels.shape[1]))
    return F.normalize(queries.float(), dim=1), F.normalize(gallery.float(), dim=1), query_labels, gallery_labels


def relevance_ranking(queries: torch.Tensor, gallery: torch.Tensor, query_labels: torch.Tensor,
                      gallery_labels: torch.Tensor) -> torch.Tensor:
    """``(N, M)`` bool: is the gallery item at each rank of each query's cosine ranking relevant?"""
    queries, gallery, query_labels, gallery_labels = _checked(queries, gallery, query_labels, gallery_labels)
    batch = max(1, RANKING_BUDGET // len(gallery))
    rows = []
    for start in range(0, len(queries), batch):
        order = torch.argsort(-(queries[start:start + batch] @ gallery.T), dim=1, stable=True)  # (b, M)
        shared = query_labels[start:start + batch] @ gallery_labels.T > 0  # (b, M)
        rows.append(torch.gather(shared, 1, order))
    return torch.cat(rows)


def cross_modal_map(queries: torch.Tensor, gallery: torch.Tensor, query_labels: torch.Tensor,
                    gallery_labels: torch.Tensor) -> float:
    """Mean average precision of ``queries`` ranking the whole ``gallery`` by cosine distance.

    Args:
        queries: ``(N, D)`` representations of one modality.
        gallery: ``(M, D)`` representations of the other.
        query_labels, gallery_labels: ``(N, C)`` and ``(M, C)`` one-hot or multi-hot label
            matrices, or ``(N,)`` and ``(M,)`` class indices.
    """
    with torch.no_grad():
        relevant = relevance_ranking(queries, gallery, query_labels, gallery_labels).double()
        ranks = torch.arange(1, relevant.shape[1] + 1, dtype=torch.float64)
        precision = relevant.cumsum(dim=1) / ranks
        total = relevant.sum(dim=1)
        average_precision = (precision * relevant).sum(dim=1) / total.clamp(min=1)
    return float(average_precision.mean())


def precision_recall_curve(queries: torch.Tensor, gallery: torch.Tensor, query_labels: torch.Tensor,
                           gallery_labels: torch.Tensor) -> tuple[list[float], list[float]]:
    """Recall and precision at every rank, each the mean over the queries that have a relevant item."""
    with torch.no_grad():
        relevant = relevance_ranking(queries, gallery, query_labels, gallery_labels).double()
        relevant = relevant[relevant.sum(dim=1) > 0]
        if len(relevant) == 0:
            raise ConvzooError("no query has a relevant gallery item: the precision-recall curve is undefined")
        hits = relevant.cumsum(dim=1)
        ranks = torch.arange(1, relevant.shape[1] + 1, dtype=torch.float64)
        recall = (hits / hits[:, -1:]).mean(dim=0)
        precision = (hits / ranks).mean(dim=0)
    return recall.tolist(), precision.tolist()
