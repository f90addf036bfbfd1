"""Deployment paths against torchvision's eager model: ResNet-50 and MobileNet-V2 on every backend, one table.

For each model, torchvision's network of the same name (random weights, eval mode, no_grad)
is the reference: convzoo's model loads its weights (so the outputs agree), then
:func:`convzoo.deploy.bench.benchmark` times it on every backend (eager, channels_last,
torch.compile, folded, onnxruntime fp32 and int8), and torchvision's model is timed by the
same loop on the same batch, in the same process and with the same threads. Ratios are
torchvision eager's median latency over the backend's; int8 is also set against
onnxruntime fp32. Machine, versions and date go into the section.

Usage::

    python benchmarks/deploy.py [--models resnet50 mobilenet_v2] [--batch-size 8] [--input 3x224x224]
        [--threads N] [--backends eager,...] [--warmup 3] [--repeats 20] [--write BENCHMARKS.md]

The issue's aims at batch 8, 224x224 on this 2-core CPU: the best fp32 deploy path >= 1.9x
torchvision eager; int8 >= 1.6x onnxruntime fp32 (int8 calibrated here on random inputs,
so this table measures speed, not accuracy).
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import torch
import torchvision
from sections import write_section

from convzoo.analysis.timing import time_call, torch_threads
from convzoo.arguments import parse_shape
from convzoo.deploy.bench import (
    BACKENDS,
    BenchReport,
    benchmark,
    example_batch,
    parse_backends,
)
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, model_card
from convzoo.weights import load_weights

TITLE = "## Deployment paths on the CPU"


def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's model of the registry name ``name``, random weights, eval mode."""
    torchvision_name = model_card(name)["torchvision_name"]
    if not torchvision_name:
        raise SystemExit(f"{name} has no torchvision counterpart to compare with")
    torch.manual_seed(0)
    return torchvision.models.get_model(torchvision_name, weights=None).eval()


def reference_timing(model: torch.nn.Module, input_size: tuple[int, ...], batch_size: int, threads: int,
                     warmup: int, repeats: int):
    """torchvision eager, timed as :func:`benchmark` times a backend, on the same batch."""
    x = example_batch(batch_size, input_size)

    def call() -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    with torch_threads(threads):
        return time_call(call, batch_size, warmup=warmup, repeats=repeats)


def run(name: str, args: argparse.Namespace) -> dict:
    reference = torchvision_model(name)
    model = create_model(name)
    load_weights(model, reference.state_dict())
    threads = args.threads or torch.get_num_threads()
    timings = {b: reference_timing(reference, args.input, b, threads, args.warmup, args.repeats)
               for b in args.batch_size}
    report = benchmark(model, args.input, backends=args.backends, batch_sizes=args.batch_size, threads=threads,
                       warmup=args.warmup, repeats=args.repeats, name=name)
    return {"name": name, "report": report, "reference": timings}


def _fp32_onnxruntime_ms(report: BenchReport, batch_size: int) -> float | None:
    try:
        row = report.row("onnxruntime", batch_size)
    except KeyError:
        return None
    return row.timing.median_ms if row.ok else None


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return "-" if numerator is None or denominator is None else f"{numerator / denominator:.2f}x"


def table_rows(result: dict) -> list[str]:
    report: BenchReport = result["report"]
    lines = []
    for batch_size, timing in result["reference"].items():
        lines.append(f"| `{result['name']}` | torchvision eager (reference) | {batch_size} | {timing.median_ms:.1f} | "
                     f"{timing.p90_ms:.1f} | {timing.images_per_second:.1f} | 1.00x | - | - |")
    for row in report.rows:
        if not row.ok:
            lines.append(f"| `{result['name']}` | {row.backend} | {row.batch_size} | - | - | - | - | - | "
                         f"{row.reason.replace('|', '/')} |")
            continue
        base = result["reference"][row.batch_size].median_ms
        versus_fp32 = _ratio(_fp32_onnxruntime_ms(report, row.batch_size), row.timing.median_ms)
        difference = "-" if row.max_abs_difference is None else f"{row.max_abs_difference:.1e}"
        lines.append(f"| `{result['name']}` | {row.backend} | {row.batch_size} | {row.timing.median_ms:.1f} | "
                     f"{row.timing.p90_ms:.1f} | {row.timing.images_per_second:.1f} | "
                     f"{_ratio(base, row.timing.median_ms)} | "
                     f"{versus_fp32 if row.backend == 'onnxruntime-int8' else '-'} | max abs diff {difference} |")
    return lines


def section(results: list[dict], args: argparse.Namespace) -> str:
    report: BenchReport = results[0]["report"]
    size = "x".join(map(str, args.input))
    lines = [
        TITLE,
        "",
        f"`python benchmarks/deploy.py`: each network on every deployment path of `convzoo bench`, beside "
        f"torchvision's eager model of the same name (whose weights it loads) timed by the same loop in the same "
        f"process: input {size}, {report.warmup} warm-up calls, then the median and 90th percentile of "
        f"{report.repeats} timed calls per batch. int8 is onnxruntime's static QDQ quantisation calibrated on "
        f"random inputs (speed only; the accuracy it costs is measured on trained checkpoints). "
        f"{datetime.date.today()}, {report.machine}.",
        "",
        "| network | path | batch | median ms | p90 ms | images/s | vs torchvision eager | int8 vs onnxruntime "
        "fp32 | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        lines += table_rows(result)
    return "\n".join(lines) + "\n"


def backend_list(text: str) -> tuple[str, ...]:
    try:
        return parse_backends(text)
    except ConvzooError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2"])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[8])
    parser.add_argument("--input", type=parse_shape, default=(3, 224, 224))
    parser.add_argument("--threads", type=int, help="default: torch's")
    parser.add_argument("--backends", type=backend_list, default=BACKENDS, help="comma-separated (default: all)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--write", help="write the markdown section into this file")
    args = parser.parse_args()
    results = []
    for name in args.models:
        results.append(run(name, args))
        print(f"{name}: done", flush=True)
    text = section(results, args)
    print(text)
    if args.write:
        write_section(Path(args.write), TITLE, text)


if __name__ == "__main__":
    main()
