"""The classification map: a scene's predicted classes drawn beside its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["classification_map_figure", "plot_classification_map"]


def _class_colours(num_classes: int) -> np.ndarray:
    """RGB colours, black for unlabelled (index 0), then one distinct colour per class."""
    import matplotlib

    palette = matplotlib.colormaps["tab20"].colors if num_classes <= 20 else None
    if palette is None:
        palette = matplotlib.colormaps["gist_ncar"](np.linspace(0.05, 0.95, num_classes))[:, :3]
    return np.concatenate([np.zeros((1, 3)), np.asarray(palette)[:num_classes]])


def classification_map_figure(
    labels: np.ndarray, predicted: np.ndarray, class_names: list[str], title: str = ""
) -> Figure:
    """Ground truth, the whole-scene prediction and the prediction on the labelled pixels, side by side.

    Black is an unlabelled pixel (no ground truth, so no score) or, in a map of the
    labelled pixels only, a pixel not classified; the legend names it with the classes.

    Args:
        labels: ground truth ``(H, W)``, 0 = unlabelled, k = class ``k - 1``.
        predicted: predicted class index ``(H, W)``, 0 to K - 1, or -1 where not predicted.
        class_names: class ``k`` is ``class_names[k]``.
        title: a line above the panels (e.g. the scores and the split they are of).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colours = _class_colours(len(class_names))
    cmap = ListedColormap(colours)
    shown = predicted + 1
    panels = [
        ("ground truth", labels),
        ("prediction, every pixel", shown),
        ("prediction, labelled pixels", np.where(labels > 0, shown, 0)),
    ]
    height, width = labels.shape
    figure = Figure(figsize=(3 * 3.6 * max(width / height, 0.5) + 2.5, 4.2), layout="constrained")
    for axis, (name, image) in zip(figure.subplots(1, 3), panels):
        axis.imshow(image, cmap=cmap, vmin=0, vmax=len(class_names), interpolation="nearest")
        axis.set_title(name)
        axis.set_axis_off()
    black = "unlabelled" + (", or not classified" if (predicted < 0).any() else "")
    handles = [Patch(facecolor=colours[0], edgecolor="0.6", label=black)]  # an edge, so black shows on white
    handles += [Patch(color=colours[k + 1], label=name) for k, name in enumerate(class_names)]
    figure.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    if title:
        figure.suptitle(title)
    return figure


def plot_classification_map(
    labels: np.ndarray, predicted: np.ndarray, class_names: list[str], path: str | Path, title: str = ""
) -> None:
    """Save :func:`classification_map_figure` (same arguments) as the PNG ``path``."""
    classification_map_figure(labels, predicted, class_names, title).savefig(path, dpi=100)
