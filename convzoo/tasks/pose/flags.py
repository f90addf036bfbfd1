"""Pose estimation on the command line: its ``convzoo train`` flags and its own command ``convzoo pose``.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment; the names the flags offer are defined here, for the task's other modules too.
What the commands print and do for the task is in :mod:`convzoo.tasks.pose.commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.arguments import deferred, positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["DATASETS", "MODES", "add_commands", "add_train_arguments"]

MODES = ("top_down", "bottom_up", "dense")
DATASETS = {"synthetic": MODES, "coco": ("top_down", "bottom_up"), "mpii": ("top_down",)}  # dataset -> the modes it trains


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    pose = train.add_argument_group(
        "pose estimation (--task pose)",
        f"--dataset {', '.join(DATASETS)} (synthetic people, the default; the others need --data-dir); the network "
        "decides how it sees people: heatmap networks top-down on person crops, OpenPose bottom-up, DensePose dense",
    )
    train_flag(pose, "bottom_up", action="store_const", const=True,
               help="whole multi-person images with part affinity fields (openpose_* networks train so)")
    train_flag(pose, "heatmap_sigma", type=float,
               help="std of the Gaussian heatmap targets in heatmap pixels (default: 2 top-down, 7/8 bottom-up)")
    train_flag(pose, "pose_images", type=positive_int,
               help=f"synthetic training images; val and test get a quarter each (default: {defaults.pose_images})")


def add_commands(commands: argparse._SubParsersAction) -> None:
    pose = commands.add_parser("pose", help="draw the poses a pose checkpoint finds in an image (the people's "
                               "skeletons; with --dense, the part and U, V maps)")
    pose.add_argument("checkpoint", type=Path)
    pose.add_argument("image", type=Path)
    pose.add_argument("--out", type=Path, default=Path("skeleton.png"), help="the picture (default: skeleton.png)")
    pose.add_argument("--box", type=float, nargs=4, metavar=("X", "Y", "W", "H"),
                      help="top-down checkpoints: the person's box in image pixels (default: the whole image)")
    pose.add_argument("--dense", action="store_true", help="a dense-pose checkpoint: draw its IUV maps")
    pose.set_defaults(run=deferred("convzoo.tasks.pose.commands", "cmd_pose"), outputs={"out": "file"})
