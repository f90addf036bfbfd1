"""How much HybridSN's scores vary between trainings that differ only in their seed.

Trains ``hybridsn`` on the synthetic scene (or, with ``--dataset indian_pines``, the real
Indian Pines scene from tensorly's copy) at the task's default settings (30 components,
25x25 patches, 30% of the labelled pixels for training, the split fixed by
``--split-seed 0``; ``--train-ratio``, ``--batch-size``, ``--lr`` and ``--schedule``
change them) once per training seed, and reports OA, AA and kappa of each run with their mean,
standard deviation and range. With ``--split-seeds`` the split varies too (one split seed
per run, training seed 0), which shows the variation a different choice of training
pixels adds.

Usage::

    python benchmarks/hyperspectral.py [--seeds 0 1 2 3 4] [--epochs 20] [--split-seeds]
        [--dataset indian_pines] [--train-ratio 0.1] [--batch-size 128] [--lr 1e-3]
        [--schedule constant] [--out runs/hybridsn-seeds] [--write BENCHMARKS.md]

With ``--write`` the markdown section replaces the file's section of the same title (or
is appended).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import torch

from sections import write_section

from convzoo.train.config import resolve_config
from convzoo.train.runner import train

TITLES = {
    "synthetic": "## HybridSN: spread of OA over training seeds (synthetic scene)",
    "indian_pines": "## HybridSN: spread of OA over training seeds (real Indian Pines)",
}
SCENES = {
    "synthetic": "the synthetic scene ({c.scene_size}x{c.scene_size}, 64 bands, 8 classes)",
    "indian_pines": "the real Indian Pines scene (tensorly's copy: 145x145, 200 bands, 16 classes)",
}


def settings(args: argparse.Namespace) -> dict:
    """The flags of the runs that differ from the task's defaults (``None``: the default)."""
    return dict(
        dataset=args.dataset,
        epochs=args.epochs,
        train_ratio=args.train_ratio,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
    )


def run(seed: int, split_seed: int, args: argparse.Namespace) -> dict:
    config = resolve_config(
        model="hybridsn",
        task="hyperspectral",
        seed=seed,
        split_seed=split_seed,
        scene_map="none",
        out=str(Path(args.out) / f"seed{seed}-split{split_seed}"),
        **settings(args),
    )
    start = time.perf_counter()
    report = train(config).test_metrics
    return {"seed": seed, "split_seed": split_seed, "seconds": time.perf_counter() - start, **report}


def section(rows: list[dict], args: argparse.Namespace) -> str:
    oa = [row["accuracy"] * 100 for row in rows]
    aa = [row["average_accuracy"] * 100 for row in rows]
    kappa = [row["kappa"] * 100 for row in rows]
    varied = "split seed (training seed 0)" if args.split_seeds else "training seed (split seed 0)"
    c = resolve_config(task="hyperspectral", **settings(args))  # the settings the runs used
    flags = "".join(
        f" --{key.replace('_', '-')} {value:g}" if isinstance(value, float) else f" --{key.replace('_', '-')} {value}"
        for key, value in settings(args).items()
        if value is not None
    )
    lines = [
        TITLES[args.dataset],
        "",
        f"`python benchmarks/hyperspectral.py{' --split-seeds' if args.split_seeds else ''}{flags}"
        f" --seeds {' '.join(map(str, args.seeds))}`: `hybridsn` on {SCENES[args.dataset].format(c=c)},"
        f" {c.pca_components} PCA components, {c.window}x{c.window} patches, {c.train_ratio:.0%} training pixels,"
        f" {c.optimizer.capitalize()} lr {c.lr:g}, batch {c.batch_size}, {c.schedule}, {args.epochs} epochs;"
        f" one run per {varied}; {datetime.date.today()}. Scores on the {rows[0]['pixels']['test']:,} test"
        " pixels, in percent.",
        "",
        "| seed | OA | AA | kappa | time (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row, o, a, k in zip(rows, oa, aa, kappa):
        seed = row["split_seed"] if args.split_seeds else row["seed"]
        lines.append(f"| {seed} | {o:.2f} | {a:.2f} | {k:.2f} | {row['seconds']:.0f} |")

    def spread(values: list[float]) -> str:
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2f} ± {std:.2f} ({min(values):.2f}-{max(values):.2f})"

    lines += [
        f"| mean ± std (range) | {spread(oa)} | {spread(aa)} | {spread(kappa)} | |",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads; "
        f"torch {torch.__version__}, Python {platform.python_version()}. Each seed repeats exactly "
        "(tests/tasks/hyperspectral/test_runs.py); docs/hyperspectral.md explains where the differences come from.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dataset", choices=sorted(TITLES), default="synthetic")
    parser.add_argument("--train-ratio", type=float, help="share of each class's labelled pixels for training")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--schedule")
    parser.add_argument("--split-seeds", action="store_true", help="vary the split seed instead of the training seed")
    parser.add_argument("--out", default="runs/hybridsn-seeds")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        training_seed, split_seed = (0, seed) if args.split_seeds else (seed, 0)
        rows.append(run(training_seed, split_seed, args))
        print(
            f"seed {seed}: OA {rows[-1]['accuracy']:.2%}  AA {rows[-1]['average_accuracy']:.2%}  "
            f"kappa {rows[-1]['kappa']:.4f}  ({rows[-1]['seconds']:.0f} s)",
            flush=True,
        )
    text = section(rows, args)
    print(text)
    if args.write:
        write_section(Path(args.write), TITLES[args.dataset], text)


if __name__ == "__main__":
    main()
