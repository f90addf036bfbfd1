"""Architecture search on the CPU: random search, regularised evolution and REINFORCE at equal evaluations,
and the winners retrained against ``mobilenet_v2_cifar``.

Each strategy searches MnasNet's space (:mod:`convzoo.nas.mnas_space`, shrunk by ``--width-mult``) on the
digits at ``--image-size``, for ``--candidates`` evaluations per seed, with MnasNet's soft reward
``ACC x (LAT / T)^-0.07`` whose target ``T`` is ``mobilenet_v2_cifar``'s latency at batch 1 on one thread.
Latency comes from one per-block table shared by every search (measured once, FBNet's way), so the strategies
see the same latencies and a resumed search the same rewards; every ``--table-check``-th candidate is also
measured whole, to report the table's error. The proxy is a short seeded training run through the engine
scored on the validation split.

Then the best genotype of each learning strategy (its best seed) and ``mobilenet_v2_cifar`` are trained with
one recipe for ``--retrain-epochs`` and scored on the test split, and their latencies measured in alternation.

A search already finished in ``--out`` is read back, a killed one resumed: the script can be run again.

Usage::

    python benchmarks/nas.py [--candidates 40] [--seeds 0 1 2] [--width-mult 0.5] [--image-size 16]
        [--proxy-epochs 3] [--retrain-epochs 20] [--out runs/nas-benchmark] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import statistics
import time
from pathlib import Path

import torch
from sections import write_section

from convzoo.nas.latency import measure_latency
from convzoo.nas.records import Record
from convzoo.nas.search import LATENCY_TABLE_FILE, STATE_FILE, SearchConfig, run_search
from convzoo.registry import create_model
from convzoo.train.config import TrainConfig
from convzoo.train.runner import train

TITLE = "## Architecture search: evolution and REINFORCE against random search"
STRATEGIES = ("random", "evolution", "reinforce")
REFERENCE = "mobilenet_v2_cifar"


def search_config(args: argparse.Namespace, strategy: str, seed: int, target: float | None) -> SearchConfig:
    options = {"evolution": {"population_size": args.population, "sample_size": args.sample_size},
               "reinforce": {"lr": args.controller_lr}}
    return SearchConfig(
        space="mnas", strategy=strategy, space_options={"width_mult": args.width_mult},
        strategy_options=options.get(strategy, {}), image_size=args.image_size, epochs=args.proxy_epochs,
        seed=seed, budget_minutes=None, max_candidates=args.candidates, target=target, latency="table",
        table_check_every=args.table_check, references=[] if target is not None else [REFERENCE],
    )


def run_one(args: argparse.Namespace, strategy: str, seed: int, target: float | None, table: Path | None) -> list[Record]:
    out = args.out / f"{strategy}-seed{seed}"
    if (out / "summary.json").exists():
        return [Record.from_dict(row) for row in _records(out)]
    started = time.monotonic()
    if (out / STATE_FILE).exists():
        result = run_search(None, out, resume=True, max_candidates=args.candidates)
    else:
        out.mkdir(parents=True, exist_ok=True)
        if table is not None and table.exists():
            shutil.copy(table, out / LATENCY_TABLE_FILE)  # one table for every search
        result = run_search(search_config(args, strategy, seed, target), out)
    print(f"{strategy} seed {seed}: best reward {result.best.reward:.4f} in {(time.monotonic() - started) / 60:.1f} min",
          flush=True)
    return result.records


def _records(out: Path) -> list[dict]:
    from convzoo.train.state import load_state

    return load_state(out / STATE_FILE)["records"]


def best_so_far(records: list[Record], count: int) -> float:
    return max(r.reward for r in records if r.kind == "candidate" and r.index < count)


def retrain(args: argparse.Namespace, name: str, model: str, model_kwargs: dict, macs: int) -> dict:
    folder = args.out / "retrained" / name
    config = TrainConfig(model=model, model_kwargs=model_kwargs, dataset="digits", image_size=args.image_size,
                         epochs=args.retrain_epochs, seed=0, out=str(folder))
    if not (folder / "test_metrics.json").exists():
        train(config)
    metrics = json.loads((folder / "test_metrics.json").read_text())
    network = create_model(model, **model_kwargs, in_chans=3, num_classes=10)
    return {"name": name, "test_accuracy": metrics["accuracy"], "macs": macs, "network": network}


def latencies(networks: list[torch.nn.Module], size: int, rounds: int = 5) -> list[float]:
    """Median latency of each network over ``rounds`` alternating measurements (load affects all alike)."""
    times = [[] for _ in networks]
    for _ in range(rounds):
        for network, series in zip(networks, times):
            series.append(measure_latency(network, (1, 3, size, size), threads=1))
    return [statistics.median(series) for series in times]


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    records: dict[str, dict[int, list[Record]]] = {strategy: {} for strategy in STRATEGIES}
    first = args.out / f"{STRATEGIES[0]}-seed{args.seeds[0]}"
    records[STRATEGIES[0]][args.seeds[0]] = run_one(args, STRATEGIES[0], args.seeds[0], None, None)
    reference = next(r for r in records[STRATEGIES[0]][args.seeds[0]] if r.kind == "reference")
    target = json.loads((first / "summary.json").read_text())["target"]
    for strategy in STRATEGIES:
        for seed in args.seeds:
            if seed not in records[strategy]:
                records[strategy][seed] = run_one(args, strategy, seed, target, first / LATENCY_TABLE_FILE)
    winners = {}
    for strategy in ("evolution", "reinforce"):
        seed = max(args.seeds, key=lambda s: best_so_far(records[strategy][s], args.candidates))
        best = max((r for r in records[strategy][seed] if r.kind == "candidate" and r.index < args.candidates),
                   key=lambda r: r.reward)
        winners[strategy] = best
    retrained = [retrain(args, REFERENCE, REFERENCE, {}, reference.macs)]
    retrained += [retrain(args, f"{strategy}-best", "nas_net", {"genotype": best.genotype}, best.macs)
                  for strategy, best in winners.items()]
    for row, latency in zip(retrained, latencies([row.pop("network") for row in retrained], args.image_size)):
        row["latency_ms"] = latency
    summary = json.loads((first / "summary.json").read_text())
    return {"records": records, "reference": reference, "target": target, "winners": winners,
            "retrained": retrained, "table_error": summary["latency_table_error"]}


def section(result: dict, args: argparse.Namespace) -> list[str]:
    n = args.candidates
    lines = [
        TITLE, "",
        f"{datetime.date.today()}, {platform.machine()}, {args.threads} training threads, latency on 1 thread at "
        f"batch 1, torch {torch.__version__}. `python benchmarks/nas.py --candidates {n} --seeds "
        f"{' '.join(map(str, args.seeds))} --width-mult {args.width_mult} --image-size {args.image_size} "
        f"--proxy-epochs {args.proxy_epochs} --population {args.population} --sample-size {args.sample_size} "
        f"--controller-lr {args.controller_lr} --retrain-epochs {args.retrain_epochs}`.",
        "",
        f"MnasNet's space (x{args.width_mult} widths) on the digits at {args.image_size}x{args.image_size}; proxy: "
        f"{args.proxy_epochs} epochs, validation accuracy; reward ACC x (LAT / T)^-0.07 with T = "
        f"{result['target']:.2f} ms, `{REFERENCE}`'s latency; latency from one per-block table shared by all "
        f"searches. Evolution: P = {args.population}, S = {args.sample_size}; REINFORCE: Adam at "
        f"{args.controller_lr}, one update per candidate.",
        "",
        f"| strategy | best reward after {n // 2} | best reward after {n} (mean +/- sd over seeds) | per seed | "
        f"best's accuracy / latency (best seed) |",
        "|---|---|---|---|---|",
    ]
    for strategy, by_seed in result["records"].items():
        half = [best_so_far(records, n // 2) for records in by_seed.values()]
        full = [best_so_far(records, n) for records in by_seed.values()]
        best = max((r for records in by_seed.values() for r in records if r.kind == "candidate" and r.index < n),
                   key=lambda r: r.reward)
        spread = statistics.stdev(full) if len(full) > 1 else 0.0
        lines.append(f"| {strategy} | {statistics.fmean(half):.4f} | {statistics.fmean(full):.4f} +/- {spread:.4f} | "
                     f"{', '.join(f'{value:.4f}' for value in full)} | {best.val_accuracy:.4f} / "
                     f"{best.latency_ms:.3f} ms |")
    error = result["table_error"]
    if error:
        lines += ["", f"Latency table against {error['networks']} whole-network measurements: mean error "
                  f"{error['mean_abs_percent']:.1f}%, largest {error['max_abs_percent']:.1f}%, mean signed "
                  f"{error['mean_percent']:+.1f}%."]
    lines += ["", f"Retrained for {args.retrain_epochs} epochs (digits, standard augmentation, seed 0), test split:",
              "", "| network | test accuracy | latency (ms) | MACs |", "|---|---|---|---|"]
    for row in result["retrained"]:
        lines.append(f"| {row['name']} | {row['test_accuracy']:.4f} | {row['latency_ms']:.3f} | "
                     f"{row['macs'] / 1e6:.2f}M |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--width-mult", type=float, default=0.5)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--proxy-epochs", type=int, default=3)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--sample-size", type=int, default=3)
    parser.add_argument("--controller-lr", type=float, default=0.01,
                        help="REINFORCE's Adam rate: a budget of tens of updates needs more than the library's 0.002")
    parser.add_argument("--table-check", type=int, default=5)
    parser.add_argument("--retrain-epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/nas-benchmark"))
    parser.add_argument("--write", type=Path, help="write the section into this file (BENCHMARKS.md)")
    args = parser.parse_args()
    lines = section(run(args), args)
    print("\n".join(lines))
    if args.write is not None:
        write_section(args.write, TITLE, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
