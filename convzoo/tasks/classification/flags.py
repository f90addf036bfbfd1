"""Classification on the command line: its ``convzoo train`` flags.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment.
What the commands print and do for the task is in :mod:`convzoo.tasks.classification.commands`.
"""

from __future__ import annotations

import argparse

from convzoo.arguments import train_flag
from convzoo.train.config import TrainConfig

__all__ = ["add_train_arguments"]

def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    distillation = train.add_argument_group(
        "knowledge distillation (--task classification)",
        "Hinton et al. 2015: the model learns from a trained teacher's predictions softened by a temperature T: "
        "loss = A * T^2 * KL(teacher's || model's) + (1 - A) * cross-entropy with the labels. The teacher runs "
        "frozen, in eval mode, on the same augmented batches; the saved model is a plain classifier.",
    )
    train_flag(distillation, "teacher", metavar="CHECKPOINT",
               help="a classifier trained by convzoo train (its run folder or model.safetensors) on the same "
                    "classes, channels, image size and normalisation")
    train_flag(distillation, "kd_temperature", type=float, metavar="T",
               help=f"softmax temperature of the soft targets (default: {defaults.kd_temperature})")
    train_flag(distillation, "kd_alpha", type=float, metavar="A",
               help=f"weight of the soft-target loss, in [0, 1] (default: {defaults.kd_alpha})")
