"""The per-epoch record of a run, written as CSV, JSON lines and a training-curve PNG."""

from __future__ import annotations

import csv
import json
from pathlib import Path

__all__ = ["History"]


class History:
    """Rows of ``{"epoch": ..., "train_loss": ..., "val_accuracy": ..., ...}``."""

    def __init__(self) -> None:
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

    def plot(self, path: Path) -> None:
        """Loss and every other metric against epochs, train and validation side by side."""
        import matplotlib  # slow to import: only when a plot is drawn

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        epochs = [row["epoch"] for row in self.rows]
        metrics = sorted({key.split("_", 1)[1] for key in self.rows[0] if key.startswith(("train_", "val_"))})
        metrics.sort(key=lambda name: name != "loss")
        figure, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
        for axis, metric in zip(axes[0], metrics):
            for split in ("train", "val"):
                key = f"{split}_{metric}"
                if key in self.rows[0]:
                    axis.plot(epochs, [row[key] for row in self.rows], marker="o", label=split)
            axis.set_xlabel("epoch")
            axis.set_ylabel(metric)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
