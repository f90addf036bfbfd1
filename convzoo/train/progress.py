"""Progress of a run: a bar with ETA on a terminal, plain lines elsewhere (CI, logs).

The reporter writes only to the stream it is given; the command line gives it stdout.
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressReporter"]

BAR_WIDTH = 30


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes:d}:{seconds:02d}"


class ProgressReporter:
    """Reports batches and epochs of a run of ``epochs`` epochs."""

    def __init__(self, stream: TextIO, epochs: int, interactive: bool | None = None) -> None:
        self.stream = stream
        self.epochs = epochs
        self.interactive = stream.isatty() if interactive is None else interactive
        self.started = time.monotonic()
        self.epoch = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batch(self, index: int, batches: int, loss: float) -> None:
        if not self.interactive:
            return
        done = ((self.epoch - 1) * batches + index + 1) / (self.epochs * batches)
        elapsed = time.monotonic() - self.started
        eta = elapsed * (1 - done) / done
        filled = int(BAR_WIDTH * (index + 1) / batches)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(
            f"\repoch {self.epoch}/{self.epochs} [{bar}] loss {loss:.4f} "
            f"elapsed {_duration(elapsed)} eta {_duration(eta)}"
        )
        self.stream.flush()

    def end_epoch(self, row: dict[str, float]) -> None:
        if self.interactive:
            self.stream.write("\r\033[K")
        values = "  ".join(f"{key} {value:.4g}" for key, value in row.items() if key != "epoch")
        self.stream.write(f"epoch {self.epoch}/{self.epochs}  {values}\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
