"""Nearest neighbours: blockwise exact search equals cdist + topk at any batch size; FAISS equals exact."""

from __future__ import annotations

import sys

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.neighbours import nearest_neighbours


def _points(count: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(count, 8, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_exact_search_equals_cdist_topk():
    queries, gallery = _points(37, 0), _points(101, 1)
    distances, indices = nearest_neighbours(queries, gallery, 5, batch_size=7, gallery_batch_size=16)
    expected_distances, expected_indices = torch.cdist(queries, gallery).topk(5, dim=1, largest=False)
    torch.testing.assert_close(distances, expected_distances)
    assert torch.equal(indices, expected_indices)


def test_batched_equals_unbatched_and_exclude_self():
    points = _points(90, 2)
    whole = nearest_neighbours(points, points, 6, batch_size=10**6, gallery_batch_size=10**6, exclude_self=True)
    batched = nearest_neighbours(points, points, 6, batch_size=8, gallery_batch_size=13, exclude_self=True)
    torch.testing.assert_close(batched[0], whole[0])
    assert torch.equal(batched[1], whole[1])
    expected = torch.cdist(points, points).fill_diagonal_(torch.inf).topk(6, dim=1, largest=False)
    torch.testing.assert_close(whole[0], expected.values)
    assert torch.equal(whole[1], expected.indices)
    assert not (whole[1] == torch.arange(90).unsqueeze(1)).any()


@pytest.mark.parametrize("exclude_self", [False, True])
def test_faiss_equals_exact(exclude_self):
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (optional backend)")
    points = _points(120, 3, torch.float32)
    queries = points if exclude_self else _points(40, 4, torch.float32)
    exact = nearest_neighbours(queries, points, 7, exclude_self=exclude_self)
    found = nearest_neighbours(queries, points, 7, exclude_self=exclude_self, backend="faiss", batch_size=16)
    assert torch.equal(found[1], exact[1])
    torch.testing.assert_close(found[0], exact[0], rtol=1e-4, atol=1e-4)


def test_missing_faiss_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` fail
    with pytest.raises(ConvzooError, match="pip install faiss-cpu"):
        nearest_neighbours(_points(4, 0), _points(4, 1), 1, backend="faiss")


def test_bad_requests_are_one_line_errors():
    points = _points(5, 0)
    with pytest.raises(ConvzooError, match="k = 5"):
        nearest_neighbours(points, points, 5, exclude_self=True)
    with pytest.raises(ConvzooError, match="shapes"):
        nearest_neighbours(points, points[:, :3], 1)
    with pytest.raises(ConvzooError, match="backend"):
        nearest_neighbours(points, points, 1, backend="annoy")
