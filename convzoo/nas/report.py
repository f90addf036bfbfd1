"""What a search leaves in its folder besides ``candidates.csv``: the best genotype, a summary and the
Pareto plot of accuracy against latency with the hand-designed networks marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from convzoo.nas.latency import table_error
from convzoo.nas.records import Record, best_candidate, pareto_front
from convzoo.train.checkpoint import atomic_path

if TYPE_CHECKING:
    from convzoo.nas.search import SearchConfig, SearchResult

__all__ = ["plot_pareto", "write_report"]


def _write_json(path: Path, value: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1) + "\n")


def write_report(records: Sequence[Record], out: Path, target: float, config: SearchConfig) -> SearchResult:
    """``best.json`` (the best candidate's genotype, which ``convzoo train nas_net --genotype`` takes),
    ``summary.json`` and ``pareto.png``; returns the search's result."""
    from convzoo.nas.search import SearchResult

    best = best_candidate(records)
    checked = [record for record in records if record.kind == "candidate" and not record.cached
               and record.measured_ms is not None]
    error = table_error([r.latency_ms for r in checked], [r.measured_ms for r in checked]) \
        if config.latency == "table" else {}
    if best is not None:
        _write_json(out / "best.json", best.genotype)
    summary = {
        "space": config.space, "strategy": config.strategy, "seed": config.seed, "target": target,
        "objective": config.objective, "form": config.form,
        "candidates": sum(record.kind == "candidate" for record in records),
        "trained": sum(record.kind == "candidate" and not record.cached for record in records),
        "best": None if best is None else best.to_dict(),
        "references": [record.to_dict() for record in records if record.kind == "reference"],
        "latency_table_error": error,
    }
    _write_json(out / "summary.json", summary)
    if records:
        plot_pareto(records, out / "pareto.png", target if config.objective == "latency" else None)
    return SearchResult(records=list(records), best=best, out=out, target=target, table_error=error)


def plot_pareto(records: Sequence[Record], path: Path, target_ms: float | None = None) -> None:
    """Validation accuracy against latency: candidates by search order, their Pareto front, the best
    candidate, the references by name and the latency target."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    candidates = [record for record in records if record.kind == "candidate"]
    references = [record for record in records if record.kind == "reference"]
    figure = Figure(figsize=(7, 5), layout="constrained")
    axis = figure.subplots()
    if candidates:
        points = axis.scatter([r.latency_ms for r in candidates], [r.val_accuracy for r in candidates],
                              c=[r.index for r in candidates], cmap="viridis", s=18, label="candidates")
        figure.colorbar(points, ax=axis, label="candidate (search order)")
        front = pareto_front(candidates)
        axis.step([r.latency_ms for r in front], [r.val_accuracy for r in front], where="post", color="gray",
                  linewidth=1, label="Pareto front")
        best = best_candidate(candidates)
        axis.scatter([best.latency_ms], [best.val_accuracy], marker="*", s=220, color="tab:orange",
                     edgecolor="black", zorder=3, label=f"best reward (#{best.index})")
    for record in references:
        axis.scatter([record.latency_ms], [record.val_accuracy], marker="s", s=60, color="tab:red", zorder=3)
        axis.annotate(record.name, (record.latency_ms, record.val_accuracy), textcoords="offset points",
                      xytext=(5, 5), fontsize=8, color="tab:red")
    if target_ms is not None:
        axis.axvline(target_ms, color="tab:red", linestyle="--", linewidth=1, label=f"target {target_ms:.2f} ms")
    axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axis.set_xlabel("latency, batch 1 (ms)")
    axis.set_ylabel("proxy validation accuracy")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("accuracy against latency")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
