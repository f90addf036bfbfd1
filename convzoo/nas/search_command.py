"""``convzoo search``: architecture search on this machine; a line per candidate with the best so far.

The searching is :func:`convzoo.nas.search.run_search`'s; this module turns flags into its settings and
its records into lines.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from convzoo.arguments import positive_float, positive_int
from convzoo.errors import ConvzooError

__all__ = ["add_search_command"]

BAR_WIDTH = 20

# Flags of the spaces' and strategies' constructors: flag dest -> (owner, keyword argument).
SPACE_FLAGS = {"width_mult": ("mnas", "width_mult"), "stem_stride": ("mnas", "stem_stride"),
               "init_channels": ("darts", "init_channels"), "layers": ("darts", "layers")}
STRATEGY_FLAGS = {"population": ("evolution", "population_size"), "sample_size": ("evolution", "sample_size"),
                  "controller_lr": ("reinforce", "lr"), "entropy_weight": ("reinforce", "entropy_weight")}


def _names(text: str) -> list[str]:
    return [] if text.strip().lower() == "none" else [name.strip() for name in text.split(",") if name.strip()]


def add_search_command(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser(
        "search", help="neural architecture search: random, regularised evolution, REINFORCE or DARTS, with "
        "MnasNet's latency-aware reward, on a short proxy training run per candidate",
    )
    search.add_argument("--out", type=Path, metavar="DIR", help="folder of the search: candidates.csv, best.json, "
                        "pareto.png, summary.json, its state (required unless --resume)")
    search.add_argument("--resume", type=Path, metavar="DIR", help="continue the search saved in DIR with its "
                        "settings; --budget-minutes and --max-candidates may extend it")
    space = search.add_argument_group("space and strategy")
    space.add_argument("--space", choices=("mnas", "darts"), default="mnas", help="default: mnas")
    space.add_argument("--strategy", choices=("random", "evolution", "reinforce", "darts"), default="evolution",
                       help="default: evolution; darts needs --space darts")
    space.add_argument("--width-mult", type=positive_float, help="mnas: scales the space's widths (default 1.0)")
    space.add_argument("--stem-stride", type=int, choices=(1, 2), help="mnas: stride of the stem (default 1)")
    space.add_argument("--init-channels", type=positive_int, help="darts: channels of the first cells")
    space.add_argument("--layers", type=positive_int, help="darts: cells of the network")
    space.add_argument("--population", type=positive_int, help="evolution: population size")
    space.add_argument("--sample-size", type=positive_int, help="evolution: tournament size")
    space.add_argument("--controller-lr", type=positive_float, help="reinforce: the controller's Adam rate")
    space.add_argument("--entropy-weight", type=float, help="reinforce: weight of the entropy bonus")
    space.add_argument("--darts-epochs", type=positive_int, default=10, help="darts: supernet epochs (default 10)")
    proxy = search.add_argument_group("proxy task (each candidate trains briefly; validation accuracy scores it)")
    proxy.add_argument("--dataset", default="digits", help="a classification dataset (default: digits)")
    proxy.add_argument("--data-dir", help="folder holding the dataset's files")
    proxy.add_argument("--image-size", type=positive_int, default=32, help="input side (default 32)")
    proxy.add_argument("--proxy-epochs", type=positive_int, default=3, help="epochs per candidate (default 3)")
    proxy.add_argument("--batch-size", type=positive_int, default=64, help="default 64")
    proxy.add_argument("--lr", type=positive_float, default=2e-3, help="Adam rate of the proxy runs (default 2e-3)")
    proxy.add_argument("--seed", type=int, default=0, help="seeds the strategy and every proxy run (default 0)")
    limits = search.add_argument_group("budget and reward")
    limits.add_argument("--budget-minutes", type=positive_float, help="stop after this long (default 30 when "
                        "--max-candidates is not given)")
    limits.add_argument("--max-candidates", type=positive_int, help="stop after this many candidates")
    limits.add_argument("--objective", choices=("latency", "macs", "params"), default="latency",
                        help="the cost the reward weighs against accuracy (default: latency)")
    limits.add_argument("--target", type=positive_float, help="the reward's target cost T in the objective's unit "
                        "(ms, MACs, parameters); default: the first reference's")
    limits.add_argument("--target-latency-ms", type=positive_float, metavar="T", help="same as --objective latency "
                        "--target T")
    limits.add_argument("--reward", choices=("soft", "hard", "budget"), default="soft", help="MnasNet's soft "
                        "(w = -0.07) or hard constraint, or a plain budget (accuracy within T, 0 above); default soft")
    limits.add_argument("--latency", choices=("measured", "table"), default="measured", help="each candidate "
                        "measured whole, or summed from a per-block table measured once (mnas); default measured")
    limits.add_argument("--latency-threads", type=positive_int, default=1, help="threads of the latency "
                        "measurements (default 1)")
    limits.add_argument("--references", type=_names, default=["mobilenet_v2_cifar"], metavar="NAME[,NAME]",
                        help="hand-designed networks scored by the same proxy and marked on the plot, or none "
                        "(default: mobilenet_v2_cifar)")
    search.set_defaults(run=cmd_search, outputs={"out": "folder"})


def _options(args: argparse.Namespace, flags: dict[str, tuple[str, str]], owner: str) -> dict[str, Any]:
    options = {}
    for dest, (flag_owner, keyword) in flags.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if flag_owner != owner:
            raise ConvzooError(f"--{dest.replace('_', '-')} is an option of {flag_owner}, not of {owner}")
        options[keyword] = value
    return options


def _config(args: argparse.Namespace) -> Any:
    from convzoo.nas.search import SearchConfig

    objective, target = args.objective, args.target
    if args.target_latency_ms is not None:
        if target is not None or objective != "latency":
            raise ConvzooError("--target-latency-ms T is --objective latency --target T: give one or the other")
        target = args.target_latency_ms
    budget = args.budget_minutes if args.budget_minutes is not None or args.max_candidates else 30.0
    return SearchConfig(
        space=args.space, strategy=args.strategy, space_options=_options(args, SPACE_FLAGS, args.space),
        strategy_options=_options(args, STRATEGY_FLAGS, args.strategy), dataset=args.dataset,
        data_dir=args.data_dir, image_size=args.image_size, epochs=args.proxy_epochs, batch_size=args.batch_size,
        lr=args.lr, seed=args.seed, budget_minutes=budget, max_candidates=args.max_candidates, objective=objective,
        target=target, form=args.reward, latency=args.latency, latency_threads=args.latency_threads,
        references=args.references, darts_epochs=args.darts_epochs,
    )


def _record_line(record: Any, best: Any, started: float, budget_minutes: float | None) -> str:
    if record.kind == "reference":
        return (f"reference {record.name}: accuracy {record.val_accuracy:.4f}, {record.latency_ms:.2f} ms, "
                f"{record.macs / 1e6:.1f}M MACs")
    bar = ""
    if budget_minutes:
        done = min(1.0, (time.monotonic() - started) / (60 * budget_minutes))
        bar = "[" + "#" * int(BAR_WIDTH * done) + "." * (BAR_WIDTH - int(BAR_WIDTH * done)) + "] "
    cached = " (seen before)" if record.cached else ""
    return (f"{bar}candidate {record.index}: reward {record.reward:.4f}, accuracy {record.val_accuracy:.4f}, "
            f"{record.latency_ms:.2f} ms, {record.macs / 1e6:.1f}M MACs{cached} | best #{best.index} reward "
            f"{best.reward:.4f} ({best.val_accuracy:.4f}, {best.latency_ms:.2f} ms)")


def cmd_search(args: argparse.Namespace) -> None:
    from convzoo.nas.search import run_search

    if (args.out is None) == (args.resume is None):
        raise ConvzooError("give --out DIR for a new search, or --resume DIR to continue one")
    started = time.monotonic()
    config = None if args.resume is not None else _config(args)
    budget = args.budget_minutes if args.resume is not None else config.budget_minutes

    def show(record: Any, best: Any) -> None:
        print(_record_line(record, best or record, started, budget), flush=True)

    if args.resume is not None:
        result = run_search(None, args.resume, resume=True, on_record=show, budget_minutes=args.budget_minutes,
                            max_candidates=args.max_candidates)
    else:
        result = run_search(config, args.out, on_record=show)
    for line in _summary(result):
        print(line)
    sys.stdout.flush()


def _summary(result: Any) -> list[str]:
    candidates = [record for record in result.records if record.kind == "candidate"]
    lines = [f"{len(candidates)} candidates ({sum(not r.cached for r in candidates)} trained); target {result.target:g}"]
    if result.best is not None:
        best = result.best
        lines.append(f"best: candidate {best.index}, reward {best.reward:.4f}, accuracy {best.val_accuracy:.4f}, "
                     f"{best.latency_ms:.2f} ms, {best.macs:,} MACs, {best.params:,} parameters")
    for record in result.records:
        if record.kind == "reference":
            lines.append(f"reference {record.name}: accuracy {record.val_accuracy:.4f}, {record.latency_ms:.2f} ms, "
                         f"{record.macs:,} MACs, {record.params:,} parameters")
    if result.table_error:
        error = result.table_error
        lines.append(f"latency table against {error['networks']} whole-network measurements: mean error "
                     f"{error['mean_abs_percent']:.1f}%, largest {error['max_abs_percent']:.1f}%")
    out = result.out
    lines.append(f"wrote {out / 'candidates.csv'}, {out / 'best.json'}, {out / 'pareto.png'}, {out / 'summary.json'}")
    if result.best is not None:
        model = "nas_net" if result.best.genotype.get("space") == "mnas" else "darts_net"
        lines.append(f"retrain the best: convzoo train {model} --genotype {out / 'best.json'}")
    return lines
