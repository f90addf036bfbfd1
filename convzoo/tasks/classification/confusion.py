"""The confusion matrix as a picture: where a classifier's mistakes go."""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["plot_confusion"]

_ANNOTATE_UP_TO = 20  # classes; beyond that the numbers would not fit in the cells


def plot_confusion(confusion: torch.Tensor, class_names: list[str], path: Path) -> None:
    """Rows are true classes, columns predictions; cells coloured by row-normalised share."""
    import matplotlib  # slow to import: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = confusion.cpu()
    shares = counts / counts.sum(dim=1, keepdim=True).clamp(min=1)
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="share of the true class")
    if len(class_names) <= _ANNOTATE_UP_TO:
        ticks = range(len(class_names))
        axis.set_xticks(ticks, class_names, rotation=90)
        axis.set_yticks(ticks, class_names)
        for row in ticks:
            for column in ticks:
                value = int(counts[row, column])
                if value:
                    colour = "white" if shares[row, column] > 0.5 else "black"
                    axis.text(column, row, str(value), ha="center", va="center", color=colour, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("confusion matrix (test)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
