"""Hyperspectral classification on the command line: its ``convzoo train`` flags, and what
``train`` and ``eval`` print (the field's scores, and where the classification map went)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.arguments import positive_int, train_flag
from convzoo.errors import ConvzooError
from convzoo.tasks.classification.commands import accuracy_line
from convzoo.tasks.hyperspectral.pipeline import MAP_FILE
from convzoo.tasks.hyperspectral.scoring import evaluate_scene
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_train_arguments", "evaluate", "predict", "train_summary"]


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


def _scores_line(test: dict) -> str:
    """A hyperspectral report's scores as the field quotes them."""
    return f"OA {test['accuracy']:.2%}  AA {test['average_accuracy']:.2%}  kappa {test['kappa']:.4f}"


def train_summary(result: TrainResult, out: Path) -> list[str]:
    test = result.test_metrics
    return [
        accuracy_line(test),
        f"test scores   {_scores_line(test)}" + (f"  map {test['map']}" if "map" in test else ""),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / 'confusion.png'}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The scores of the checkpoint's scene, rebuilt from its settings, and its classification map (``--out``)."""
    map_path = args.out or Path(MAP_FILE)
    result = evaluate_scene(model, meta, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                            map_path=map_path, batch_size=args.batch_size)
    return [
        f"{meta.model} on {result['settings']['dataset']} ({args.split}, {result['scored_pixels']} pixels): "
        f"{_scores_line(result)}  loss {result['loss']:.4f}",
        f"map           {map_path}",
    ]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a hyperspectral checkpoint; it labels the pixels of a hyperspectral "
                       "scene, not photographs: use convzoo eval CHECKPOINT for the scene's scores and "
                       "classification map")
