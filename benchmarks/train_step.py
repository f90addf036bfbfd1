"""Training throughput of convzoo's models against torchvision's, in one process.

For each architecture both models get the same weights and the same batch; one training
step is forward, cross-entropy, backward and an SGD step. Variants are timed in turns
(in rounds, in a random order) so that drifts of the machine hit them all alike, and the median of the
timed steps is reported as images per second and as a ratio to torchvision in eager
mode.

    python benchmarks/train_step.py [--models resnet18 resnet50 vgg11] [--batch 16]
        [--size 128] [--steps 7] [--compile] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import random
import statistics
import time
from typing import Callable

import torch
import torchvision
from torch import nn

import convzoo


def make_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step


def variants(name: str, batch: int, size: int, with_compile: bool) -> dict[str, Callable[[], None]]:
    torch.manual_seed(0)
    source = getattr(torchvision.models, name)().state_dict()
    # Both sides get their weights the same way, by loading: a model whose weights were
    # initialised in place trained ~10% slower here than the same model loaded from a
    # state dict (VGG-11, torchvision against torchvision), a memory-placement effect.
    reference = getattr(torchvision.models, name)()
    reference.load_state_dict(source)
    reference.train()
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, 1000, (batch,))
    last = images.contiguous(memory_format=torch.channels_last)

    def ours(memory_format=torch.contiguous_format) -> nn.Module:
        model = convzoo.create_model(name)
        convzoo.load_weights(model, source)
        return model.train().to(memory_format=memory_format)

    twin = getattr(torchvision.models, name)()
    twin.load_state_dict(source)
    steps = {
        "torchvision eager": make_step(reference, images, labels),
        # The same code again: how far apart two identical models measure (the noise floor).
        "torchvision eager, second copy": make_step(twin.train(), images, labels),
        "convzoo eager": make_step(ours(), images, labels),
        "convzoo channels_last": make_step(ours(torch.channels_last), last, labels),
    }
    if with_compile:
        steps["convzoo channels_last + compile"] = make_step(
            torch.compile(ours(torch.channels_last)), last, labels
        )
    return steps


def measure(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per step of each variant, timed in rounds (in a new random order each
    round, so that no variant always follows the same one) after two warm-up steps each."""
    for step in steps.values():
        step()
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = random.Random(0)
    for _ in range(repeats):
        for name in order.sample(list(steps), len(steps)):
            start = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "resnet50", "vgg11"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--write", help="append the results as a markdown section to this file")
    args = parser.parse_args()

    lines = [
        f"### Training step, {datetime.date.today()}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}; batch {args.batch} of "
        f"3x{args.size}x{args.size}, SGD with momentum, median of {args.steps} steps per variant.",
        "",
        "| model | variant | images/s | ratio to torchvision eager |",
        "|---|---|---|---|",
    ]
    for name in args.models:
        seconds = measure(variants(name, args.batch, args.size, args.compile), args.steps)
        base = seconds["torchvision eager"]
        for variant, value in seconds.items():
            lines.append(f"| {name} | {variant} | {args.batch / value:.1f} | {base / value:.3f} |")
            print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + report)


if __name__ == "__main__":
    main()
