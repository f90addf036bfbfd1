"""What ``convzoo train``, ``eval`` and ``retrieve --text`` print for cross-modal retrieval (its flags:
:mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.crossmodal.files import retrieve_for_text
from convzoo.tasks.crossmodal.pipeline import check_widths, load_task_data
from convzoo.tasks.crossmodal.scoring import PR_FILE, embed_split, map_report, plot_precision_recall, report_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "retrieve", "train_summary"]


def train_summary(result: TrainResult, out: Path) -> list[str]:
    return [
        *report_lines(result.test_metrics),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / PR_FILE}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """Image-to-text and text-to-image mAP on a split of the checkpoint's dataset (or of ``--dataset``)."""
    settings = meta.data_settings(args.dataset, args.data_dir)
    data = load_task_data(settings)
    check_widths(model, data, settings["dataset"])
    split = getattr(data, args.split)
    image_common, text_common = embed_split(model, split, batch_size=args.batch_size)
    report = map_report(image_common, text_common, split.labels)
    lines = [f"{meta.model} on {settings['dataset']} ({args.split})", *report_lines(report)]
    if args.out is not None:
        plot_precision_recall(image_common, text_common, split.labels, args.out,
                              f"{meta.model} on {settings['dataset']} ({args.split})")
        lines.append(f"curves        {args.out}")
    return lines


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a crossmodal checkpoint; it ranks one modality for the other: use "
                       "convzoo retrieve CHECKPOINT --text \"...\"")


def retrieve(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """``convzoo retrieve CHECKPOINT --text "..."``: the test split's images nearest to the words."""
    if args.text is None or args.query is not None or args.gallery is not None:
        raise ConvzooError(f"{args.checkpoint} is a crossmodal checkpoint: it retrieves the test split's images for "
                           "a text; give --text \"WORDS\" (no QUERY image or --gallery)")
    data = load_task_data(meta.task_args)
    hits = retrieve_for_text(model, meta, data.test, args.text, top_k=args.top_k, out=args.out)
    lines = [f"unknown words (left out): {' '.join(hits.unknown_words)}"] if hits.unknown_words else []
    lines += [f"{rank:3d}  {similarity:.4f}  {name}  ({class_name})"
              for rank, (name, class_name, similarity) in enumerate(zip(hits.names, hits.classes, hits.similarities),
                                                                    start=1)]
    if hits.strip is not None:
        lines.append(f"strip  {hits.strip}")
    return lines
