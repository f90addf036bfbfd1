"""Hyperspectral classification on the command line: its ``convzoo train`` flags.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment.
What the commands print and do for the task is in :mod:`convzoo.tasks.hyperspectral.commands`.
"""

from __future__ import annotations

import argparse

from convzoo.arguments import positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["add_train_arguments"]

def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    spectral = train.add_argument_group(
        "hyperspectral (--task hyperspectral)",
        "--dataset synthetic (a generated scene, default), or indian_pines, pavia_university, salinas "
        "(their standard .mat files in --data-dir; indian_pines without it: the copy the tensorly package ships)",
    )
    train_flag(spectral, "pca_components", type=positive_int,
               help=f"spectral components kept (default: {defaults.pca_components})")
    train_flag(spectral, "window", type=positive_int,
               help=f"odd patch side around each pixel (default: {defaults.window})")
    train_flag(spectral, "train_ratio", type=float, help="share of each class's labelled pixels for training "
               f"(default: {defaults.train_ratio}, the paper's; the course uses 0.1)")
    train_flag(spectral, "split_seed", type=int, help=f"seed of the train/test split (default: {defaults.split_seed})")
    train_flag(spectral, "border", choices=("zero", "reflect"),
               help=f"padding at the scene's edges (default: {defaults.border})")
    train_flag(spectral, "scene_size", type=positive_int,
               help=f"side of the synthetic scene (default: {defaults.scene_size})")
    train_flag(spectral, "scene_map", choices=("all", "labelled", "none"),
               help="pixels the classification map shows (default: all)")
