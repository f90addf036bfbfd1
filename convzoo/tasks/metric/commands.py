"""What ``convzoo train`` and ``eval`` print for metric learning, the work of its own command ``convzoo verify
CHECKPOINT A B``, and what the common ``convzoo retrieve CHECKPOINT QUERY --gallery DIR`` does for it (its flags
and parser: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.metric.files import retrieve_files, verify_files
from convzoo.tasks.metric.pipeline import load_task_data
from convzoo.tasks.metric.scoring import EMBEDDINGS_FILE, ROC_FILE, embed_split, split_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "retrieve", "score_lines",
           "train_summary"]

SPLITS = ("train", "val", "test")


def score_lines(report: dict[str, Any]) -> list[str]:
    """Verification, retrieval and one-shot scores, one line each."""
    recalls = "  ".join(f"{key} {value:.2%}" for key, value in report.items() if key.startswith("recall@"))
    one_shot = "  ".join(f"{key.split('@')[1]}-way {value:.2%}" for key, value in report.items()
                         if key.startswith("one_shot@"))
    return [
        f"verification  AUC {report['auc']:.4f}  EER {report['eer']:.2%}  TAR@FAR=1e-3 {report['tar@far=1e-3']:.2%}"
        f"  TAR@FAR=1e-2 {report['tar@far=1e-2']:.2%}  accuracy {report['accuracy']:.2%} at the validation "
        f"threshold {report['threshold']:.4f}",
        f"retrieval     {recalls}  mAP {report['map']:.2%}  MAP@R {report['map@r']:.2%}",
        f"one-shot      {one_shot}",
    ]


def train_summary(result: TrainResult, out: Path) -> list[str]:
    test = result.test_metrics
    return [
        f"test: {test['items']} images of {test['classes']} classes never seen in training",
        *score_lines(test),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / ROC_FILE}, {out / EMBEDDINGS_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The scores of a split of the checkpoint's dataset, at the threshold its training chose on validation."""
    if args.split not in SPLITS:
        raise ConvzooError(f"unknown split {args.split!r}; expected one of {', '.join(SPLITS)}")
    settings = meta.data_settings(args.dataset, args.data_dir)
    data = load_task_data(settings)
    split = embed_split(model, getattr(data, args.split), batch_size=args.batch_size)
    report = split_report(split, meta.task_args["threshold"])
    return [f"{meta.model} on {settings['dataset']} ({args.split}: {report['items']} images, "
            f"{report['classes']} classes)", *score_lines(report)]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a metric-learning checkpoint; it compares images: use convzoo verify "
                       "CHECKPOINT IMAGE_A IMAGE_B, or convzoo retrieve CHECKPOINT QUERY --gallery DIR")


def cmd_verify(args: argparse.Namespace) -> None:
    result = verify_files(args.checkpoint, args.first, args.second)
    print(f"distance   {result.distance:.4f}")
    if result.threshold is None:
        print("threshold  none recorded in the checkpoint")
        return
    print(f"threshold  {result.threshold:.4f} (chosen on the validation split)")
    print(f"verdict    {'same' if result.same else 'different'}")


def retrieve(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """``convzoo retrieve CHECKPOINT QUERY --gallery DIR``: the nearest gallery images, and the strip drawn."""
    if args.query is None or args.gallery is None:
        raise ConvzooError(f"{args.checkpoint} is a metric-learning checkpoint: it retrieves images for an image; "
                           "give QUERY and --gallery DIR")
    result = retrieve_files(args.checkpoint, args.query, args.gallery, top_k=args.top_k, out=args.out)
    lines = [f"{rank:3d}  {distance:.4f}  {path}"
             for rank, (path, distance) in enumerate(zip(result.files, result.distances), start=1)]
    return [*lines, f"strip  {result.strip}"]
