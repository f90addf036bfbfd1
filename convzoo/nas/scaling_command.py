"""``convzoo scale-search``: EfficientNet's compound-scaling grid search; a line per point, then a table.

The search is :func:`convzoo.nas.scaling.compound_scale_search`'s; this module turns flags into its
arguments and its rows into lines. Imports of the search happen only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from convzoo.arguments import positive_float, positive_int

__all__ = ["add_scale_search_command", "cmd_scale_search"]

TABLE_ORDER = ("grid best", "paper", "depth only", "width only", "resolution only", "depth only (matched MACs)",
               "width only (matched MACs)", "resolution only (matched MACs)")


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}")
    return value


def add_scale_search_command(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser(
        "scale-search", help="EfficientNet's compound scaling: grid-search alpha, beta, gamma with "
        "alpha * beta^2 * gamma^2 ~ 2 at phi = 1 on a short proxy training run per point, then compare with "
        "the paper's 1.2, 1.1, 1.15 and with scaling one dimension alone",
    )
    search.add_argument("--out", type=Path, metavar="DIR", required=True, help="folder of the search: "
                        "scaling.csv, scaling.png, best.json, settings.json, runs/; a folder that holds a "
                        "search with the same settings is resumed")
    base = search.add_argument_group("base network")
    base.add_argument("--base", default="efficientnet_b0", help="a classifier whose builder takes width_mult and "
                      "depth_mult (default: efficientnet_b0)")
    base.add_argument("--base-resolution", type=positive_int, default=32, help="input side of the base "
                      "network; a point's is this times gamma^phi, rounded (default 32)")
    base.add_argument("--base-width-mult", type=positive_float, default=1.0, help="the base network's own "
                      "width multiplier, under the grid's (default 1.0: B0)")
    base.add_argument("--base-depth-mult", type=positive_float, default=1.0, help="the base network's own "
                      "depth multiplier, under the grid's (default 1.0: B0)")
    grid = search.add_argument_group("grid (Sec. 3.3: phi = 1, alpha * beta^2 * gamma^2 ~ target)")
    grid.add_argument("--step", type=positive_float, default=0.05, help="spacing of the coefficients (default 0.05)")
    grid.add_argument("--max-coefficient", type=positive_float, default=1.5, help="largest alpha, beta, gamma "
                      "(default 1.5)")
    grid.add_argument("--target", type=positive_float, default=2.0, help="the FLOPs factor at phi = 1 "
                      "(default 2)")
    grid.add_argument("--tolerance", type=_non_negative_float, default=0.1, help="largest distance of "
                      "alpha * beta^2 * gamma^2 from the target (default 0.1)")
    grid.add_argument("--max-points", type=positive_int, help="train only the first N points (nearest the "
                      "target first); default: all")
    grid.add_argument("--phi", type=positive_float, default=1.0, help="the compound coefficient of the "
                      "comparisons (default 1)")
    grid.add_argument("--no-compare", dest="compare", action="store_false", help="skip the comparisons "
                      "(single dimensions, grid best and paper at --phi)")
    grid.add_argument("--match-macs", action="store_true", help="also scale each single dimension to the grid "
                      "best's measured MACs at --phi (the nominal factor is not what a network costs)")
    proxy = search.add_argument_group("proxy task (each point trains briefly; validation accuracy ranks it)")
    proxy.add_argument("--dataset", default="digits", help="a classification dataset (default: digits)")
    proxy.add_argument("--data-dir", help="folder holding the dataset's files")
    proxy.add_argument("--epochs", type=positive_int, default=3, help="epochs per point (default 3)")
    proxy.add_argument("--batch-size", type=positive_int, default=16, help="default 16 (B0 at 32 pixels on the "
                       "digits: 88.9%% validation after 3 epochs, 71.1%% in batches of 64)")
    proxy.add_argument("--lr", type=positive_float, default=2e-3, help="Adam rate (default 2e-3)")
    proxy.add_argument("--seed", type=int, default=0, help="seeds every proxy run (default 0)")
    search.set_defaults(run=cmd_scale_search, outputs={"out": "folder"})


def _millions(value: int) -> str:
    return f"{value / 1e6:.2f}M"


def _point_line(row: Any, done: int, total: int) -> str:
    how = "reused" if row.cached else f"trained in {row.train_seconds:.1f} s"
    return (f"[{done}/{total}] {row.kind} alpha {row.alpha:.4g} beta {row.beta:.4g} gamma {row.gamma:.4g} "
            f"phi {row.phi:g}: depth {row.depth_mult:.3f} width {row.width_mult:.3f} {row.resolution} px, "
            f"{_millions(row.macs)} MACs, val {row.val_acc:.4f} ({how})")


def _table(result: Any) -> list[str]:
    header = (f"{'':30} {'alpha':>6} {'beta':>6} {'gamma':>6} {'phi':>4} {'depth':>6} {'width':>6} {'px':>4} "
              f"{'MACs':>9} {'x base':>6} {'params':>9} {'val acc':>8} {'test acc':>8}")
    lines = [header]
    by_kind = {row.kind: row for row in result.comparisons}
    if result.best is not None:
        by_kind.setdefault("grid best", result.best)
    for kind in TABLE_ORDER:
        row = by_kind.get(kind)
        if row is None:
            continue
        factor = f"{row.macs / result.base_macs:6.2f}" if result.base_macs else f"{'':6}"
        lines.append(f"{kind:30} {row.alpha:6.3f} {row.beta:6.3f} {row.gamma:6.3f} {row.phi:4g} "
                     f"{row.depth_mult:6.3f} {row.width_mult:6.3f} {row.resolution:4d} {_millions(row.macs):>9} "
                     f"{factor} {_millions(row.params):>9} {row.val_acc:8.4f} {row.test_acc:8.4f}")
    return lines


def cmd_scale_search(args: argparse.Namespace) -> None:
    from convzoo.nas.scaling import compound_scale_search, scaling_grid

    grid = scaling_grid(args.step, args.max_coefficient, args.target, args.tolerance)
    if args.max_points is not None:
        grid = grid[: args.max_points]

    def show(row: Any, done: int, total: int) -> None:
        print(_point_line(row, done, total), flush=True)

    result = compound_scale_search(
        base=args.base, dataset=args.dataset, base_resolution=args.base_resolution, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=args.out, grid=grid, phi=args.phi,
        compare=args.compare, match_macs=args.match_macs, data_dir=args.data_dir, base_width_mult=args.base_width_mult,
        base_depth_mult=args.base_depth_mult, on_point=show,
    )
    grid_rows = result.grid_rows
    print(f"{len(grid_rows)} grid points ({sum(not row.cached for row in grid_rows)} trained now); selected by "
          "validation accuracy, test accuracy shown only")
    for line in _table(result):
        print(line)
    print(f"wrote {', '.join(str(path) for path in result.files)} and the runs under {result.out / 'runs'}")
    sys.stdout.flush()
