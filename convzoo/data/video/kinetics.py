"""Videos listed in a Kinetics-style CSV: a path, a class name and a time window per row.

Paper: The Kinetics Human Action Video Dataset (Kay et al., arXiv 2017)
https://arxiv.org/abs/1705.06950

The CSV has a header row naming at least the columns ``path`` and ``label``; ``start``
and ``end`` (seconds into the file) are optional, and other columns are ignored::

    path,label,start,end
    abseiling/0wR5jVB-WPk_000417_000427.mp4,abseiling,,
    raw/3caPS4FHFF8.mp4,air drumming,12.0,22.0

A row with an empty ``start``/``end`` (or without those columns) uses the whole file, as
for the usual downloads already trimmed to their 10-second window; Kinetics' own
``time_start``/``time_end`` are accepted as the same columns. Relative paths are taken
from ``root`` (the CSV's folder by default). Classes are the sorted class names unless
given, so a training and a validation CSV share labels when passed the same ``classes``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable

import torch

from convzoo.data.video.clips import VideoClipDataset, VideoSample, check_files_exist
from convzoo.data.video.sampling import ClipMode
from convzoo.errors import ConvzooError

__all__ = ["load_kinetics_csv", "read_kinetics_csv"]

_ALIASES = {"time_start": "start", "time_end": "end"}


def _seconds(value: str | None, csv_path: Path, line: int) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise ConvzooError(f"{csv_path} line {line}: expected a time in seconds, got {value!r}") from None


def read_kinetics_csv(path: str | os.PathLike) -> list[tuple[str, str, float | None, float | None]]:
    """``(path, class name, start, end)`` for every row of the CSV at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ConvzooError(f"Kinetics CSV {path} does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = {_ALIASES.get(name, name): name for name in reader.fieldnames or []}
        if "path" not in columns or "label" not in columns:
            raise ConvzooError(
                f"{path}: expected a header with columns path,label[,start,end], got {reader.fieldnames}"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            start = _seconds(row.get(columns.get("start", "")), path, line)
            end = _seconds(row.get(columns.get("end", "")), path, line)
            if start is not None and end is not None and end <= start:
                raise ConvzooError(f"{path} line {line}: end {end} is not after start {start}")
            rows.append((row[columns["path"]], row[columns["label"]], start, end))
    return rows


def load_kinetics_csv(
    csv_path: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    classes: list[str] | None = None,
    clip_length: int = 16,
    stride: int = 1,
    mode: ClipMode = "random",
    clips_per_video: int = 1,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> VideoClipDataset:
    """The videos of a Kinetics-style CSV as a dataset of ``(clip, label)``, clips taken inside each row's window.

    Args:
        csv_path: the CSV file.
        root: the folder relative paths start from; default the CSV's folder.
        classes: label ``i`` is ``classes[i]``; default the CSV's class names, sorted.
        clip_length, stride, mode, clips_per_video, transform: as :class:`VideoClipDataset`.

    Raises:
        ConvzooError: a malformed CSV, a class not in ``classes``, or a listed video that is missing.
    """
    csv_path = Path(csv_path)
    root = Path(root) if root is not None else csv_path.parent
    rows = read_kinetics_csv(csv_path)
    classes = classes if classes is not None else sorted({name for _, name, _, _ in rows})
    label_of = {name: label for label, name in enumerate(classes)}
    unknown = [name for _, name, _, _ in rows if name not in label_of]
    if unknown:
        raise ConvzooError(f"{csv_path}: class {unknown[0]!r} is not among the {len(classes)} classes given")
    samples = [VideoSample(str(root / path), label_of[name], start, end) for path, name, start, end in rows]
    check_files_exist([sample.path for sample in samples], csv_path)
    return VideoClipDataset(
        samples,
        classes,
        clip_length=clip_length,
        stride=stride,
        mode=mode,
        clips_per_video=clips_per_video,
        transform=transform,
    )
