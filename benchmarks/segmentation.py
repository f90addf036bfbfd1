"""U-Net and UNet++ on the embedded digit scenes at one CPU time budget, and pruned UNet++ L^1..L^4.

Trains the padded U-Net (``unet_padded``) and UNet++ with deep supervision
(``unetplusplus``), both at ``--width`` base filters, each for as many epochs of the
default digit scenes (1,000 training scenes of 64x64, 11 classes) as fit in
``--minutes`` of training on this CPU: one epoch and one validation pass are timed first,
and the run's epoch count (its cosine schedule's length) is set from them. Each
run is then scored on the 200 fixed test scenes: mean IoU, pixel accuracy, mean Dice.

The trained UNet++ is then pruned to UNet++ L^1..L^4 (the nodes its head ``X^{0,L}``
needs, Zhou et al. 2018, Sec. 2) and each sub-network's parameters, MACs (at 3x64x64),
median CPU latency of one scene and test mean IoU are tabled beside the full network in
accurate mode (the average of the four heads).

    python benchmarks/segmentation.py [--minutes 10 | --epochs N] [--width 16] [--batch-size 8] [--lr 2e-3]
        [--seed 0] [--out runs/segmentation-benchmark] [--write BENCHMARKS.md]

The aim of issue 13: ``unet_padded`` at mean IoU >= 0.80 within 10 minutes of CPU training.
A smoke run: ``--minutes 0.5 --width 4`` (one epoch each, far from the aim).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from convzoo.analysis import profile
from convzoo.tasks.segmentation.objective import SegmentationTask
from convzoo.tasks.segmentation.pipeline import load_task_data
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.config import TrainConfig, resolve_config
from convzoo.train.distributed import DistContext
from convzoo.train.engine import evaluate
from convzoo.train.runner import build_pipeline, train

MODELS = {"unet_padded": "U-Net (padded, batch norm)", "unetplusplus": "UNet++ (deep supervision, accurate mode)"}
RUN_OVERHEAD_S = 1.0  # per epoch: checkpoint, metrics files, curves


def seconds_per_epoch(config: TrainConfig) -> float:
    """A training epoch's time on this CPU: one whole epoch (data, augmentation, metrics) and one validation
    pass, timed."""
    torch.manual_seed(config.seed)
    trainer = build_pipeline(config, DistContext(device=torch.device("cpu"))).trainer
    start = time.perf_counter()
    trainer.train_epoch()
    trainer.evaluate(trainer.val_data)
    return time.perf_counter() - start + RUN_OVERHEAD_S


def train_within(model: str, args: argparse.Namespace, dataset: str | None = None, width: int | None = None
                 ) -> dict[str, Any]:
    """Train ``model`` (on ``dataset``, else the embedded default) for the epochs that fit in ``args.minutes``
    at base ``width`` (else ``args.width``); its test report and what it took."""
    settings = dict(model=model, task="segmentation", dataset=dataset, model_kwargs={"base_width": width or args.width},
                    batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=str(Path(args.out) / model))
    epochs = args.epochs or max(1, int(args.minutes * 60 // seconds_per_epoch(resolve_config(**settings, epochs=1))))
    config = resolve_config(**settings, epochs=epochs)
    start = time.perf_counter()
    result = train(config)
    minutes = (time.perf_counter() - start) / 60
    return {"model": model, "epochs": epochs, "minutes": minutes, "test": result.test_metrics,
            "checkpoint": config.out}


@torch.inference_mode()
def latency_ms(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median wall time of one forward pass, after two warm-up passes."""
    model.eval()
    for _ in range(2):
        model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def pruned_rows(checkpoint: str, repeats: int) -> list[dict[str, Any]]:
    """Parameters, MACs, latency and test mean IoU of the trained UNet++ pruned to L^1..L^4, and of the whole."""
    model, meta = load_checkpoint(checkpoint)
    data = load_task_data(meta.task_args)
    task = SegmentationTask(len(data.class_names), data.ignore_index)
    scene = data.test[0][0][None]  # (1, 3, 64, 64)
    networks = [(f"L^{depth} (X^{{0,{depth}}})", model.pruned(depth)) for depth in range(1, model.depth + 1)]
    networks.append(("L^4, accurate (4 heads averaged)", model))
    rows = []
    for name, network in networks:
        metrics, _ = evaluate(network, data.test, task, batch_size=50)
        rows.append({
            "name": name, "params": sum(p.numel() for p in network.parameters()),
            "macs": profile(network, tuple(scene.shape[1:])).macs, "latency": latency_ms(network, scene, repeats),
            "miou": metrics["miou"],
        })
    return rows


def epochs_rule(args: argparse.Namespace) -> str:
    if args.epochs:
        return f"{args.epochs} epochs (the training minutes are measured)"
    return f"the epochs that fit in {args.minutes:g} min (estimated from one timed epoch)"


def markdown(runs: list[dict[str, Any]], pruned: list[dict[str, Any]], args: argparse.Namespace, load: float) -> str:
    lines = [
        f"### Segmentation on the digit scenes, {datetime.date.today()}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"load average {load:.1f} at the start. Each model trained for {epochs_rule(args)}, base width {args.width}, batch {args.batch_size}, Adam lr {args.lr:g} "
        f"cosine, cross-entropy + soft Dice, the scenes' joint augmentation, seed {args.seed}; scored on the 200 "
        "test scenes (64x64, 11 classes with the background).",
        "",
        "| model | parameters | epochs | training min | test mIoU | pixel accuracy | mean Dice |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        test = run["test"]
        params = sum(p.numel() for p in load_checkpoint(run["checkpoint"])[0].parameters())
        lines.append(f"| {MODELS[run['model']]} | {params:,} | {run['epochs']} | {run['minutes']:.1f} | "
                     f"{test['miou']:.2%} | {test['pixel_accuracy']:.2%} | {test['mean_dice']:.2%} |")
    lines += [
        "",
        f"The trained UNet++ pruned at inference (one scene of 3x64x64, median of {args.repeats} CPU passes):",
        "",
        "| UNet++ sub-network | parameters | MACs | latency (ms) | test mIoU |",
        "|---|---|---|---|---|",
    ]
    for row in pruned:
        lines.append(f"| {row['name']} | {row['params']:,} | {row['macs'] / 1e6:.1f} M | {row['latency']:.2f} | "
                     f"{row['miou']:.2%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of each model")
    parser.add_argument("--epochs", type=int, help="train this many epochs instead of those estimated to fit")
    parser.add_argument("--width", type=int, default=16, help="base filters of both networks")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20, help="timed passes per pruned network")
    parser.add_argument("--out", default="runs/segmentation-benchmark")
    parser.add_argument("--write", help="append the results as a markdown section to this file")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    runs = [train_within(model, args) for model in MODELS]
    pruned = pruned_rows(runs[-1]["checkpoint"], args.repeats)
    text = markdown(runs, pruned, args, load)
    print(text)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
