"""What ``convzoo train`` and ``eval`` print for gait recognition (its flags: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.gait.pipeline import embed_test, load_task_data
from convzoo.tasks.gait.scoring import TABLES_FILE, plot_tables, protocol_report, summary_line, table_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "train_summary"]


def train_summary(result: TrainResult, out: Path) -> list[str]:
    return [
        summary_line(result.test_metrics),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / TABLES_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """Rank-1 under the dataset's protocol: the test subjects re-embedded with every frame of their sequences."""
    if args.split != "test":
        raise ConvzooError(f"--split {args.split}: a gait checkpoint is scored on the protocol's test subjects "
                           "(gallery against probes); give --split test")
    settings = meta.data_settings(args.dataset, args.data_dir)
    if settings["dataset"] != meta.task_args["dataset"]:  # another dataset: its own size and protocol
        settings.update(gait_subjects=None, gait_frames=None, train_subjects=None)
    data = load_task_data(settings)
    report = protocol_report(data.source, data.split, data.protocol, embed_test(model, data))
    lines = [f"{meta.model} on {settings['dataset']} (test: {report['subjects']} subjects, {report['gallery']} gallery "
             "sequences, every frame of each sequence)", *table_lines(report), summary_line(report)]
    if args.out is not None:
        plot_tables(report, args.out, f"{meta.model} on {settings['dataset']} (test subjects)")
        lines.append(f"tables        {args.out}")
    return lines


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a gait checkpoint; it identifies walkers by matching probe sequences "
                       "against a gallery: use convzoo eval CHECKPOINT (the rank-1 tables of the test subjects)")
