"""Regenerate the measured numbers and figures of docs/complexity.md.

    .venv/bin/python docs/scripts/complexity_figures.py

Every network is at random initialisation (seeded); only speed is measured, which does
not depend on the weights' values. Runs in about two minutes on two CPU cores, writes
docs/images/complexity_latency_b1.png and complexity_latency_b8.png and prints the
markdown that the page quotes. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import torch

from convzoo.analysis import compare, matmul_gflops, plot_comparison

IMAGES = Path(__file__).resolve().parents[1] / "images"
MODELS = [
    "lenet5", "alexnet", "vgg11", "vgg16", "resnet18", "resnet50",
    "mobilenetv1_100", "mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0",
]


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def g(n: float) -> str:
    return f"{n / 1e9:.3f}" if n < 1e8 else f"{n / 1e9:.2f}"


def main() -> None:
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    ref = matmul_gflops(1024, repeats=10)
    b1 = compare(MODELS, latency=True, batch_size=1, repeats=5, warmup=2)
    b8 = compare(MODELS, latency=True, batch_size=8, repeats=3, warmup=1)

    print(f"Machine: `{cpu_name()}` (lscpu model name), {threads} torch threads, "
          f"torch {torch.__version__}, Python {sys.version.split()[0]}.")
    print(f"Reference: float32 1024x1024 matmul = **{ref:.1f} GFLOP/s** (median of 10).\n")
    print("| model | input | params (M) | GMACs | mem. access (MiB) | FLOP/byte "
          "| latency b1 (ms) | GFLOP/s b1 | % of matmul b1 "
          "| latency b8 (ms) | images/s b8 | GFLOP/s b8 | % of matmul b8 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r1, r8 in zip(b1.rows, b8.rows):
        size = "x".join(str(d) for d in r1.input_size) + (" (fixed)" if r1.note else "")
        print(
            f"| {r1.name} | {size} | {r1.params / 1e6:.2f} | {g(r1.macs)} "
            f"| {r1.memory_access_bytes / 2**20:.1f} | {r1.flops / r1.memory_access_bytes:.1f} "
            f"| {r1.latency_ms:.2f} | {r1.achieved_gflops:.1f} | {100 * r1.achieved_gflops / ref:.0f}% "
            f"| {r8.latency_ms:.1f} | {r8.throughput:.1f} | {r8.achieved_gflops:.1f} "
            f"| {100 * r8.achieved_gflops / ref:.0f}% |"
        )
    print("\nMemory access at batch 8 (MiB): " + ", ".join(
        f"{r.name} {r.memory_access_bytes / 2**20:.1f}" for r in b8.rows))
    print("Receptive field at the last feature map: " + ", ".join(f"{r.name} {r.receptive_field}" for r in b1.rows))

    IMAGES.mkdir(parents=True, exist_ok=True)
    for result, tag in ((b1, "b1"), (b8, "b8")):
        path = IMAGES / f"complexity_latency_{tag}.png"
        plot_comparison(result, path, reference_gflops=ref)
        print(f"wrote {path.relative_to(IMAGES.parents[1])} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
