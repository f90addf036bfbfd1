"""Gait recognition on the command line: its ``convzoo train`` flags, and what ``train`` and ``eval`` print for it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.arguments import positive_int, train_flag
from convzoo.data.gait import GAIT_DATASETS
from convzoo.errors import ConvzooError
from convzoo.tasks.gait.pipeline import DEFAULT_SUBJECTS_PER_BATCH, embed_test, load_task_data
from convzoo.tasks.gait.scoring import TABLES_FILE, plot_tables, protocol_report, summary_line, table_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_train_arguments", "evaluate", "predict", "train_summary"]


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    gait = train.add_argument_group(
        "gait recognition (--task gait)",
        f"--dataset {' | '.join(GAIT_DATASETS)}: walkers (generated, the default: walking silhouettes of many "
        "identities from several views, normal, with a bag and in a coat) or casia-b (--data-dir: CASIA-B's "
        "silhouettes, SUBJECT/TYPE-INDEX/VIEW/*.png such as 001/nm-01/090/). Batches hold --classes-per-batch P "
        f"subjects (default: {DEFAULT_SUBJECTS_PER_BATCH}, at most the training subjects) with --samples-per-class "
        "K sequences each; --margin is the per-strip triplet loss's (default: 0.2)",
    )
    train_flag(gait, "frames_per_set", type=positive_int, metavar="N",
               help=f"silhouettes drawn from each training sequence (default: {defaults.frames_per_set}, the "
                    "paper's); evaluation takes every frame")
    train_flag(gait, "sets_per_epoch", type=positive_int, metavar="N",
               help="sets an epoch draws, in P x K batches (default: one per training sequence)")
    train_flag(gait, "gait_subjects", type=positive_int, metavar="N",
               help="walkers: how many to generate, the first 60%% training (default: 40, 24 training)")
    train_flag(gait, "gait_frames", type=positive_int, metavar="N",
               help="walkers: frames of each generated sequence (default: 16)")
    train_flag(gait, "gait_train_subjects", type=positive_int, metavar="N",
               help="the first N subjects train, the others are tested (default: the dataset's protocol; CASIA-B: "
                    "74, the paper's large-sample setting LT; 62 is its MT, 24 its ST)")


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
