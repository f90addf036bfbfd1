"""Wall-clock timing of a call, the same loop for every measurement of the lab: ``convzoo compare``'s latency
and ``convzoo bench``'s backends."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

__all__ = ["Timing", "time_call", "torch_threads"]


@dataclass
class Timing:
    """Per-batch latency of a call, in milliseconds, over ``repeats`` timed calls."""

    median_ms: float
    p90_ms: float
    images_per_second: float
    repeats: int


def time_call(call: Callable[[], Any], batch_size: int = 1, *, warmup: int = 3, repeats: int = 20) -> Timing:
    """Time ``call`` (one batch of ``batch_size``): ``warmup`` untimed calls, then ``repeats`` timed ones."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return Timing(1e3 * median, 1e3 * float(np.percentile(seconds, 90)), batch_size / median, repeats)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block, the previous setting after it; None changes nothing."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
