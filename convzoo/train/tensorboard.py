"""A run's TensorBoard log (``convzoo train --tensorboard``): ``tensorboard --logdir OUT/tensorboard``.

Written through ``torch.utils.tensorboard`` (the optional ``tensorboard`` package:
``pip install 'convzoo[tensorboard]'``) by the main process only:

- every column of the per-epoch metrics row: ``train/loss``, ``val/accuracy``, ``lr``, ``epoch``
  (``train_loss`` -> ``train/loss``, so TensorBoard groups them);
- the loss of every batch (``batch/loss``) and the learning rate after every optimiser step
  (``batch/lr``);
- the test split's scalar metrics (``test/accuracy``, ...) and the task's pictures, the PNG files
  its report writes into the output folder (a classifier's confusion matrix and sample predictions, a denoiser's panels,
  a segmenter's overlays, a pose network's skeletons), as images, after the last epoch.

A resumed run appends to the same folder and first discards what the killed run logged after its
last checkpoint (``purge_step``), so every curve reads as one uninterrupted run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["TENSORBOARD_FOLDER", "TensorBoardLog"]

TENSORBOARD_FOLDER = "tensorboard"


def scalar_tag(column: str) -> str:
    """``"train_loss"`` -> ``"train/loss"``; ``"lr"`` stays ``"lr"``."""
    split, _, metric = column.partition("_")
    return f"{split}/{metric}" if split in ("train", "val") and metric else column


class TensorBoardLog:
    """The event files of one run. Every value is logged at a batch index, counted from the start of the
    run: a batch's loss at its own, an epoch's metrics at its last batch's, so that all curves share
    one axis.

    Args:
        folder: the run's output folder; the events go into ``folder/tensorboard``.
        resumed_at: the number of batches the resumed run had done at its last checkpoint; what was
            logged from there on is discarded. ``None`` for a new run.
    """

    def __init__(self, folder: Path, resumed_at: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # the optional tensorboard package

        self.writer = SummaryWriter(str(folder / TENSORBOARD_FOLDER), purge_step=resumed_at)

    def batch(self, index: int, loss: float) -> None:
        self.writer.add_scalar("batch/loss", loss, index)

    def step(self, index: int, lr: float) -> None:
        """The learning rate after the optimiser step that ended batch ``index``."""
        self.writer.add_scalar("batch/lr", lr, index)

    def epoch(self, row: dict[str, float], index: int) -> None:
        """Every column of an epoch's metrics row (``epoch`` too), at the epoch's last batch."""
        for column, value in row.items():
            self.writer.add_scalar(scalar_tag(column), value, index)
        self.writer.flush()

    def report(self, test_metrics: dict[str, float], folder: Path, index: int) -> None:
        """The test split's scalar metrics (``test/accuracy``, ...) and every PNG the task wrote into
        ``folder`` (not the training curves: they are the scalars), as an image named after its file."""
        from PIL import Image

        for name, value in test_metrics.items():
            self.writer.add_scalar(f"test/{name}", value, index)
        for path in sorted(folder.glob("*.png")):
            if path.name == "curves.png":
                continue
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))  # (H, W, 3)
            self.writer.add_image(f"pictures/{path.stem}", pixels, index, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
