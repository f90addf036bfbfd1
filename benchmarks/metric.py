"""Contrastive against batch-hard and batch-all triplet losses on the digits default, at the same budget.

Trains ``siamese_lenet5`` (or ``--model``) with ``--task metric`` on scikit-learn's digits,
classes 0-4, once per loss, with the same epochs, P x K batches, optimiser and seed, then
scores the unseen classes 5-9 (the test half; the verification threshold chosen on the
validation half): verification AUC, EER and TAR at FAR 1e-2, Recall@1, MAP@R and 5-way
one-shot accuracy. One table, one row per loss.

Usage::

    python benchmarks/metric.py [--epochs 10] [--model siamese_lenet5] [--losses contrastive batch_hard batch_all]
        [--out runs/metric-benchmark] [--write BENCHMARKS.md]

With ``--write`` the markdown section replaces the file's section of the same title (or
is appended).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

import torch

from sections import write_section

from convzoo.registry import create_model
from convzoo.tasks.metric.pipeline import data_settings, load_task_data
from convzoo.tasks.metric.scoring import EmbeddedSplit, embed_split, split_report, validation_threshold
from convzoo.train.config import resolve_config
from convzoo.train.runner import train
from convzoo.train.seed import seed_everything

TITLE = "## Metric learning: contrastive against triplet losses on unseen digits"
LOSSES = {  # name -> the flags of --task metric
    "contrastive": dict(loss="contrastive"),
    "batch_hard": dict(loss="triplet", mining="batch_hard"),
    "batch_all": dict(loss="triplet", mining="batch_all"),
    "semihard": dict(loss="triplet", mining="semihard"),
}
NAMES = {"raw": "no network: the raw 8x8 pixels", "init": "the network at initialisation (no training)",
         "contrastive": "contrastive (margin 1)", "batch_hard": "triplet, batch hard (margin 0.2)",
         "batch_all": "triplet, batch all (margin 0.2)", "semihard": "triplet, semi-hard (margin 0.2)"}


def run(loss: str, args: argparse.Namespace) -> dict:
    config = resolve_config(model=args.model, task="metric", epochs=args.epochs, lr=args.lr, seed=args.seed,
                            out=str(Path(args.out) / loss), **LOSSES[loss])
    start = time.perf_counter()
    report = train(config).test_metrics
    return {"loss": loss, "seconds": time.perf_counter() - start, **report}


def baselines(args: argparse.Namespace) -> list[dict]:
    """The same scores with no training: the raw 8x8 pixels, and the network at its (seeded) initialisation."""
    settings = data_settings(resolve_config(model=args.model, task="metric"))
    data = load_task_data(settings)
    raw = load_task_data({**settings, "image_size": 8, "in_chans": 1})

    def pixels(split) -> EmbeddedSplit:
        images, labels = zip(*split)
        return EmbeddedSplit(torch.stack(images).flatten(1), torch.stack(labels), torch.nn.Identity())

    seed_everything(args.seed)
    model = create_model(args.model, in_chans=settings["in_chans"])
    rows = []
    for name, (val, test) in {
        "raw": (pixels(raw.val), pixels(raw.test)),
        "init": (embed_split(model, data.val), embed_split(model, data.test)),
    }.items():
        rows.append({"loss": name, "seconds": 0.0, **split_report(test, validation_threshold(val))})
    return rows


def section(rows: list[dict], args: argparse.Namespace) -> str:
    c = resolve_config(model=args.model, task="metric", epochs=args.epochs, lr=args.lr)
    lines = [
        TITLE,
        "",
        f"`python benchmarks/metric.py --epochs {args.epochs} --lr {args.lr:g}`: `{args.model}` trained on the digits "
        f"0-4 (901 images) with each loss, the same budget: {args.epochs} epochs of P x K batches (5 classes x "
        f"{c.samples_per_class}), {c.optimizer.capitalize()} lr {args.lr:g} {c.schedule}, random-affine augmentation, "
        f"seed {args.seed}. Scored on the test half of the unseen digits 5-9 ({rows[0]['items']} images): 2,000 "
        "seeded verification pairs (half matching) at the threshold chosen on the validation half, retrieval of "
        f"each image against the rest, 1,000 seeded 5-way one-shot trials. {datetime.date.today()}, "
        f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}.",
        "",
        "| loss | AUC | EER | TAR@FAR=1e-2 | accuracy | Recall@1 | MAP@R | 5-way one-shot | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {NAMES[row['loss']]} | {row['auc']:.4f} | {row['eer']:.2%} | {row['tar@far=1e-2']:.2%} | "
            f"{row['accuracy']:.2%} | {row['recall@1']:.2%} | {row['map@r']:.2%} | {row['one_shot@5']:.2%} | "
            f"{row['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="siamese_lenet5")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--losses", nargs="+", choices=sorted(LOSSES), default=["contrastive", "batch_hard", "batch_all"])
    parser.add_argument("--out", default="runs/metric-benchmark")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    rows = baselines(args)
    for loss in args.losses:
        rows.append(run(loss, args))
        print(f"{loss}: AUC {rows[-1]['auc']:.4f}  5-way {rows[-1]['one_shot@5']:.2%}  ({rows[-1]['seconds']:.0f} s)",
              flush=True)
    text = section(rows, args)
    print(text)
    if args.write:
        write_section(Path(args.write), TITLE, text)


if __name__ == "__main__":
    main()
