"""A picture of an embedding space: the test embeddings projected to 2-D, coloured by class.

A metric-learning network should put the items of a class close together and the
classes apart; a 2-D projection shows whether it does, class by class. Two projections:

* PCA, the plane of the two directions of largest variance: linear and faithful to
  distances along that plane, but classes separated along other directions overlap;
* t-SNE (van der Maaten and Hinton, "Visualizing Data using t-SNE", JMLR 2008): keeps
  neighbourhoods (who is near whom) and shows clusters well, while distances between
  clusters and their sizes mean little.

Both are scikit-learn's, seeded. Deviations: t-SNE's perplexity is 30 (scikit-learn's
default) capped at a third of the items, so a small set can be drawn; it starts from the
PCA projection (``init="pca"``), which makes runs steadier.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["METHODS", "embedding_figure", "plot_embeddings", "project"]

METHODS = ("pca", "tsne")
_LEGEND_UP_TO = 20  # classes; beyond that a legend would not fit and the colours repeat


def project(embeddings: torch.Tensor | np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(N, 2)`` coordinates of ``(N, D)`` embeddings by PCA or t-SNE (see the module docstring)."""
    points = np.asarray(torch.as_tensor(embeddings).detach().cpu().double())
    if method not in METHODS:
        raise ConvzooError(f"unknown projection {method!r}; expected one of {', '.join(METHODS)}")
    if points.ndim != 2 or len(points) < 3 or points.shape[1] < 2:
        raise ConvzooError(f"a 2-D projection needs (N, D) embeddings with N >= 3 and D >= 2, "
                           f"got shape {points.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(points)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(points) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(points)


def _colours(num_classes: int) -> np.ndarray:
    """One RGBA colour per class: tab10 / tab20 while they suffice, then a continuous colour map."""
    import matplotlib

    if num_classes <= 10:
        return np.asarray(matplotlib.colormaps["tab10"].colors)[:num_classes]
    if num_classes <= 20:
        return np.asarray(matplotlib.colormaps["tab20"].colors)[:num_classes]
    return matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, num_classes))


def embedding_figure(embeddings: torch.Tensor | np.ndarray, labels: torch.Tensor | Sequence[int],
                     method: str = "pca", class_names: Sequence[str] | None = None, seed: int = 0,
                     title: str = "") -> Figure:
    """The embeddings projected by ``method``, one colour per class, with a legend up to 20 classes.

    Args:
        embeddings: ``(N, D)``.
        labels: ``(N,)`` integer classes; class ``k`` is named ``class_names[k]`` when given.
        method: ``"pca"`` or ``"tsne"``.
        class_names: names of the classes, indexed by label.
        seed: the projection's random state.
        title: a line above the plot (e.g. the model and split).
    """
    from matplotlib.figure import Figure

    labels = np.asarray(torch.as_tensor(labels).cpu())
    if labels.shape != (len(embeddings),):
        raise ConvzooError(f"plotting embeddings expects one label per embedding; got {len(embeddings)} "
                           f"embeddings and labels of shape {labels.shape}")
    classes = np.unique(labels)
    if class_names is not None:
        unnamed = classes[(classes < 0) | (classes >= len(class_names))]
        if len(unnamed):
            raise ConvzooError(f"label {int(unnamed[0])} has no name among the {len(class_names)} class names")
    points = project(embeddings, method, seed)
    colours = _colours(len(classes))
    figure = Figure(figsize=(6.4 if len(classes) <= _LEGEND_UP_TO else 5.2, 5.2), layout="constrained")
    axis = figure.subplots()
    size = float(np.clip(3000 / len(points), 2, 30))  # smaller markers for more points
    for colour, label in zip(colours, classes):
        chosen = labels == label
        name = class_names[label] if class_names is not None else str(label)
        axis.scatter(points[chosen, 0], points[chosen, 1], s=size, color=colour, label=name, alpha=0.8,
                     linewidths=0)
    if len(classes) <= _LEGEND_UP_TO:
        figure.legend(loc="outside right center", fontsize=7, frameon=False, markerscale=max(1.0, 20 / size))
    shown = "PCA" if method == "pca" else "t-SNE"
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel(f"{shown} 1")
    axis.set_ylabel(f"{shown} 2")
    axis.set_title(title or f"embeddings by {shown}: {len(points)} items, {len(classes)} classes")
    return figure


def plot_embeddings(embeddings: torch.Tensor | np.ndarray, labels: torch.Tensor | Sequence[int], path: str | Path,
                    method: str = "pca", class_names: Sequence[str] | None = None, seed: int = 0,
                    title: str = "") -> Path:
    """Save :func:`embedding_figure` (same arguments) as the PNG ``path``."""
    figure = embedding_figure(embeddings, labels, method, class_names, seed, title)
    path = Path(path)
    try:
        figure.savefig(path, dpi=100)
    except OSError as error:
        raise ConvzooError(f"cannot write {path}: {error}") from None
    return path
