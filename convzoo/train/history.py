"""The per-epoch record of a run, written as CSV, JSON lines and a training-curve PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["History"]

# Names of the metrics on the y axes; others are shown as they are named.
METRIC_LABELS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "top5": "top-5 accuracy",
    "average_accuracy": "average accuracy (AA)",
    "kappa": "Cohen's kappa",
    "psnr": "PSNR (dB)",
}
# The shortest y range of a bounded score: a top-5 accuracy that moves from 99.4% to 99.6%
# is noise, and on an axis zoomed to its own range it would look like a fall.
MIN_SPAN = 0.1


def _bounded_limits(values: list[float], floor: float) -> tuple[float, float]:
    """y limits of a score in [``floor``, 1]: around the values, inside the bounds, at least :data:`MIN_SPAN` tall."""
    low, high = min(values), max(values)
    pad = 0.05 * max(high - low, MIN_SPAN)
    bottom = max(floor, min(low - pad, high + pad - MIN_SPAN))
    top = min(1.0, max(high + pad, bottom + MIN_SPAN))
    return bottom - 0.01, top + 0.01  # a hair beyond, so markers on a bound show whole


class History:
    """Rows of ``{"epoch": ..., "train_loss": ..., "val_accuracy": ..., ...}``.

    Args:
        title: what the curves are of, e.g. ``"lenet5 on digits"``; heads the plot.
    """

    def __init__(self, title: str = "") -> None:
        self.title = title
        self.rows: list[dict[str, float]] = []

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)

    def write(self, folder: Path) -> None:
        """Write ``metrics.csv``, ``metrics.jsonl`` and ``curves.png`` into ``folder``."""
        if not self.rows:
            return
        columns = list(self.rows[0])
        with open(folder / "metrics.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        with open(folder / "metrics.jsonl", "w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in self.rows)
        self.plot(folder / "curves.png")

    def figure(self) -> Figure:
        """Loss and every other metric against epochs, train and validation side by side.

        Epoch ticks are whole numbers. A share (every value in [0, 1], such as an accuracy)
        is drawn in percent on a range at least 10 points tall, and Cohen's kappa on one at
        least 0.1 tall, so noise near 100% stays small. A single epoch is drawn as points:
        a line needs two.
        """
        from matplotlib.figure import Figure

        metrics = sorted({key.split("_", 1)[1] for key in self.rows[0] if key.startswith(("train_", "val_"))})
        metrics.sort(key=lambda name: name != "loss")
        figure = Figure(figsize=(5 * len(metrics), 4.3), layout="constrained")
        axes = figure.subplots(1, len(metrics), squeeze=False)[0]
        for axis, metric in zip(axes, metrics):
            self._draw_metric(axis, metric)
        epochs = len(self.rows)
        figure.suptitle(f"{self.title + ': ' if self.title else ''}training curves, {epochs} "
                        f"epoch{'s' if epochs != 1 else ''}")
        return figure

    def _draw_metric(self, axis: Axes, metric: str) -> None:
        """One metric's train and validation values against the epoch."""
        from matplotlib.ticker import MaxNLocator, PercentFormatter

        epochs = [row["epoch"] for row in self.rows]
        style = "-o" if len(epochs) > 1 else "o"
        values = []
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if key in self.rows[0]:
                series = [row[key] for row in self.rows]
                axis.plot(epochs, series, style, label=split)
                values += series
        if metric == "kappa":  # a coefficient in [-1, 1], not a share
            axis.set_ylim(*_bounded_limits(values, -1.0))
        elif metric != "loss" and all(0.0 <= value <= 1.0 for value in values):  # a share: an accuracy, say
            axis.set_ylim(*_bounded_limits(values, 0.0))
            axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        axis.set_xlabel("epoch")
        axis.set_ylabel(METRIC_LABELS.get(metric, metric))
        axis.grid(alpha=0.3)
        axis.legend()

    def plot(self, path: Path) -> None:
        """Save :meth:`figure` as a PNG."""
        self.figure().savefig(path, dpi=100)
