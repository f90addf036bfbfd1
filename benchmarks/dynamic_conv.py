"""Per-example kernels in one grouped conv against a Python loop of per-example convs, in one process.

CondConv2d and DynamicConv2d give every example its own kernel. convzoo folds the batch
into the channels and runs one ``F.conv2d`` with ``groups = B x groups``. Two references
run ``B`` convs of one example each in a Python loop: "loop" shares everything else with
convzoo (the routing, and the mixing of the kernels as one matmul), so its ratio is that
of the two ways to run the convs alone; "naive loop" calls the whole layer on one example
at a time (routing, mixing and conv per example). A plain ``nn.Conv2d`` of the same shape
(one kernel for the whole batch) is timed beside them: the floor for the convs. Variants are timed in rounds, in a new
random order each round, after two warm-up calls each, with the same threads; the
medians are reported.

    python benchmarks/dynamic_conv.py [--batch 32] [--channels 64] [--size 32] [--kernel 3]
        [--experts 4] [--repeats 21] [--threads N] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.ops.dynamic_conv import CondConv2d, DynamicConv2d


def per_sample_loop(layer: CondConv2d | DynamicConv2d, x: torch.Tensor) -> torch.Tensor:
    """The same layer, its convs run one example at a time."""
    coefficients = layer.routing_weights(x) if isinstance(layer, CondConv2d) else layer.attention_weights(x)
    weight = (coefficients @ layer.weight.flatten(1)).view(-1, *layer.kernel_shape)  # (B, O, C/g, kh, kw)
    bias = coefficients @ layer.bias  # (B, O)
    return torch.cat([
        F.conv2d(x[b:b + 1], weight[b], bias[b], layer.stride, layer.padding, layer.dilation, layer.groups)
        for b in range(x.shape[0])
    ])


def naive_loop(layer: CondConv2d | DynamicConv2d, x: torch.Tensor) -> torch.Tensor:
    """The whole layer called on one example at a time."""
    return torch.cat([layer(x[b:b + 1]) for b in range(x.shape[0])])


def variants(args: argparse.Namespace) -> dict[tuple[str, str, str], Callable[[], None]]:
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.channels, args.size, args.size)
    layers = {
        "CondConv2d": CondConv2d(args.channels, args.channels, args.kernel, num_experts=args.experts),
        "DynamicConv2d": DynamicConv2d(args.channels, args.channels, args.kernel, num_kernels=args.experts),
    }
    steps = {}
    plain = nn.Conv2d(args.channels, args.channels, args.kernel, padding=args.kernel // 2)
    for name, layer in layers.items():
        with torch.no_grad():  # the two sides compute the same thing
            torch.testing.assert_close(layer(x), per_sample_loop(layer, x), rtol=0, atol=1e-4)
        sides = {
            "batched": layer,
            "loop": lambda t, layer=layer: per_sample_loop(layer, t),
            "naive loop": lambda t, layer=layer: naive_loop(layer, t),
            "plain": plain,
        }
        for side, run in sides.items():

            def inference(run=run) -> None:
                with torch.no_grad():
                    run(x)

            def training(run=run, owner=plain if side == "plain" else layer) -> None:
                owner.zero_grad(set_to_none=True)
                run(x).sum().backward()

            steps[(name, "forward (no grad)", side)] = inference
            steps[(name, "forward + backward", side)] = training
    return steps


def measure(steps: dict, repeats: int) -> dict:
    """Median seconds of each variant, timed in rounds in a new random order, after two warm-up calls each."""
    for step in steps.values():
        step()
        step()
    times: dict = {key: [] for key in steps}
    order = random.Random(0)
    for _ in range(repeats):
        for key in order.sample(list(steps), len(steps)):
            start = time.perf_counter()
            steps[key]()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--experts", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--write", help="append the results as a markdown section to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    load = os.getloadavg()[0]
    seconds = measure(variants(args), args.repeats)
    lines = [
        f"### Per-example kernels, {datetime.date.today()}",
        "",
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
        f"batch {args.batch} of {args.channels}x{args.size}x{args.size}, {args.channels} -> {args.channels} channels, "
        f"{args.kernel}x{args.kernel}, K = {args.experts}; median of {args.repeats} runs per variant; "
        f"load average {load:.1f} at the start.",
        "",
        "| operator | pass | one grouped conv (ms) | loop of convs (ms) | speed-up | naive loop (ms) | speed-up "
        "| plain nn.Conv2d (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, mode, side in seconds:
        if side == "batched":
            batched, loop, naive, conv = (seconds[(name, mode, side)] for side in ("batched", "loop", "naive loop", "plain"))
            lines.append(
                f"| {name} | {mode} | {batched * 1e3:.1f} | {loop * 1e3:.1f} | {loop / batched:.2f}x "
                f"| {naive * 1e3:.1f} | {naive / batched:.2f}x | {conv * 1e3:.1f} |"
            )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        with open(args.write, "a") as handle:
            handle.write("\n" + report)


if __name__ == "__main__":
    main()
