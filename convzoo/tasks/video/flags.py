"""Video classification on the command line: its ``convzoo train`` flags.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment; the names the flags offer are defined here, for the task's other modules too.
What the commands print and do for the task is in :mod:`convzoo.tasks.video.commands`.
"""

from __future__ import annotations

import argparse

from convzoo.arguments import positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["DATASETS", "add_train_arguments"]

DATASETS = ("moving-digits", "ucf101", "kinetics", "frames")


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    video = train.add_argument_group(
        "video (--task video)",
        f"--dataset {' | '.join(DATASETS)}: moving-digits (generated, the default: a digit moving over a texture, "
        "12 motion classes, 32x32 gray; --image-size is the side), ucf101 (--data-dir: its class folders and "
        "ucfTrainTestlist/), kinetics (--data-dir: train.csv, val.csv, optional test.csv), frames (--data-dir: "
        "train/, val/, optional test/, each <class>/<video>/<frames>); real videos are cropped to --image-size "
        "(default 112)",
    )
    train_flag(video, "clip_length", type=positive_int, metavar="T",
               help=f"frames per clip (default: {defaults.clip_length})")
    train_flag(video, "frame_stride", type=positive_int, metavar="S",
               help=f"take every S-th frame of a video file (default: {defaults.frame_stride})")
    train_flag(video, "eval_clips", type=positive_int, metavar="N",
               help=f"evenly spaced clips per test video, their scores averaged (default: {defaults.eval_clips})")
    train_flag(video, "split", type=int, choices=(1, 2, 3), help=f"UCF101's split (default: {defaults.split})")
    train_flag(video, "video_clips", type=positive_int, metavar="N",
               help=f"moving digits: training clips; val and test get an eighth each (default: "
                    f"{defaults.video_clips})")
