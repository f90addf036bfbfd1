"""Latency of a candidate on this machine: measured whole, or summed from a per-block table.

MnasNet measured every sampled model on a phone. FBNet (Wu et al., CVPR 2019) and ProxylessNAS (Cai, Zhu,
Han, ICLR 2019) measured each *block* of the space once, at its input size, into a lookup table, and
estimated a network's latency as the sum of its blocks': no measurement in the search loop, and the same
estimate every time, where a measurement varies with the machine's load. The sum misses what happens between
blocks (memory traffic, framework overhead), so the table's error against whole-network measurements is part
of the report (:func:`table_error`).

A network that supports the table has ``latency_units(input_size)``: its pieces in order, each a canonical key
(the configuration that determines its latency), the module and its input shape (``nas_net`` has it).

Every measurement is the median of :func:`convzoo.analysis.timing.time_call` at batch 1, in eval mode, without
gradients, on ``threads`` threads (one by default: the steadiest, and a phone's big core is one core).
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from convzoo.analysis.timing import time_call, torch_threads
from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import atomic_path

__all__ = ["LatencyTable", "measure_latency", "table_error"]


@torch.no_grad()
def measure_latency(
    model: nn.Module, input_shape: Sequence[int], *, threads: int | None = 1, warmup: int = 3, repeats: int = 20
) -> float:
    """Median milliseconds of one forward pass of ``model`` on a random input of ``input_shape`` (with the batch)."""
    was_training = model.training
    model.eval()
    x = torch.randn(*input_shape)
    try:
        with torch_threads(threads):
            return time_call(lambda: model(x), warmup=warmup, repeats=repeats).median_ms
    finally:
        model.train(was_training)


class LatencyTable:
    """Per-block latencies in milliseconds, measured once per key and kept in a JSON file.

    Args:
        path: the table's file; read when it exists, rewritten atomically after each new measurement.
        threads, warmup, repeats: the measurement's settings (:func:`measure_latency`).
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = 1, warmup: int = 3, repeats: int = 20) -> None:
        self.path = Path(path)
        self.threads, self.warmup, self.repeats = threads, warmup, repeats
        self.entries: dict[str, float] = {}
        if self.path.exists():
            try:
                self.entries = {str(key): float(value) for key, value in json.loads(self.path.read_text()).items()}
            except (ValueError, AttributeError) as error:
                raise ConvzooError(f"{self.path} is not a latency table (a JSON object of key: milliseconds): "
                                   f"{error}") from None

    def estimate(self, model: nn.Module, input_shape: Sequence[int]) -> float:
        """The sum of ``model``'s units' latencies at ``input_shape`` (``(1, C, H, W)``), measuring the units
        the table lacks."""
        if not hasattr(model, "latency_units"):
            raise ConvzooError(f"{type(model).__name__} cannot be cut into blocks for a latency table "
                               f"(it has no latency_units); measure it whole")
        total = 0.0
        for key, unit, unit_shape in model.latency_units(tuple(input_shape[1:])):
            if key not in self.entries:
                self.entries[key] = measure_latency(unit, unit_shape, threads=self.threads, warmup=self.warmup,
                                                    repeats=self.repeats)
                self._save()
            total += self.entries[key]
        return total

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True) + "\n")


def table_error(estimated_ms: Sequence[float], measured_ms: Sequence[float]) -> dict[str, float]:
    """How far a table's sums are from whole-network measurements: mean and largest absolute error in
    percent of the measurement, and the mean signed error (negative: the table underestimates)."""
    if not measured_ms:
        return {}
    errors = [100 * (estimate - measured) / measured for estimate, measured in zip(estimated_ms, measured_ms)]
    return {
        "mean_abs_percent": statistics.fmean(abs(error) for error in errors),
        "max_abs_percent": max(abs(error) for error in errors),
        "mean_percent": statistics.fmean(errors),
        "networks": len(errors),
    }
