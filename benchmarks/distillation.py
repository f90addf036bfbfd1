"""Knowledge distillation against the same student trained alone, at the same budget, over several seeds.

Trains a teacher (``--teacher-model``, default ResNet-18) on the dataset at the student's
input size, then the student (default: the course's CIFAR MobileNet V1 at a quarter of its
width, 3-channel like the teacher, which sees the student's batches) once alone and once with ``--teacher`` for
each seed, with the same epochs, optimiser, augmentation and seed; the table gives the test
accuracy of each run and the mean and standard deviation over the seeds (Hinton, Vinyals,
Dean 2015: the soft targets carry the teacher's "dark knowledge" of which wrong classes are
close, most useful where the student sees few labelled images).

Usage::

    python benchmarks/distillation.py [--dataset digits] [--teacher-model resnet18] [--teacher-epochs 20]
        [--teacher CHECKPOINT] [--student mobilenet_v1_cifar] [--student-width 0.25] [--epochs 5] [--seeds 0 1 2] [--temperature 4] [--alpha 0.9]
        [--out runs/distillation-benchmark] [--write BENCHMARKS.md]
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

from convzoo.registry import create_model
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.config import resolve_config
from convzoo.train.runner import train

TITLE = "## Knowledge distillation: a student with a teacher against the student alone"


def student_side(name: str) -> int:
    """The input side the student takes (its fixed size, else 32), which the teacher is trained at too."""
    return getattr(create_model(name), "fixed_input_size", None) or 32


def student_kwargs(args: argparse.Namespace) -> dict:
    return {} if args.student_width is None else {"model_kwargs": {"width_multiplier": args.student_width}}


def run(args: argparse.Namespace, name: str, out: Path, seed: int, epochs: int, **extra) -> dict:
    start = time.perf_counter()
    config = resolve_config(model=name, dataset=args.dataset, data_dir=args.data_dir, image_size=args.side,
                            epochs=epochs, seed=seed, out=str(out), **extra)
    accuracy = train(config).test_metrics["accuracy"]
    return {"accuracy": accuracy, "seconds": time.perf_counter() - start}


def trained_teacher(args: argparse.Namespace, path: Path) -> dict:
    """The test accuracy and training minutes a teacher checkpoint of this benchmark recorded."""
    _, meta = load_checkpoint(path)
    args.teacher_model = meta.model
    rows = (path / "metrics.csv").read_text().splitlines() if path.is_dir() else []
    args.teacher_epochs = max(len(rows) - 1, 0)
    return {"accuracy": meta.metrics["test_accuracy"], "seconds": float("nan")}


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2%}"
    return f"{statistics.mean(values):.2%} +/- {statistics.stdev(values) * 100:.2f}"


def section(teacher: dict, alone: list[dict], distilled: list[dict], args: argparse.Namespace) -> str:
    date = datetime.date.today().isoformat()
    lines = [
        TITLE, "",
        f"`python benchmarks/distillation.py --dataset {args.dataset} --teacher-model {args.teacher_model} "
        f"--teacher-epochs {args.teacher_epochs} --student {args.student} --student-width {args.student_width:g} --epochs {args.epochs} --seeds "
        f"{' '.join(map(str, args.seeds))} --temperature {args.temperature:g} --alpha {args.alpha:g}`: the teacher "
        f"trained once (seed 0, {args.side}x{args.side}), then the student for {args.epochs} epochs with the "
        f"training defaults, alone and with the teacher (T = {args.temperature:g}, alpha = {args.alpha:g}), the same "
        f"seed for both; test accuracy. {date}, {platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}.", "",
        f"Teacher `{args.teacher_model}`: {teacher['accuracy']:.2%} after {args.teacher_epochs} epochs "
        + (f"({teacher['seconds'] / 60:.1f} min)." if teacher["seconds"] == teacher["seconds"] else "(reused).")
        + " Minutes per run were measured beside other jobs on this machine.", "",
        "| student | " + " | ".join(f"seed {seed}" for seed in args.seeds) + " | mean +/- std | minutes per run |",
        "|---|" + "---:|" * (len(args.seeds) + 2),
    ]
    student = f"`{args.student}`" + (f" x{args.student_width:g}" if args.student_width is not None else "")
    for label, runs in ((f"{student} alone", alone), (f"{student} distilled", distilled)):
        cells = " | ".join(f"{item['accuracy']:.2%}" for item in runs)
        minutes = statistics.mean(item["seconds"] for item in runs) / 60
        lines.append(f"| {label} | {cells} | {spread([item['accuracy'] for item in runs])} | {minutes:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--teacher-model", default="resnet18")
    parser.add_argument("--teacher-epochs", type=int, default=20)
    parser.add_argument("--teacher", help="a teacher checkpoint of this benchmark's setting, instead of training one")
    parser.add_argument("--student", default="mobilenet_v1_cifar")
    parser.add_argument("--student-width", type=float, default=0.25, help="width_multiplier of a MobileNet V1 student")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--out", default="runs/distillation-benchmark")
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    args.side = student_side(args.student)
    out = Path(args.out)
    teacher_path = Path(args.teacher) if args.teacher else out / "teacher"
    teacher = trained_teacher(args, teacher_path) if args.teacher else run(args, args.teacher_model, teacher_path, 0,
                                                                           args.teacher_epochs)
    print(f"teacher {args.teacher_model}: {teacher['accuracy']:.2%}", flush=True)
    alone, distilled = [], []
    for seed in args.seeds:
        alone.append(run(args, args.student, out / f"alone-{seed}", seed, args.epochs, **student_kwargs(args)))
        distilled.append(run(args, args.student, out / f"distilled-{seed}", seed, args.epochs, **student_kwargs(args),
                             teacher=str(teacher_path), kd_temperature=args.temperature, kd_alpha=args.alpha))
        print(f"seed {seed}: alone {alone[-1]['accuracy']:.2%}, distilled {distilled[-1]['accuracy']:.2%}",
              flush=True)
    text = section(teacher, alone, distilled, args)
    print(text)
    if args.write:
        write_section(Path(args.write), TITLE, text)


if __name__ == "__main__":
    main()
