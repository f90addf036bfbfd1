"""Gait recognition on the command line: its ``convzoo train`` flags.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment; the names the flags offer are defined here, for the task's other modules too.
What the commands print and do for the task is in :mod:`convzoo.tasks.gait.commands`.
"""

from __future__ import annotations

import argparse

from convzoo.arguments import positive_int, train_flag
from convzoo.data.names import GAIT_DATASETS
from convzoo.train.config import TrainConfig

__all__ = ["DEFAULT_SUBJECTS_PER_BATCH", "add_train_arguments"]

DEFAULT_SUBJECTS_PER_BATCH = 8  # P when --classes-per-batch is not given (the paper's P for CASIA-B)


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
