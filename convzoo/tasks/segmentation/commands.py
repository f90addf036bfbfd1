"""What ``convzoo train`` and ``eval`` print for segmentation, and the work of its own command, ``convzoo
segment CHECKPOINT IMAGE`` (its flags and parser: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.segmentation.evaluation import evaluate_checkpoint
from convzoo.tasks.segmentation.files import segment_file
from convzoo.tasks.segmentation.pipeline import SAMPLE_FILE
from convzoo.tasks.segmentation.scoring import class_table, scores_line
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "train_summary"]


def train_summary(result: TrainResult, out: Path) -> list[str]:
    test = result.test_metrics
    return [
        *class_table(test),
        f"test {scores_line(test)}  (loss {test['loss']:.4f})",
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / SAMPLE_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The per-class table and the scores of a split of the checkpoint's dataset (``--out``: its first images)."""
    result = evaluate_checkpoint(model, meta, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                                 batch_size=args.batch_size, sample_path=args.out)
    report = result.report
    lines = [f"{meta.model} on {result.settings['dataset']} ({args.split}, {result.items} "
             f"{'volumes' if result.settings.get('dims') == 3 else 'images'})", *class_table(report),
             f"{scores_line(report)}  loss {report['loss']:.4f}"]
    if "sample" in report:
        lines.append(f"sample        {report['sample']}")
    return lines


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a segmentation checkpoint; it labels every pixel: "
                       "use convzoo segment CHECKPOINT IMAGE --out overlay.png")


def cmd_segment(args: argparse.Namespace) -> None:
    result = segment_file(args.checkpoint, args.image, args.out, tile=args.tile)
    height, width = result.size
    total = height * width
    found = ", ".join(f"{name} {count / total:.1%}" for name, count in result.pixels.items())
    print(f"image    {args.image} ({height}x{width}{', tiled' if result.tiled else ''})")
    print(f"classes  {found}")
    print(f"panels   {result.panels}")
