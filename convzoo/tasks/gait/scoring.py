"""Scoring a gait network under CASIA-B's protocol: rank-1 accuracy per probe view, gallery views apart.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1-4.2 and Table 1

Every gallery and probe sequence of the test subjects is embedded with *all* its frames (a set
of any size: set pooling takes the max over however many there are), its strip features
flattened into one ``62 x 256`` vector, and sequences compared by the Euclidean distance of
those vectors. For each probe condition (NM #5-6, BG #1-2, CL #1-2 against the gallery NM
#1-4), each probe view ``p`` and each gallery view ``g != p``, the rank-1 accuracy is the share
of the probe sequences seen from ``p`` whose nearest gallery sequence seen from ``g`` is of
their subject: an 11 x 11 table whose diagonal (identical views, the easy case) is left out
(NaN). A probe view's score is its row's mean over the other gallery views, and the
condition's score the mean over the probe views: the numbers of the paper's Table 1.

The sequences are embedded grouped by their number of frames, so that sets of equal length
go through the network together, at most :data:`MAX_FRAMES` frames at a time.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from convzoo.data.gait import GaitProtocol, GaitSource, GaitSplit

__all__ = ["CONDITION_NAMES", "MAX_FRAMES", "TABLES_FILE", "EmbeddedSequences", "embed_sequences", "protocol_report",
           "rank1_table", "plot_tables", "summary_line", "table_lines", "view_scores"]

MAX_FRAMES = 1024  # frames per forward pass when embedding whole sequences
TABLES_FILE = "rank1_tables.png"
CONDITION_NAMES = ("NM", "BG", "CL")  # the probe conditions, in the paper's order


@dataclass
class EmbeddedSequences:
    """Sequences of a source and their flattened strip features, row ``k`` for ``indices[k]``."""

    indices: list[int]
    features: torch.Tensor  # (M, S * D), float32, on the CPU

    def rows(self, indices: Sequence[int]) -> torch.Tensor:
        """The features of the sequences ``indices`` (each one of :attr:`indices`), ``(len(indices), S * D)``."""
        position = {index: row for row, index in enumerate(self.indices)}
        return self.features[[position[index] for index in indices]]


@torch.no_grad()
def embed_sequences(model: nn.Module, source: GaitSource, indices: Sequence[int], *, max_frames: int = MAX_FRAMES,
                    device: torch.device | str | None = None) -> EmbeddedSequences:
    """Each sequence of ``indices`` through ``model`` in eval mode with all its frames, flattened.

    Sequences of equal length are stacked into one batch of at most ``max_frames`` frames (one
    sequence alone when it is longer).
    """
    from convzoo.data.gait import SilhouetteSets

    device = device or next(model.parameters()).device
    sets = SilhouetteSets(source, list(indices), [0] * len(indices), frames_per_set=None)
    was_training = model.training
    model.eval()
    features: dict[int, torch.Tensor] = {}
    waiting: dict[int, list[tuple[int, torch.Tensor]]] = {}  # frame count -> (row, frames) not yet embedded

    def flush(length: int) -> None:
        rows, frames = zip(*waiting.pop(length))
        output = model(torch.stack(frames).to(device)).float().flatten(1).cpu()  # (B, S * D)
        features.update(zip(rows, output))

    for row in range(len(sets)):
        frames, _ = sets[row]  # (T, 64, 44)
        length = frames.shape[0]
        waiting.setdefault(length, []).append((row, frames))
        if (len(waiting[length]) + 1) * length > max_frames:
            flush(length)
    for length in list(waiting):
        flush(length)
    model.train(was_training)
    return EmbeddedSequences(list(indices), torch.stack([features[row] for row in range(len(sets))]))


def _codes(*groups: Sequence[str]) -> list[np.ndarray]:
    """The subjects of each group as integers of one shared code."""
    names = {name: code for code, name in enumerate(sorted({name for group in groups for name in group}))}
    return [np.array([names[name] for name in group], dtype=np.int64) for group in groups]


def rank1_table(probe: torch.Tensor, probe_subjects: Sequence[str], probe_views: Sequence[int],
                gallery: torch.Tensor, gallery_subjects: Sequence[str], gallery_views: Sequence[int],
                views: Sequence[int]) -> np.ndarray:
    """Rank-1 accuracy of each (probe view, gallery view) pair of ``views``, NaN on the diagonal.

    Entry ``[i, j]`` is the share of the probes seen from ``views[i]`` whose nearest gallery
    item (Euclidean) among those seen from ``views[j]`` has their subject; NaN where ``i == j``
    or where either view has no item.

    Shape:
        probe ``(P, D)``, gallery ``(G, D)`` -> ``(V, V)`` with ``V = len(views)``.
    """
    distances = torch.cdist(probe.double(), gallery.double())  # (P, G)
    probe_codes, gallery_codes = _codes(probe_subjects, gallery_subjects)
    probe_views, gallery_views = np.asarray(probe_views), np.asarray(gallery_views)
    table = np.full((len(views), len(views)), np.nan)
    for i, probe_view in enumerate(views):
        rows = np.flatnonzero(probe_views == probe_view)
        for j, gallery_view in enumerate(views):
            columns = np.flatnonzero(gallery_views == gallery_view)
            if probe_view == gallery_view or len(rows) == 0 or len(columns) == 0:
                continue
            nearest = distances[rows][:, columns].argmin(dim=1).numpy()  # (rows,)
            table[i, j] = np.mean(gallery_codes[columns][nearest] == probe_codes[rows])
    return table


def _nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no entry: NaN, silently
        return np.nanmean(values, axis=axis)


def view_scores(table: np.ndarray) -> tuple[np.ndarray, float]:
    """A table's per-probe-view scores (each row's mean over the other gallery views) and their mean."""
    per_view = _nanmean(table, axis=1)
    return per_view, float(_nanmean(per_view))


def _json(values: np.ndarray | float) -> Any:
    """NaN as null, so that the report is strict JSON."""
    if isinstance(values, np.ndarray):
        return [_json(value) for value in values]
    return None if math.isnan(values) else float(values)


def _sequence_set(condition: str, indices: Sequence[int]) -> str:
    """``("nm", (5, 6))`` -> ``"NM #5-6"``; ``(1, 3)`` -> ``"#1,3"``."""
    contiguous = list(indices) == list(range(indices[0], indices[-1] + 1))
    numbers = f"{indices[0]}-{indices[-1]}" if contiguous and len(indices) > 1 else ",".join(map(str, indices))
    return f"{condition.upper()} #{numbers}"


def protocol_report(source: GaitSource, split: GaitSplit, protocol: GaitProtocol,
                    embedded: EmbeddedSequences) -> dict[str, Any]:
    """The rank-1 report of ``split``'s test subjects (module docstring): JSON-ready.

    Keys: ``rank1_nm``, ``rank1_bg``, ``rank1_cl`` (a condition's mean, ``None`` when it has no
    probe), ``views``, ``per_view`` and ``tables`` by condition, the sequence counts and the
    protocol's sets.
    """
    sequences = source.sequences
    views = sorted({sequences[index].view for index in split.gallery}
                   | {sequences[index].view for probe in split.probes.values() for index in probe})
    gallery = embedded.rows(split.gallery)
    gallery_subjects = [sequences[index].subject for index in split.gallery]
    gallery_views = [sequences[index].view for index in split.gallery]
    report: dict[str, Any] = {"split": "test", "subjects": len(set(gallery_subjects)), "gallery": len(split.gallery),
                              "views": views, "per_view": {}, "tables": {}, "probes": {},
                              "protocol": {"gallery": _sequence_set(*protocol.gallery)}}
    for name, probe in split.probes.items():
        table = rank1_table(embedded.rows(probe), [sequences[index].subject for index in probe],
                            [sequences[index].view for index in probe], gallery, gallery_subjects, gallery_views,
                            views)
        per_view, mean = view_scores(table)
        report[f"rank1_{name.lower()}"] = _json(mean)
        report["per_view"][name] = _json(per_view)
        report["tables"][name] = [_json(row) for row in table]
        report["probes"][name] = len(probe)
        report["protocol"][name] = _sequence_set(*protocol.probes[name])
    return report


def _percent(value: float | None, width: int = 0) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{100 * value:{width}.1f}"


def summary_line(report: dict[str, Any]) -> str:
    """``rank-1  NM 93.1%  BG 80.2%  CL 61.0%``."""
    scores = "  ".join(f"{name} {_percent(report.get(f'rank1_{name.lower()}'))}%" for name in report["per_view"])
    return f"rank-1  {scores}  ({report['subjects']} test subjects, identical views excluded)"


def table_lines(report: dict[str, Any]) -> list[str]:
    """The paper's Table 1 layout: one row per probe condition, one column per probe view, then the mean."""
    views = report["views"]
    label_width = max(len(label) for label in ("probe view", *report["protocol"].values()))
    lines = [f"rank-1 (%) against gallery {report['protocol']['gallery']}, each probe view averaged over the other "
             f"{len(views) - 1} gallery views",
             f"{'probe view':<{label_width}}" + "".join(f"{view:>7}" for view in views) + f"{'mean':>7}"]
    for name, per_view in report["per_view"].items():
        cells = "".join(_percent(value, 7) for value in per_view)
        lines.append(f"{report['protocol'][name]:<{label_width}}{cells}{_percent(report[f'rank1_{name.lower()}'], 7)}")
    return lines


def plot_tables(report: dict[str, Any], path: Path, title: str) -> None:
    """The conditions' view tables as heatmaps side by side (rank-1 in %, the diagonal blank) in one PNG."""
    import matplotlib  # slow to import: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views, names = report["views"], list(report["tables"])
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names) + 1, 4.2), squeeze=False, layout="constrained")
    for ax, name in zip(axes[0], names):
        table = 100 * np.array(report["tables"][name], dtype=float)  # None -> NaN
        image = ax.imshow(table, vmin=0, vmax=100, cmap="viridis")
        for (i, j), value in np.ndenumerate(table):
            if not np.isnan(value) and len(views) <= 11:
                ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                        color="black" if value > 60 else "white")
        ax.set_xticks(range(len(views)), views, fontsize=7)
        ax.set_yticks(range(len(views)), views, fontsize=7)
        ax.set(xlabel="gallery view", ylabel="probe view",
               title=f"{report['protocol'][name]}: {_percent(report[f'rank1_{name.lower()}'])}%")
    figure.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="rank-1 (%)")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)
    plt.close(figure)
