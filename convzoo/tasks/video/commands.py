"""Video classification on the command line: its ``convzoo train`` flags, and what ``train``, ``eval`` and
``predict`` print for it."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from convzoo.arguments import positive_int, train_flag
from convzoo.errors import ConvzooError
from convzoo.tasks.classification.commands import top_k
from convzoo.tasks.video.data import DATASETS, load_video_data
from convzoo.tasks.video.files import classify_video
from convzoo.tasks.video.pipeline import CONFUSION_FILE, check_fits, score_split
from convzoo.tasks.video.scoring import report_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_train_arguments", "evaluate", "predict", "train_summary"]


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


def train_summary(result: TrainResult, out: Path) -> list[str]:
    return [
        *report_lines(result.test_metrics),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / CONFUSION_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """Clip and video accuracy on a split of the checkpoint's dataset (or of ``--dataset``)."""
    settings = meta.data_settings(args.dataset, args.data_dir)
    data = load_video_data(settings)
    if data.class_names != meta.class_names:
        raise ConvzooError(f"the checkpoint predicts {len(meta.class_names)} classes of {meta.dataset}, but dataset "
                           f"{settings['dataset']!r} has {len(data.class_names)} other ones")
    check_fits(model, meta.model, data, settings["dataset"])
    report = score_split(model, data, args.split, batch_size=args.batch_size)
    return [f"{meta.model} on {settings['dataset']} ({args.split})", *report_lines(report)]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The ``--top-k`` classes of each video file (or folder of frames), from the mean of its clips' scores."""
    lines = []
    for path in args.images:
        prediction = classify_video(model, meta, path)
        ranked = "  ".join(f"{name} {probability:.1%}"
                           for name, probability in top_k(prediction.scores[None], meta.class_names, args.top_k)[0])
        lines.append(f"{path}: {ranked}  ({prediction.clips} clips of {prediction.frames} frames)")
    return lines
