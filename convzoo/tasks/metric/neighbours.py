"""Nearest neighbours in an embedding space: exact search by matrix products in blocks, or a FAISS index.

Retrieval and one-shot evaluation ask, for every query embedding, which gallery
embeddings lie nearest (Euclidean distance). The exact search expands
``|q - g|^2 = |q|^2 + |g|^2 - 2 q.g``, so the cross term of a whole block of queries and
gallery items is one matrix product, and keeps a running top-k per query while it walks
the gallery block by block: memory stays at one ``batch_size x gallery_batch_size``
block, never the full ``Q x G`` matrix, and the search runs on whatever device the
tensors are on.

For galleries too large for that, ``backend="faiss"`` searches a FAISS ``IndexFlatL2``
(Johnson, Douze and Jegou, "Billion-scale similarity search with GPUs", IEEE Trans. Big
Data 2019, https://arxiv.org/abs/1702.08734): also exact, with its own tuned kernels.
FAISS is optional (``pip install faiss-cpu``) and only imported when asked for.

Deviations: distances are computed in the inputs' floating dtype (float32 unless given
float64; FAISS always float32), so two gallery items whose distances to a query differ by
less than that rounding may come in either order, as may exact ties.
"""

from __future__ import annotations

import torch

from convzoo.errors import ConvzooError

__all__ = ["BACKENDS", "nearest_neighbours", "squared_distances"]

BACKENDS = ("exact", "faiss")


def squared_distances(queries: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """``(Q, G)`` squared Euclidean distances by one matrix product, clamped at 0 against rounding."""
    cross = queries @ gallery.T  # (Q, G)
    squared = queries.pow(2).sum(1, keepdim=True) + gallery.pow(2).sum(1) - 2 * cross
    return squared.clamp_(min=0)


def _check(queries: torch.Tensor, gallery: torch.Tensor, k: int, exclude_self: bool, backend: str) -> None:
    """One clear error for a bad search request."""
    if backend not in BACKENDS:
        raise ConvzooError(f"unknown nearest-neighbour backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if queries.dim() != 2 or gallery.dim() != 2 or queries.shape[1] != gallery.shape[1]:
        raise ConvzooError(f"nearest neighbours expect (Q, D) queries and (G, D) gallery embeddings, "
                           f"got shapes {tuple(queries.shape)} and {tuple(gallery.shape)}")
    if exclude_self and len(queries) != len(gallery):
        raise ConvzooError(f"exclude_self expects the queries to be the gallery; got {len(queries)} queries "
                           f"and {len(gallery)} gallery items")
    available = len(gallery) - int(exclude_self)
    if not 1 <= k <= available:
        raise ConvzooError(f"k = {k} neighbours asked for, but the gallery offers {available}"
                           f"{' besides the query itself' if exclude_self else ''}")


def _floating(tensor: torch.Tensor) -> torch.Tensor:
    """float64 stays float64; every other dtype becomes float32."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def _exact(queries: torch.Tensor, gallery: torch.Tensor, k: int, exclude_self: bool, batch_size: int,
           gallery_batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockwise search: per query batch, the k best of each gallery block merged into a running top-k."""
    dtype = torch.promote_types(_floating(queries).dtype, _floating(gallery).dtype)
    queries, gallery = queries.to(dtype), gallery.to(queries.device, dtype)
    all_distances, all_indices = [], []
    for start in range(0, len(queries), batch_size):
        batch = queries[start:start + batch_size]
        rows = torch.arange(len(batch), device=queries.device)
        best = torch.full((len(batch), k), torch.inf, dtype=dtype, device=queries.device)
        best_index = torch.full((len(batch), k), -1, dtype=torch.long, device=queries.device)
        for offset in range(0, len(gallery), gallery_batch_size):
            block = squared_distances(batch, gallery[offset:offset + gallery_batch_size])  # (B, Gb)
            if exclude_self:
                own = start + rows - offset  # each query's own column in this block
                inside = (own >= 0) & (own < block.shape[1])
                block[rows[inside], own[inside]] = torch.inf
            near, near_index = block.topk(min(k, block.shape[1]), dim=1, largest=False)
            merged = torch.cat([best, near], dim=1)
            merged_index = torch.cat([best_index, near_index + offset], dim=1)
            best, chosen = merged.topk(k, dim=1, largest=False)  # ascending
            best_index = merged_index.gather(1, chosen)
        all_distances.append(best.sqrt())
        all_indices.append(best_index)
    return torch.cat(all_distances), torch.cat(all_indices)


def _faiss(queries: torch.Tensor, gallery: torch.Tensor, k: int, exclude_self: bool,
           batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Search a FAISS ``IndexFlatL2``; with ``exclude_self``, ask one more and drop each query's own index."""
    try:
        import faiss
    except ImportError:
        raise ConvzooError("the faiss nearest-neighbour backend needs FAISS: pip install faiss-cpu") from None
    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(gallery.detach().cpu().float().contiguous().numpy())
    asked = k + int(exclude_self)
    all_distances, all_indices = [], []
    for start in range(0, len(queries), batch_size):
        batch = queries[start:start + batch_size].detach().cpu().float().contiguous().numpy()
        squared, found = index.search(batch, asked)
        squared, found = torch.from_numpy(squared), torch.from_numpy(found).long()
        if exclude_self:
            # drop the query's own index; where it is not among the asked (a tie at distance 0), drop the last
            own = (found == torch.arange(start, start + len(batch)).unsqueeze(1))
            own[:, -1] |= ~own.any(dim=1)
            keep = ~own
            squared, found = squared[keep].view(len(batch), k), found[keep].view(len(batch), k)
        all_distances.append(squared.clamp(min=0).sqrt())
        all_indices.append(found)
    return torch.cat(all_distances).to(queries.device), torch.cat(all_indices).to(queries.device)


def nearest_neighbours(queries: torch.Tensor, gallery: torch.Tensor, k: int, *, batch_size: int = 1024,
                       gallery_batch_size: int = 16384, exclude_self: bool = False,
                       backend: str = "exact") -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` gallery items nearest to each query, nearest first.

    Args:
        queries: ``(Q, D)`` embeddings.
        gallery: ``(G, D)`` embeddings.
        k: neighbours per query, at most ``G`` (``G - 1`` with ``exclude_self``).
        batch_size: queries searched together.
        gallery_batch_size: gallery items compared with a query batch at once (exact search):
            the largest matrix held is ``batch_size x gallery_batch_size``.
        exclude_self: the queries are the gallery; query ``i`` never returns item ``i``.
        backend: ``"exact"`` (matrix products) or ``"faiss"`` (an exact ``IndexFlatL2``;
            needs ``pip install faiss-cpu``).

    Returns:
        ``(distances, indices)``: ``(Q, k)`` Euclidean distances, ascending along each row,
        and ``(Q, k)`` int64 gallery indices, on the queries' device.
    """
    _check(queries, gallery, k, exclude_self, backend)
    if batch_size < 1 or gallery_batch_size < 1:
        raise ConvzooError(f"batch sizes must be positive; got {batch_size} and {gallery_batch_size}")
    with torch.no_grad():
        if backend == "faiss":
            return _faiss(queries, gallery, k, exclude_self, batch_size)
        return _exact(queries, gallery, k, exclude_self, batch_size, gallery_batch_size)
