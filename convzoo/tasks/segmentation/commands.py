"""Segmentation on the command line: its ``convzoo train`` flags, what ``train`` and ``eval`` print, and its own
command, ``convzoo segment CHECKPOINT IMAGE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.arguments import positive_int, train_flag
from convzoo.errors import ConvzooError
from convzoo.tasks.segmentation.evaluation import evaluate_checkpoint
from convzoo.tasks.segmentation.files import segment_file
from convzoo.tasks.segmentation.pipeline import SAMPLE_FILE
from convzoo.tasks.segmentation.scoring import class_table, scores_line
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_commands", "add_train_arguments", "evaluate", "predict", "train_summary"]


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    segmentation = train.add_argument_group(
        "segmentation (--task segmentation)",
        "--dataset scenes (generated digits on textures, 11 classes, the default for 2-D networks) or volumes "
        "(generated 3-D shapes, the default for unet3d*); --image-size is their side",
    )
    train_flag(segmentation, "dice_weight", type=float,
               help=f"loss = cross-entropy + this x soft Dice (default: {defaults.dice_weight}; 0: cross-entropy)")
    train_flag(segmentation, "aux_weight", type=float,
               help=f"weight of an auxiliary head's loss, e.g. fcn_resnet50 aux_loss=true (default: "
                    f"{defaults.aux_weight})")


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


def add_commands(commands: argparse._SubParsersAction) -> None:
    segment = commands.add_parser("segment", help="segment an image with a segmentation checkpoint: the image, the "
                                  "predicted mask and the overlay side by side in one PNG")
    segment.add_argument("checkpoint", type=Path)
    segment.add_argument("image", type=Path)
    segment.add_argument("--out", type=Path, default=Path("overlay.png"),
                         help="the side-by-side picture (default: overlay.png)")
    segment.add_argument("--tile", type=positive_int, default=512,
                         help="segment larger images in tiles of this side (same result, bounded memory)")
    segment.set_defaults(run=cmd_segment, outputs={"out": "file"})


def cmd_segment(args: argparse.Namespace) -> None:
    result = segment_file(args.checkpoint, args.image, args.out, tile=args.tile)
    height, width = result.size
    total = height * width
    found = ", ".join(f"{name} {count / total:.1%}" for name, count in result.pixels.items())
    print(f"image    {args.image} ({height}x{width}{', tiled' if result.tiled else ''})")
    print(f"classes  {found}")
    print(f"panels   {result.panels}")
