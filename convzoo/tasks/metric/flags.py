"""Metric learning on the command line: its ``convzoo train`` flags and its own command ``convzoo verify``.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment; the names the flags offer are defined here, for the task's other modules too.
What the commands print and do for the task is in :mod:`convzoo.tasks.metric.commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.arguments import deferred, positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["DEFAULT_MARGINS", "LOSSES", "MAX_DEFAULT_CLASSES", "MINING_MODES", "add_commands", "add_train_arguments"]

LOSSES = ("triplet", "contrastive", "koch")
DEFAULT_MARGINS = {"triplet": 0.2, "contrastive": 1.0}
MINING_MODES = ("batch_hard", "batch_all", "semihard", "none")
MAX_DEFAULT_CLASSES = 16  # P when --classes-per-batch is not given and more classes train


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    metric = train.add_argument_group(
        "metric learning (--task metric)",
        "--dataset digits (the default: train on 0-4, test on the unseen 5-9), omniglot (--data-dir with "
        "images_background/ and images_evaluation/), or any classification dataset split by class",
    )
    train_flag(metric, "loss", choices=LOSSES, help=f"default: {defaults.loss}")
    train_flag(metric, "mining", choices=[m for m in MINING_MODES if m != "none"],
               help=f"the triplet loss's mining inside the batch (default: {defaults.mining})")
    train_flag(metric, "margin", type=float,
               help="the triplet or contrastive margin (default: " +
                    ", ".join(f"{loss} {margin}" for loss, margin in DEFAULT_MARGINS.items()) + ")")
    train_flag(metric, "classes_per_batch", type=positive_int,
               help=f"P of the P x K batches (default: every training class, at most {MAX_DEFAULT_CLASSES})")
    train_flag(metric, "samples_per_class", type=positive_int,
               help=f"K of the P x K batches (default: {defaults.samples_per_class})")


def add_commands(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser("verify", help="same or different? the distance of two images under a "
                                 "metric-learning checkpoint, against its validation threshold")
    verify.add_argument("checkpoint", type=Path)
    verify.add_argument("first", type=Path, metavar="IMAGE_A")
    verify.add_argument("second", type=Path, metavar="IMAGE_B")
    verify.set_defaults(run=deferred("convzoo.tasks.metric.commands", "cmd_verify"))
