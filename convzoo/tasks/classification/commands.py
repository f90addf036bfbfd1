"""What ``convzoo train``, ``eval`` and ``predict`` print for a classifier (its flags: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from convzoo.data import load_dataset
from convzoo.data.images import load_image
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.engine import evaluate as evaluate_model
from convzoo.train.runner import TrainResult

__all__ = ["accuracy_line", "evaluate", "predict", "top_k", "train_summary"]


def accuracy_line(test: dict) -> str:
    """A test report's accuracy and loss, naming the split scored where it is not the test split."""
    top5 = f", top-5 {test['top5']:.2%}" if "top5" in test else ""
    split = test.get("split", "test")
    missing = "" if split == "test" else f"; the dataset has no test split, so the {split} split was scored"
    return f"{split} accuracy {test['accuracy']:.2%}{top5}  (loss {test['loss']:.4f}{missing})"


def train_summary(result: TrainResult, out: Path) -> list[str]:
    return [
        accuracy_line(result.test_metrics),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / 'confusion.png'}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    dataset = args.dataset or meta.dataset
    data_dir = args.data_dir or (meta.task_args.get("data_dir") if dataset == meta.dataset else None)
    in_chans, image_size, _ = meta.input_size
    splits = load_dataset(dataset, image_size=image_size, in_chans=in_chans, data_dir=data_dir, download=args.download)
    data = getattr(splits, args.split)
    split = "val" if args.split == "test" and splits.test is splits.val else args.split  # a folder without test/
    metrics, _ = evaluate_model(model, data, ClassificationTask(len(meta.class_names)), batch_size=args.batch_size)
    top5 = f"  top-5 {metrics['top5']:.2%}" if "top5" in metrics else ""
    return [f"{meta.model} on {dataset} ({split}, {len(data)} images): "
            f"accuracy {metrics['accuracy']:.2%}{top5}  loss {metrics['loss']:.4f}"]


def top_k(logits: torch.Tensor, class_names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes of each row of ``logits`` with their probabilities."""
    probs = logits.softmax(dim=1)
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    return [
        [(class_names[i], p) for i, p in zip(row_indices.tolist(), row_values.tolist())]
        for row_indices, row_values in zip(indices, values)
    ]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The ``--top-k`` classes of each image file, preprocessed as the checkpoint's evaluation was."""
    in_chans, image_size, _ = meta.input_size
    images = torch.stack([
        load_image(path, in_chans=in_chans, size=image_size, mean=meta.mean, std=meta.std,
                   crop_fraction=meta.eval_crop_fraction)
        for path in args.images
    ])
    with torch.no_grad():
        logits = model(images)
    lines = []
    for path, predictions in zip(args.images, top_k(logits, meta.class_names, args.top_k)):
        ranked = "  ".join(f"{name} {probability:.1%}" for name, probability in predictions)
        lines.append(f"{path}: {ranked}")
    return lines
