"""``convzoo bench MODEL_OR_CHECKPOINT``: every deployment path of a network timed the same way, as a table
(and a bar plot with ``--plot``). The measuring is :func:`convzoo.deploy.bench.benchmark`'s."""

from __future__ import annotations

import argparse

from torch import nn

from convzoo.deploy.bench import (
    Calibration,
    benchmark,
    dataset_calibration,
    format_report,
    parse_backends,
    plot_report,
    random_calibration,
)
from convzoo.deploy.source import load_source

__all__ = ["cmd_bench"]

# The tasks whose checkpoints name a dataset that convzoo.data.load_dataset reads (images and labels).
IMAGE_DATASET_TASKS = ("classification",)


def _load(args: argparse.Namespace) -> tuple[nn.Module, str, tuple[int, ...], Calibration]:
    source = load_source(args.model, args.input)
    meta, input_size = source.meta, source.input_size
    if meta is not None and meta.task in IMAGE_DATASET_TASKS:
        data_dir = args.data_dir or meta.task_args.get("data_dir")
        calibration = dataset_calibration(meta.dataset, input_size, data_dir=data_dir, batches=args.calibration_batches)
        return source.model, source.name, input_size, calibration
    calibration = random_calibration(input_size, batches=args.calibration_batches)
    if meta is not None:
        calibration.source += f" (a {meta.task} checkpoint: its dataset is not read for calibration)"
    return source.model, source.name, input_size, calibration


def cmd_bench(args: argparse.Namespace) -> None:
    backends = parse_backends(args.backends)
    model, name, input_size, calibration = _load(args)
    report = benchmark(model, input_size, backends=backends, batch_sizes=args.batch_size, threads=args.threads,
                       warmup=args.warmup, repeats=args.repeats, calibration=calibration, name=name)
    for line in format_report(report):
        print(line)
    if args.plot is not None:
        print(f"plot  {plot_report(report, args.plot)}")
