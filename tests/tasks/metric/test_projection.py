"""The 2-D picture of embeddings: a PNG by PCA and by t-SNE."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.projection import plot_embeddings


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_embeddings_writes_a_png(tmp_path, method):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(10)
    embeddings = 3 * torch.randn(3, 8, generator=generator)[labels] + torch.randn(30, 8, generator=generator)
    path = plot_embeddings(embeddings, labels, tmp_path / f"{method}.png", method=method,
                           class_names=["cat", "dog", "owl"])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def test_bad_requests_are_one_line_errors(tmp_path):
    embeddings, labels = torch.randn(10, 4), torch.arange(10) % 3
    with pytest.raises(ConvzooError, match="umap"):
        plot_embeddings(embeddings, labels, tmp_path / "x.png", method="umap")
    with pytest.raises(ConvzooError, match="label 2 has no name"):
        plot_embeddings(embeddings, labels, tmp_path / "x.png", class_names=["a", "b"])
    with pytest.raises(ConvzooError, match="one label per embedding"):
        plot_embeddings(embeddings, labels[:5], tmp_path / "x.png")
