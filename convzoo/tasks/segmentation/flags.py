"""Segmentation on the command line: its ``convzoo train`` flags and its own command ``convzoo segment``.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment.
What the commands print and do for the task is in :mod:`convzoo.tasks.segmentation.commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.arguments import deferred, positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["add_commands", "add_train_arguments"]

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


def add_commands(commands: argparse._SubParsersAction) -> None:
    segment = commands.add_parser("segment", help="segment an image with a segmentation checkpoint: the image, the "
                                  "predicted mask and the overlay side by side in one PNG")
    segment.add_argument("checkpoint", type=Path)
    segment.add_argument("image", type=Path)
    segment.add_argument("--out", type=Path, default=Path("overlay.png"),
                         help="the side-by-side picture (default: overlay.png)")
    segment.add_argument("--tile", type=positive_int, default=512,
                         help="segment larger images in tiles of this side (same result, bounded memory)")
    segment.set_defaults(run=deferred("convzoo.tasks.segmentation.commands", "cmd_segment"), outputs={"out": "file"})
