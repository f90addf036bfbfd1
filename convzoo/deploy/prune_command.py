"""``convzoo prune``: prune a classifier, structured to a MAC budget or unstructured to a sparsity, then
fine-tune it through the training engine, printing what each stage costs and scores.

``convzoo prune CHECKPOINT --target-macs 0.5 [--importance magnitude|taylor] [--global]
--finetune-epochs N --out DIR`` writes ``DIR/pruned.safetensors`` (+ ``.json``), the pruned
model before fine-tuning, and the fine-tuning run's files (``DIR/model.safetensors``,
``metrics.csv``, ...). ``--unstructured SPARSITY`` zeroes weights instead (no fine-tuning:
training would refill the zeros). A model name instead of a checkpoint prunes random weights
and reports MACs and parameters only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from convzoo.data import load_dataset
from convzoo.deploy.commands import CALIBRATION_BATCH
from convzoo.deploy.prune import prune_structured, prune_unstructured
from convzoo.deploy.source import is_checkpoint, load_source
from convzoo.errors import ConvzooError
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.engine import evaluate
from convzoo.train.progress import ProgressReporter
from convzoo.train.runner import train

__all__ = ["cmd_prune"]


def _load(args: argparse.Namespace) -> tuple[nn.Module, CheckpointMeta | None, tuple[int, ...]]:
    """The model, its checkpoint metadata (None for a model name) and its input size."""
    source = load_source(args.checkpoint, args.input if not is_checkpoint(args.checkpoint) else None)
    if source.meta is not None and source.meta.task != "classification":
        raise ConvzooError(f"{args.checkpoint} is a {source.meta.task} checkpoint; convzoo prune scores and "
                           "fine-tunes classification checkpoints")
    return source.model, source.meta, source.input_size


def _check(args: argparse.Namespace, meta: CheckpointMeta | None) -> None:
    if args.finetune_epochs < 0:
        raise ConvzooError(f"--finetune-epochs must be 0 or more, got {args.finetune_epochs}")
    if args.finetune_epochs and args.unstructured is not None:
        raise ConvzooError("--unstructured takes no --finetune-epochs: training would refill the zeroed weights")
    if args.finetune_epochs and meta is None:
        raise ConvzooError(f"--finetune-epochs needs a checkpoint with a dataset; {args.checkpoint} is a model name")
    if args.importance == "taylor" and meta is None:
        raise ConvzooError(f"--importance taylor needs a checkpoint's training data; {args.checkpoint} is a model name")
    if args.input is not None and meta is not None:
        raise ConvzooError(f"--input is for a model name; checkpoint {args.checkpoint} prunes at its own input "
                           f"{'x'.join(map(str, meta.input_size))}")
    if args.lr <= 0:
        raise ConvzooError(f"--lr must be greater than 0, got {args.lr}")


def _accuracy(model: nn.Module, meta: CheckpointMeta, splits) -> float:
    metrics, _ = evaluate(model, splits.test, ClassificationTask(len(meta.class_names)))
    return metrics["accuracy"]


def _calibration(splits, batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    count = min(len(splits.train), batches * CALIBRATION_BATCH)
    pairs = [splits.train[index] for index in range(count)]
    images = torch.stack([image for image, _ in pairs])
    labels = torch.as_tensor([int(label) for _, label in pairs])
    return list(zip(images.split(CALIBRATION_BATCH), labels.split(CALIBRATION_BATCH)))


def _latency_ms(model: nn.Module, input_size: tuple[int, ...], repeats: int = 10) -> float:
    """Median wall time of one forward pass of one input (CPU), after a warm-up."""
    x = torch.randn(1, *input_size)
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _finetune(args: argparse.Namespace, meta: CheckpointMeta, pruned_path: Path) -> float:
    """Fine-tune the pruned checkpoint on its dataset (``--pretrained`` of a pruned checkpoint builds
    the pruned widths); its test accuracy."""
    kwargs = {key: value for key, value in meta.model_args.items() if key not in ("in_chans", "num_classes")}
    config = TrainConfig(
        model=meta.model, model_kwargs=kwargs, dataset=meta.dataset, data_dir=meta.task_args.get("data_dir"),
        image_size=meta.input_size[1], pretrained=str(pruned_path), epochs=args.finetune_epochs, lr=args.lr,
        batch_size=args.batch_size, out=str(args.out),
    )
    result = train(config, ProgressReporter(sys.stdout, 0))
    return result.test_metrics["accuracy"]


def cmd_prune(args: argparse.Namespace) -> None:
    model, meta, input_size = _load(args)
    _check(args, meta)
    splits = None
    if meta is not None:
        in_chans, image_size, _ = meta.input_size
        splits = load_dataset(meta.dataset, image_size=image_size, in_chans=in_chans,
                              data_dir=meta.task_args.get("data_dir"))
        print(f"test accuracy before pruning   {_accuracy(model, meta, splits):.2%}")
    if args.unstructured is not None:
        pruned, report = prune_unstructured(model, args.unstructured, global_pruning=args.global_pruning)
        for line in report.lines():
            print(f"sparsity {line}")
        print(f"latency, batch 1: {_latency_ms(model, input_size):.2f} ms dense, {_latency_ms(pruned, input_size):.2f} "
              "ms with the zeros (dense kernels skip none)")
    else:
        calibration = _calibration(splits, args.calibration_batches) if args.importance == "taylor" else None
        result = prune_structured(model, input_size, target_macs=args.target_macs, importance=args.importance,
                                  global_pruning=args.global_pruning, calibration=calibration, round_to=args.round_to)
        pruned = result.model
        print(f"MACs        {result.macs_before:,} -> {result.macs_after:,} ({result.macs_fraction:.1%}; "
              f"target {args.target_macs:.1%})")
        print(f"parameters  {result.params_before:,} -> {result.params_after:,} ({result.params_fraction:.1%})")
    if meta is None:
        meta = CheckpointMeta(model=args.checkpoint, model_args={"in_chans": input_size[0]}, dataset="none",
                              class_names=[], mean=[], std=[], input_size=list(input_size))
    else:
        accuracy = _accuracy(pruned, meta, splits)
        print(f"test accuracy after pruning    {accuracy:.2%}")
        meta = replace(meta, metrics={"test_accuracy": accuracy})
    pruned_path = save_checkpoint(args.out / "pruned", pruned, meta)
    print(f"pruned checkpoint  {pruned_path}")
    if args.finetune_epochs:
        print(f"test accuracy after fine-tuning {_finetune(args, meta, pruned_path):.2%}")
        print(f"fine-tuned checkpoint  {args.out / 'model.safetensors'}")
