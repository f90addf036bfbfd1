"""What ``convzoo train`` and ``eval`` print for hyperspectral classification: the field's scores, and where
the classification map went (its flags: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.classification.commands import accuracy_line
from convzoo.tasks.hyperspectral.pipeline import MAP_FILE
from convzoo.tasks.hyperspectral.scoring import evaluate_scene
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "train_summary"]


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
