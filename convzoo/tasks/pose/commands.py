"""What ``convzoo train`` and ``eval`` print for pose estimation, and the work of its own command, ``convzoo pose
CHECKPOINT IMAGE`` (its flags and parser: :mod:`.flags`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.pose.data import load_pose_data
from convzoo.tasks.pose.files import pose_file
from convzoo.tasks.pose.pictures import MIN_SCORE
from convzoo.tasks.pose.pipeline import SAMPLE_FILE
from convzoo.tasks.pose.scoring import score_split
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "score_lines", "train_summary"]


def _joint_table(per_joint: dict[str, float], title: str) -> list[str]:
    cells = [f"{name} {value:.1%}" for name, value in per_joint.items() if not math.isnan(value)]
    return [f"{title} per joint: " + ", ".join(cells)]


def score_lines(report: dict[str, Any]) -> list[str]:
    """The scores of a split, a line each (per-joint tables for top-down networks)."""
    lines = []
    if "pck@0.2" in report:
        lines += [f"PCK@0.2  {report['pck@0.2']:.2%}", *_joint_table(report["pck_per_joint"], "PCK@0.2")]
    if "pckh@0.5" in report:
        lines += [f"PCKh@0.5 {report['pckh@0.5']:.2%}", *_joint_table(report["pckh_per_joint"], "PCKh@0.5")]
    if "people_count_accuracy" in report:
        lines.append(f"people   right count in {report['people_count_accuracy']:.2%} of the images (mean count "
                     f"error {report['people_count_error']:.2f})")
    if "AP" in report:
        lines.append("COCO     " + "  ".join(f"{key} {report[key]:.3f}" for key in ("AP", "AP50", "AP75", "APm",
                                                                                       "APl", "AR")))
    if "part_miou" in report:
        lines.append(f"dense    part mIoU {report['part_miou']:.2%}  pixel accuracy {report['pixel_accuracy']:.2%}  "
                     f"(u, v) error {report['uv_error']:.4f}")
    return lines


def train_summary(result: TrainResult, out: Path) -> list[str]:
    test = result.test_metrics
    return [
        f"test: {test['items']} items",
        *score_lines(test),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / SAMPLE_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The scores of a split of the checkpoint's dataset (or of ``--dataset``/``--data-dir``)."""
    settings = meta.data_settings(args.dataset, args.data_dir)
    data = load_pose_data(settings)
    skeleton = data.skeleton
    split = getattr(data, args.split)
    report = score_split(settings["mode"], model, split, skeleton, batch_size=min(args.batch_size, 64))
    return [f"{meta.model} on {settings['dataset']} ({args.split}: {report['items']} items, "
            f"{settings['mode'].replace('_', '-')})", *score_lines(report)]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a pose checkpoint; it finds people's joints: use convzoo pose "
                       "CHECKPOINT IMAGE --out skeleton.png")


def cmd_pose(args: argparse.Namespace) -> None:
    result = pose_file(args.checkpoint, args.image, args.out, box=args.box, dense=args.dense)
    if result.mode == "bottom_up":
        print(f"people   {len(result.people)}")
    for number, keypoints in enumerate(result.people, start=1):
        found = int((keypoints[:, 2] > MIN_SCORE).sum())
        print(f"person {number}: {found} of {len(keypoints)} joints")
    print(f"picture  {result.picture}")
