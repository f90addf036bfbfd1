"""The course's CIFAR-10 networks on Fashion-MNIST, the one real 10-class image set installed here.

Trains each model with the course notebooks' setup (Adam at a constant 1e-3, batch 128,
10 epochs; Fashion-MNIST has no standard augmentation) on the 54,000 training images
(6,000 of the official 60,000 are held out for validation), then scores the 10,000 test
images in eval mode. Reports test accuracy, the training time (validation passes
included), training images per second, and eval-mode inference images per second.

Usage::

    python benchmarks/fashion_mnist.py [--models lenet5 resnet18 ...] [--epochs 10]
        [--out runs/fashion-mnist] [--write BENCHMARKS.md]
    python benchmarks/fashion_mnist.py --speed [--rounds 7]   # speed alone, no training

Needs the Fashion-MNIST files: Debian's ``dataset-fashion-mnist`` (read from
``/usr/share/datasets/fashion-mnist`` with no flag) or ``--data-dir`` with the IDX files.
With ``--write``, one markdown row per finished model is appended to the file's section
titled :data:`TITLE` as soon as the model finishes (the section is created when missing),
so a long run that is stopped keeps the rows it finished; ``--resume`` continues an
interrupted model from its last epoch checkpoint (its training time is then estimated
from the resumed epochs, marked "est.").
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import torch

from convzoo import create_model
from convzoo.data import load_dataset
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.config import resolve_config
from convzoo.train.runner import RESUME_FILE, train

TITLE = "## Fashion-MNIST: the course's CIFAR-10 networks on real images"
MODELS = ["lenet5", "lenet5_1998", "resnet18", "mobilenet_v1_cifar", "mobilenet_v2_cifar"]
COURSE_SETUP = dict(dataset="fashion-mnist", optimizer="adam", lr=1e-3, batch_size=128, schedule="constant")


def eval_throughput(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256) -> float:
    """Eval-mode images per second of ``model`` over ``images``, channels-last."""
    model = model.eval().to(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(images[:batch_size].contiguous(memory_format=torch.channels_last))  # warm-up
        start = time.perf_counter()
        for batch in images.split(batch_size):
            model(batch.contiguous(memory_format=torch.channels_last))
        return len(images) / (time.perf_counter() - start)


def run(name: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / name
    resumed = args.resume and (out / RESUME_FILE).exists()
    start = time.perf_counter()
    if resumed:
        done = len((out / "metrics.csv").read_text().splitlines()) - 1 if (out / "metrics.csv").exists() else 0
        result = train(resume=out)
    else:
        done = 0
        result = train(
            resolve_config(
                model=name,
                epochs=args.epochs,
                seed=args.seed,
                data_dir=args.data_dir,
                channels_last=True,
                out=str(out),
                **COURSE_SETUP,
            )
        )
    seconds = (time.perf_counter() - start) * args.epochs / (args.epochs - done)
    model, meta = load_checkpoint(result.checkpoint)
    channels, side = meta.input_size[0], meta.input_size[-1]
    splits = load_dataset("fashion-mnist", data_dir=args.data_dir, image_size=side, in_chans=channels)
    images = torch.stack([image for image, _ in splits.test])
    return {
        "model": name,
        "accuracy": result.test_metrics["accuracy"],
        "seconds": seconds,
        "estimated": resumed,
        "train_per_second": len(splits.train) * args.epochs / seconds,
        "eval_per_second": eval_throughput(model, images),
        "params": sum(p.numel() for p in model.parameters()),
    }


def row(result: dict) -> str:
    return (
        f"| `{result['model']}` | {result['params']:,} | {result['accuracy']:.2%} | {result['seconds'] / 60:.1f}"
        f"{' (est.)' if result['estimated'] else ''} | "
        f"{result['train_per_second']:.0f} | {result['eval_per_second']:.0f} |"
    )


def header(args: argparse.Namespace) -> str:
    return "\n".join(
        [
            TITLE,
            "",
            f"`python benchmarks/fashion_mnist.py --epochs {args.epochs}`: each model trained with the course "
            f"notebooks' CIFAR-10 setup (Adam lr 1e-3 constant, batch 128, {args.epochs} epochs, no augmentation, "
            f"seed {args.seed}, channels-last) on 54,000 training images, scored in eval mode on the 10,000 test "
            f"images. {datetime.date.today()}, {platform.machine()}, {torch.get_num_threads()} threads, torch "
            f"{torch.__version__}, Python {platform.python_version()}. Training time includes the validation "
            "pass after each epoch; inference is eval mode at batch 256.",
            "",
            "| model | parameters | test accuracy | training (min) | train images/s | inference images/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
    )


def append_row(path: Path, args: argparse.Namespace, text: str) -> None:
    """Add ``text`` as the last row of the :data:`TITLE` section, creating the section when missing."""
    content = path.read_text() if path.exists() else ""
    if TITLE not in content:
        content = content.rstrip("\n") + "\n\n" + header(args) + "\n"
    start = content.index(TITLE)
    end = content.find("\n## ", start + len(TITLE))
    end = len(content) if end == -1 else end + 1
    section = content[start:end].rstrip("\n") + "\n" + text + "\n"
    path.write_text(content[:start] + section + ("\n" + content[end:] if end < len(content) else ""))


SPEED_TITLE = "## Fashion-MNIST: training and inference speed of the course's networks"


def speed_steps(name: str, batch_size: int = 128) -> tuple:
    """A training step (Adam, channels-last, float32) and an eval-mode forward of ``name`` at the benchmark's input."""
    model = create_model(name, num_classes=10).to(memory_format=torch.channels_last)
    side = getattr(model, "fixed_input_size", None) or 28  # LeNet-5 takes 32x32: the images are resized to it
    images = torch.randn(batch_size, model.in_chans, side, side).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def train_step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    def eval_step() -> None:
        model.eval()
        with torch.inference_mode():
            model(images)

    return train_step, eval_step


def speed_section(models: list[str], rounds: int, batch_size: int = 128) -> str:
    """Median seconds of a training step and an eval forward per model, timed in turns (rounds of one step each)."""
    steps = {name: speed_steps(name, batch_size) for name in models}
    times: dict[tuple[str, int], list[float]] = {(name, kind): [] for name in models for kind in (0, 1)}
    for step in (step for pair in steps.values() for step in pair):
        step()  # warm-up
    for _ in range(rounds):
        for name, pair in steps.items():
            for kind, step in enumerate(pair):
                start = time.perf_counter()
                step()
                times[(name, kind)].append(time.perf_counter() - start)
    lines = [
        SPEED_TITLE,
        "",
        f"`python benchmarks/fashion_mnist.py --speed`: batch {batch_size}, the benchmark's input (1x32x32 for LeNet-5, "
        f"3x28x28 otherwise), channels-last float32; the median of {rounds} steps per model, the models timed in "
        f"turns. {datetime.date.today()}, {platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}.",
        "",
        "| model | training images/s | inference images/s |",
        "|---|---:|---:|",
    ]
    for name in models:
        train_rate, eval_rate = (batch_size / statistics.median(times[(name, kind)]) for kind in (0, 1))
        lines.append(f"| `{name}` | {train_rate:.0f} | {eval_rate:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="folder with the IDX files (default: Debian's folder)")
    parser.add_argument("--out", default="runs/fashion-mnist")
    parser.add_argument("--resume", action="store_true", help="continue interrupted models from their checkpoints")
    parser.add_argument("--write", help="append each model's row to this markdown file")
    parser.add_argument("--speed", action="store_true", help="only time training steps and inference, no training")
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per model with --speed")
    args = parser.parse_args()
    if args.speed:
        text = speed_section(args.models, args.rounds)
        print(text)
        if args.write:
            with open(args.write, "a") as handle:
                handle.write("\n" + text)
        return
    print(header(args), flush=True)
    for name in args.models:
        text = row(run(name, args))
        print(text, flush=True)
        if args.write:
            append_row(Path(args.write), args, text)


if __name__ == "__main__":
    main()
