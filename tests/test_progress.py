"""Progress reporting: a bar with ETA on a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

import io

from convzoo.train.progress import ProgressReporter


def test_plain_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = ProgressReporter(stream, epochs=2)
    for epoch in (1, 2):
        progress.start_epoch(epoch)
        for index in range(3):
            progress.batch(index, 3, loss=0.5)
        progress.end_epoch({"epoch": epoch, "train_loss": 0.5, "val_accuracy": 0.9})
    assert stream.getvalue().splitlines() == [
        "epoch 1/2  train_loss 0.5  val_accuracy 0.9",
        "epoch 2/2  train_loss 0.5  val_accuracy 0.9",
    ]


def test_bar_with_eta_on_a_terminal():
    stream = io.StringIO()
    progress = ProgressReporter(stream, epochs=1, interactive=True)
    progress.start_epoch(1)
    progress.batch(0, 2, loss=1.25)
    assert "\repoch 1/1 [" + "#" * 15 + "." * 15 + "] loss 1.2500" in stream.getvalue()
    assert "eta " in stream.getvalue()
