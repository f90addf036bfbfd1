"""``convzoo bench MODEL_OR_CHECKPOINT``: every deployment path of a network timed the same way, as a table
(and a bar plot with ``--plot``). The measuring is :func:`convzoo.deploy.bench.benchmark`'s."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from convzoo.arguments import parse_shape, positive_int
from convzoo.deploy.bench import (
    BACKENDS,
    Calibration,
    benchmark,
    dataset_calibration,
    format_report,
    parse_backends,
    plot_report,
    random_calibration,
)
from convzoo.deploy.source import load_source

__all__ = ["add_bench_command", "parse_batch_sizes"]

# The tasks whose checkpoints name a dataset that convzoo.data.load_dataset reads (images and labels).
IMAGE_DATASET_TASKS = ("classification",)


def parse_batch_sizes(text: str) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``."""
    parts = text.split(",")
    if not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"bad batch sizes {text!r}: expected positive integers such as 1,8")
    return tuple(dict.fromkeys(int(part) for part in parts))


def add_bench_command(commands: argparse._SubParsersAction) -> None:

    bench = commands.add_parser("bench", help="latency (median, p90) and images/s of every inference path: eager, "
                                "channels_last, torch.compile, folded, onnxruntime fp32 and int8")
    bench.add_argument("model", metavar="MODEL_OR_CHECKPOINT",
                       help="a checkpoint (run folder or file) or a registered model name (random weights)")
    bench.add_argument("--backends", default=",".join(BACKENDS), metavar="NAME[,NAME...]",
                       help=f"comma-separated, some of {', '.join(BACKENDS)} (default: all)")
    bench.add_argument("--batch-size", type=parse_batch_sizes, default=(1,), metavar="B[,B...]",
                       help="batch sizes, comma-separated, e.g. 1,8 (default: 1)")
    bench.add_argument("--input", type=parse_shape, metavar="CxHxW",
                       help="input shape CxHxW (default: the checkpoint's, else the model's)")
    bench.add_argument("--threads", type=positive_int, metavar="N",
                       help=f"torch and onnxruntime threads (default: torch's, here {torch.get_num_threads()})")
    bench.add_argument("--warmup", type=positive_int, default=3, metavar="N",
                       help="untimed calls per backend and batch (default: 3)")
    bench.add_argument("--repeats", type=positive_int, default=20, metavar="N",
                       help="timed calls per backend and batch; median and p90 of them (default: 20)")
    bench.add_argument("--calibration-batches", type=positive_int, default=4, metavar="N",
                       help="int8 calibration batches of 8: the checkpoint's training images, random inputs for a "
                            "model name (default: 4)")
    bench.add_argument("--data-dir", metavar="DIR",
                       help="a checkpoint's dataset files for int8 calibration (default: the ones it was trained on)")
    bench.add_argument("--plot", type=Path, metavar="PNG", help="bar plot of images/s per backend (PNG)")
    bench.set_defaults(run=cmd_bench, outputs={"plot": "file"})


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
