"""Scoring a segmentation checkpoint on a split of its dataset, rebuilt from the checkpoint's settings.

What ``convzoo eval CHECKPOINT`` runs for a segmentation checkpoint: the data settings of
its ``task_args`` (``--dataset`` and ``--data-dir`` may replace them), the training
engine's evaluation (eval mode, the confusion matrix summed over batches) and the report
of :func:`~convzoo.tasks.segmentation.scoring.split_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.segmentation.objective import AUX_WEIGHT, SegmentationTask
from convzoo.tasks.segmentation.overlay import write_panels
from convzoo.tasks.segmentation.pipeline import check_fits, load_task_data, model_inputs
from convzoo.tasks.segmentation.scoring import sample_rows, sample_scale, split_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.engine import evaluate

__all__ = ["Evaluation", "evaluate_checkpoint"]

SPLITS = ("train", "val", "test")


@dataclass
class Evaluation:
    """What :func:`evaluate_checkpoint` found: the report, the settings of the data scored, and its size."""

    report: dict[str, Any]
    settings: dict[str, Any]
    items: int


def evaluate_checkpoint(
    model: torch.nn.Module, meta: CheckpointMeta, *, dataset: str | None = None, data_dir: str | None = None,
    split: str = "test", batch_size: int = 16, sample_path: str | Path | None = None,
) -> Evaluation:
    """Score a segmentation checkpoint on ``split`` of its dataset (or ``dataset``); draw its first images into
    ``sample_path`` (if given)."""
    if split not in SPLITS:
        raise ConvzooError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    settings = meta.data_settings(dataset, data_dir)
    data = load_task_data(settings)
    if len(data.class_names) != len(meta.class_names):
        raise ConvzooError(f"the checkpoint has {len(meta.class_names)} classes but dataset {settings['dataset']!r} "
                           f"has {len(data.class_names)}")
    check_fits(model, meta.model, data, settings["dataset"])
    items = getattr(data, split)
    task = SegmentationTask(len(data.class_names), data.ignore_index, settings.get("dice_weight", 1.0),
                            settings.get("aux_weight", AUX_WEIGHT))
    metrics, sums = evaluate(model, model_inputs(model, items, data.ignore_index), task, batch_size=batch_size)
    report = split_report(sums["confusion"].cpu(), data.class_names, metrics["loss"])
    if sample_path is not None:
        device = next(model.parameters()).device
        rows = sample_rows(model, items, len(data.class_names), dims=data.dims, ignore_index=data.ignore_index,
                           device=device)
        report["sample"] = str(write_panels(sample_path, rows, scale=sample_scale(rows)))
    return Evaluation(report=report, settings=settings, items=len(items))
