"""Cross-modal retrieval on the command line: its ``convzoo train`` flags, and what ``train``, ``eval`` and
``retrieve --text`` print for it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.arguments import train_flag
from convzoo.data.crossmodal import FEATURE_FILES
from convzoo.errors import ConvzooError
from convzoo.tasks.crossmodal.files import retrieve_for_text
from convzoo.tasks.crossmodal.objective import ABLATIONS
from convzoo.tasks.crossmodal.pipeline import TASK_DATASETS, check_widths, load_task_data
from convzoo.tasks.crossmodal.scoring import PR_FILE, embed_split, map_report, plot_precision_recall, report_lines
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_train_arguments", "evaluate", "predict", "retrieve", "train_summary"]


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    crossmodal = train.add_argument_group(
        "cross-modal retrieval (--task crossmodal)",
        f"--dataset {' | '.join(TASK_DATASETS)}: paired-digits (generated, the default: scikit-learn's digits with "
        "generated sentences as bags of words), dscmr-features (--data-dir: DSCMR's release, "
        f"{', '.join(name + '.mat' for name in FEATURE_FILES)}), image-text (--data-dir: train/, test/, optional "
        "val/, each <class>/<name>.<image> with <name>.txt beside it; the images through a zoo CNN, frozen or "
        "fine-tuned, the texts as bags of words)",
    )
    train_flag(crossmodal, "crossmodal_alpha", type=float,
               help=f"weight of the common-space loss J2 (default: {defaults.crossmodal_alpha})")
    train_flag(crossmodal, "crossmodal_beta", type=float,
               help=f"weight of the modality-invariance loss J3 (default: {defaults.crossmodal_beta})")
    train_flag(crossmodal, "image_encoder", metavar="MODEL",
               help=f"image-text: the zoo CNN whose pooled features the images become (default: "
                    f"{defaults.image_encoder})")
    train_flag(crossmodal, "image_encoder_weights", metavar="CHECKPOINT",
               help="image-text: the encoder's weights (torchvision, timm or convzoo; default: random, for tests only)")
    train_flag(crossmodal, "image_encoder_finetune", action="store_const", const=True,
               help="image-text: train the encoder with DSCMR's losses on the pixels (held in memory, 602,112 bytes "
                    "an image at 3x224x224) instead of computing its features once, frozen")
    train_flag(crossmodal, "crossmodal_ablate", choices=ABLATIONS,
               help="leave one loss out: label (J1), common (J2), invariance (J3) (default: none)")


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
