"""What ``convzoo train``, ``eval`` and ``predict`` print for video classification (its flags: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.classification.commands import top_k
from convzoo.tasks.video.data import load_video_data
from convzoo.tasks.video.files import classify_video
from convzoo.tasks.video.pipeline import CONFUSION_FILE, check_fits, score_split
from convzoo.tasks.video.scoring import report_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "train_summary"]


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
