"""A search's records: one per scored network, kept in the search's state and written as ``candidates.csv``."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Sequence

from convzoo.train.checkpoint import atomic_path

__all__ = ["Record", "best_candidate", "pareto_front", "write_candidates"]


@dataclass
class Record:
    """A scored network.

    Attributes:
        kind: ``"candidate"`` (proposed by the strategy) or ``"reference"`` (a hand-designed network).
        index: the candidate's position in the search (references: their order).
        name: a reference's model name; empty for candidates.
        genotype: a candidate's genotype; ``None`` for references.
        val_accuracy: the proxy's validation accuracy.
        latency_ms: the latency the reward used (measured, or the table's sum).
        measured_ms: a whole-network measurement (``None`` when the table's sum was not checked).
        macs, params: at the proxy's input size.
        train_seconds: the proxy run's time.
        reward: MnasNet's reward (:mod:`convzoo.nas.reward`); ``nan`` for references.
        cached: the genotype was proposed before and its scores reused, not trained again.
    """

    SCORES: ClassVar[tuple[str, ...]] = ("val_accuracy", "latency_ms", "measured_ms", "macs", "params", "train_seconds")

    kind: str
    index: int
    name: str
    genotype: dict[str, Any] | None
    val_accuracy: float
    latency_ms: float
    measured_ms: float | None
    macs: int
    params: int
    train_seconds: float
    reward: float = math.nan
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Record":
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def best_candidate(records: Sequence[Record]) -> Record | None:
    """The candidate of highest reward (the earliest of equals); ``None`` before any."""
    candidates = [record for record in records if record.kind == "candidate"]
    return max(candidates, key=lambda record: (record.reward, -record.index), default=None)


def pareto_front(records: Sequence[Record], cost: str = "latency_ms") -> list[Record]:
    """The records no other beats on both accuracy and ``cost`` (lower is better), by rising cost."""
    ordered = sorted(records, key=lambda record: (getattr(record, cost), -record.val_accuracy))
    front: list[Record] = []
    for record in ordered:
        if not front or record.val_accuracy > front[-1].val_accuracy:
            front.append(record)
    return front


def write_candidates(path: Path, records: Sequence[Record]) -> None:
    """Every record as a CSV row (the genotype as JSON), written atomically."""
    names = [f.name for f in fields(Record)]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            row["genotype"] = "" if record.genotype is None else json.dumps(record.genotype, sort_keys=True)
            writer.writerow(row)
