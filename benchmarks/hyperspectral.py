"""How much HybridSN's scores vary between trainings that differ only in their seed.

Trains ``hybridsn`` on the synthetic scene at the default settings (30 components, 25x25
patches, 30% of the labelled pixels for training, the split fixed by ``--split-seed 0``)
once per training seed, and reports OA, AA and kappa of each run with their mean,
standard deviation and range. With ``--split-seeds`` the split varies too (one split seed
per run, training seed 0), which shows the variation a different choice of training
pixels adds.

Usage::

    python benchmarks/hyperspectral.py [--seeds 0 1 2 3 4] [--epochs 20] [--split-seeds]
        [--out runs/hybridsn-seeds] [--write BENCHMARKS.md]

With ``--write`` the markdown section replaces the file's section of the same title (or
is appended).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from convzoo.train.config import resolve_config
from convzoo.train.runner import train

TITLE = "## HybridSN: spread of OA over training seeds (synthetic scene)"


def run(seed: int, split_seed: int, epochs: int, out: Path) -> dict:
    config = resolve_config(
        model="hybridsn", task="hyperspectral", dataset="synthetic", seed=seed, split_seed=split_seed,
        epochs=epochs, scene_map="none", out=str(out / f"seed{seed}-split{split_seed}"),
    )
    start = time.perf_counter()
    report = train(config).test_metrics
    return {"seed": seed, "split_seed": split_seed, "seconds": time.perf_counter() - start, **report}


def section(rows: list[dict], args: argparse.Namespace) -> str:
    oa = [row["accuracy"] * 100 for row in rows]
    aa = [row["average_accuracy"] * 100 for row in rows]
    kappa = [row["kappa"] * 100 for row in rows]
    varied = "split seed (training seed 0)" if args.split_seeds else "training seed (split seed 0)"
    c = resolve_config(task="hyperspectral")  # the defaults the runs used
    lines = [
        TITLE,
        "",
        f"`python benchmarks/hyperspectral.py{' --split-seeds' if args.split_seeds else ''} --epochs {args.epochs}"
        f" --seeds {' '.join(map(str, args.seeds))}`: `hybridsn` on the synthetic scene ({c.scene_size}x"
        f"{c.scene_size}, 64 bands, 8 classes), the defaults of `convzoo train hybridsn --task hyperspectral`"
        f" ({c.pca_components} PCA components, {c.window}x{c.window} patches, {c.train_ratio:.0%} training pixels,"
        f" {c.optimizer.capitalize()} lr {c.lr:g}, batch {c.batch_size}, {c.schedule}, {args.epochs} epochs);"
        f" one run per {varied}. Scores on the {rows[0]['pixels']['test']} test pixels, in percent.",
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


def write_section(path: Path, text: str) -> None:
    """Replace the section titled :data:`TITLE` in ``path``, or append it."""
    content = path.read_text() if path.exists() else ""
    if TITLE in content:
        start = content.index(TITLE)
        end = content.find("\n## ", start + len(TITLE))
        content = content[:start] + text + (content[end + 1:] if end != -1 else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    path.write_text(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--split-seeds", action="store_true", help="vary the split seed instead of the training seed")
    parser.add_argument("--out", default="runs/hybridsn-seeds")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        training_seed, split_seed = (0, seed) if args.split_seeds else (seed, 0)
        rows.append(run(training_seed, split_seed, args.epochs, Path(args.out)))
        print(f"seed {seed}: OA {rows[-1]['accuracy']:.2%}  AA {rows[-1]['average_accuracy']:.2%}  "
              f"kappa {rows[-1]['kappa']:.4f}  ({rows[-1]['seconds']:.0f} s)", flush=True)
    text = section(rows, args)
    print(text)
    if args.write:
        write_section(Path(args.write), text)


if __name__ == "__main__":
    main()
