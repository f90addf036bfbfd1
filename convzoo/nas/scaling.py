"""EfficientNet's compound scaling, searched: a grid of (alpha, beta, gamma) at phi = 1 on a proxy task.

Paper: EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Mingxing Tan, Quoc V. Le,
ICML 2019) https://arxiv.org/abs/1905.11946

Compound scaling (Eq. 3) grows a baseline's depth, width and resolution together: ``d = alpha^phi``,
``w = beta^phi``, ``r = gamma^phi`` with ``alpha * beta^2 * gamma^2 ~ 2`` and ``alpha, beta, gamma >= 1``,
so that FLOPs, which grow as ``d w^2 r^2``, about double with each step of ``phi``. Sec. 3.3 finds the
coefficients in two steps: (1) fix ``phi = 1``, assuming twice the resources, and grid-search ``alpha,
beta, gamma`` on the baseline (they found 1.2, 1.1, 1.15 for B0); (2) keep them and scale by ``phi``.

This module runs step 1 on a proxy task (:func:`compound_scale_search`): every point of
:func:`scaling_grid` scales the base network (B0 by default) by :func:`scaled_config` and trains it
briefly through :func:`convzoo.train.runner.train` with a fixed seed and deterministic kernels; it is scored
by its *validation* accuracy (the test accuracy is recorded, never used to choose) and its MACs are
measured by :func:`convzoo.analysis.profile.profile` at its own resolution. The search then trains the
comparisons of Fig. 3 at the same nominal FLOPs factor ``2^phi``: depth alone (``alpha = 2``), width
alone (``beta = sqrt 2``), resolution alone (``gamma = sqrt 2``), the grid's best and the paper's
coefficients.

Measured MACs differ from the nominal factor: widths round to multiples of 8 (B0's 16-channel stage is 16
at ``beta = 1.1`` and 24 from ``beta = 1.15``), repeats round up (``ceil(1 * 1.2) = 2`` doubles a one-block
stage) and a small input's feature maps round up at every stride (37 pixels end at 2x2 where 32 end at
1x1). B0 scaled by the paper's coefficients costs 2.58 times B0's MACs at 224 pixels and 4.43 times at 32,
against a nominal 1.92; depth, width or resolution alone cost 2.03, 1.93, 2.04 times at 224. So every row
has its measured MACs, the plot is against them, and ``match_macs`` adds each single dimension scaled to
the grid best's measured MACs (:func:`matched_single_dimensions`): the paper's "same FLOPs" comparison.

The proxy is :class:`convzoo.nas.proxy.ProxyTask`, the architecture search's: the batch-norm statistics are
recomputed on the training split before the validation score (without that, B0 at 32 pixels trained 3 epochs
in batches of 64 scores chance, 10%, on validation while 65% right on its training batches: its running
statistics lag the fast-moving weights). Its defaults here (3 epochs, batches of 16, Adam at 2e-3) are what
B0 at 32 pixels does best with on the digits (one CPU thread, about 60 s a point): 88.9% validation in batches
of 16 against 71.1% in batches of 64, which take a quarter of the steps.

Deviations:
    - The paper searched on ImageNet-sized B0 at 224 pixels; here the proxy is a small dataset (digits by
      default) at ``base_resolution`` pixels (32), a few epochs per point. The base network may also be
      made smaller than B0 (``base_width_mult``, ``base_depth_mult``) so that a grid fits a CPU budget;
      the grid's multipliers then apply on top of the base's.
    - The grid's default (step 0.05 up to 1.5, ``|alpha beta^2 gamma^2 - 2| <= 0.1``, 85 points)
      contains the paper's point (1.2 * 1.1^2 * 1.15^2 = 1.920); the paper does not state its grid.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from convzoo.errors import ConvzooError
from convzoo.models.efficientnet import ALPHA, BETA, GAMMA, scale_resolution
from convzoo.nas.proxy import ProxyTask
from convzoo.train.checkpoint import atomic_path

__all__ = [
    "PAPER_POINT", "Comparison", "ScaledConfig", "ScaleSearchResult", "ScalingPoint", "ScalingRow",
    "best_row", "compound_scale_search", "matched_single_dimensions", "plot_scaling", "read_rows", "scaled_config",
    "scaling_grid", "single_dimension_points", "write_rows",
]

CSV_FILE, PLOT_FILE, BEST_FILE, SETTINGS_FILE, RUNS_FOLDER = (
    "scaling.csv", "scaling.png", "best.json", "settings.json", "runs")
DECIMALS = 9  # coefficients are compared after rounding, so that values read back from the CSV match


@dataclass(frozen=True)
class ScalingPoint:
    """Compound-scaling coefficients: depth ``alpha``, width ``beta``, resolution ``gamma`` (Eq. 3)."""

    alpha: float
    beta: float
    gamma: float

    @property
    def flops_factor(self) -> float:
        """The nominal FLOPs factor at ``phi = 1``: ``alpha * beta^2 * gamma^2``."""
        return self.alpha * self.beta**2 * self.gamma**2

    def key(self) -> tuple[float, float, float]:
        return (round(self.alpha, DECIMALS), round(self.beta, DECIMALS), round(self.gamma, DECIMALS))


PAPER_POINT = ScalingPoint(ALPHA, BETA, GAMMA)  # 1.2, 1.1, 1.15 (Sec. 3.3)


def _steps(step: float, max_coefficient: float) -> list[float]:
    """1, 1 + step, ... up to ``max_coefficient``, as multiples of ``step`` (rounded, so 1.15 is 1.15)."""
    count = int(math.floor((max_coefficient - 1.0) / step + 1e-9))
    return [round(1.0 + i * step, 6) for i in range(count + 1)]


def scaling_grid(
    step: float = 0.05, max_coefficient: float = 1.5, target: float = 2.0, tolerance: float = 0.1
) -> list[ScalingPoint]:
    """Every ``(alpha, beta, gamma)`` on a grid of ``step`` from 1 to ``max_coefficient`` with
    ``|alpha beta^2 gamma^2 - target| <= tolerance``.

    Ordered by distance from the target, then by ``alpha, beta, gamma``, so that the first points of the
    grid (``--max-points``) are the ones nearest the constraint. The defaults give 85 points and contain
    the paper's (1.2, 1.1, 1.15), whose factor 1.920 is within 0.1 of 2; a step of 0.1 or a tolerance of
    0.05 leaves it out.
    """
    for name, value, allowed, expected in (
        ("step", step, step > 0, "greater than 0"), ("max_coefficient", max_coefficient, max_coefficient >= 1,
                                                      "at least 1"),
        ("target", target, target >= 1, "at least 1"), ("tolerance", tolerance, tolerance >= 0, "at least 0"),
    ):
        if not (math.isfinite(value) and allowed):
            raise ConvzooError(f"scaling grid: {name} must be {expected}, got {value}")
    values = _steps(step, max_coefficient)
    points = [
        ScalingPoint(alpha, beta, gamma)
        for alpha in values for beta in values for gamma in values
        if abs(alpha * beta**2 * gamma**2 - target) <= tolerance + 1e-9
    ]
    return sorted(points, key=lambda p: (round(abs(p.flops_factor - target), DECIMALS), p.key()))


@dataclass(frozen=True)
class ScaledConfig:
    """A scaled network: the builder's ``depth_mult`` and ``width_mult`` and the input side in pixels."""

    depth_mult: float
    width_mult: float
    resolution: int

    def model_kwargs(self) -> dict[str, float]:
        return {"width_mult": self.width_mult, "depth_mult": self.depth_mult}


def scaled_config(
    base_resolution: int, alpha: float, beta: float, gamma: float, phi: float = 1.0, *,
    base_depth: float = 1.0, base_width: float = 1.0,
) -> ScaledConfig:
    """Eq. (3): depth ``alpha^phi``, width ``beta^phi`` (times the base's multipliers) and resolution
    ``base_resolution * gamma^phi`` rounded to a pixel, as :func:`convzoo.models.efficientnet.scale_resolution`."""
    if base_resolution < 1:
        raise ConvzooError(f"base_resolution must be at least 1 pixel, got {base_resolution}")
    return ScaledConfig(
        depth_mult=base_depth * alpha**phi, width_mult=base_width * beta**phi,
        resolution=scale_resolution(gamma**phi, base=base_resolution),
    )


@dataclass(frozen=True)
class Comparison:
    """A network scaled by ``point`` at ``phi``, named ``label`` in the comparison table."""

    label: str
    point: ScalingPoint
    phi: float


SQRT2 = math.sqrt(2.0)
SINGLE_DIMENSIONS = {
    "depth only": ScalingPoint(2.0, 1.0, 1.0),  # alpha = 2: d doubles
    "width only": ScalingPoint(1.0, SQRT2, 1.0),  # beta^2 = 2
    "resolution only": ScalingPoint(1.0, 1.0, SQRT2),  # gamma^2 = 2
}


def single_dimension_points(phi: float = 1.0) -> list[Comparison]:
    """Fig. 3's one-axis scalings at the compound rule's nominal FLOPs factor ``2^phi``: depth alone
    (``alpha = 2``), width alone (``beta = sqrt 2``) or resolution alone (``gamma = sqrt 2``)."""
    return [Comparison(label, point, phi) for label, point in SINGLE_DIMENSIONS.items()]


MATCHED = " (matched MACs)"


def matched_single_dimensions(
    measure: Callable[[ScalingPoint], int], target_macs: int, phi: float = 1.0, *, upper: float = 4.0,
    iterations: int = 12,
) -> list[Comparison]:
    """One-axis scalings whose *measured* MACs come nearest ``target_macs`` (a compound point's).

    The nominal factor is not what a network costs: rounded widths and repeats and the stride-rounded
    feature maps of a small input put B0 scaled by the paper's coefficients at 2.6 times B0's MACs at 224
    pixels and 4.4 times at 32, against a nominal 1.92. So the coefficient of each axis is found by
    bisection on ``[1, upper]`` (MACs rise with each coefficient, in steps), keeping the nearer side.

    Args:
        measure: the MACs of the network a point scales to at ``phi``.
        target_macs: the MACs to match.
    """
    comparisons = []
    for label, unit in SINGLE_DIMENSIONS.items():
        axis = next(name for name in ("alpha", "beta", "gamma") if getattr(unit, name) != 1.0)

        def point(coefficient: float, axis: str = axis) -> ScalingPoint:
            return ScalingPoint(**{"alpha": 1.0, "beta": 1.0, "gamma": 1.0, axis: round(coefficient, 6)})

        low, high = 1.0, upper
        cost = {low: measure(point(low)), high: measure(point(high))}
        if cost[low] < target_macs < cost[high]:
            for _ in range(iterations):
                middle = round((low + high) / 2, 6)
                cost[middle] = measure(point(middle))
                low, high = (middle, high) if cost[middle] < target_macs else (low, middle)
        chosen = min((low, high), key=lambda c: (abs(cost[c] - target_macs), c))
        comparisons.append(Comparison(label + MATCHED, point(chosen), phi))
    return comparisons


@dataclass
class ScalingRow:
    """A trained scaled network.

    Attributes:
        kind: ``"grid"`` for a grid point, else a comparison's label (``"depth only"``, ``"paper"``, ...).
        alpha, beta, gamma, phi: the scaling; ``depth_mult``, ``width_mult``, ``resolution``: the network.
        macs, params: measured at ``resolution`` for the dataset's channels and classes.
        val_acc: validation accuracy after the last epoch, batch-norm statistics recomputed (what the search
            ranks by; :mod:`convzoo.nas.proxy`).
        test_acc: test accuracy (recorded, never used to choose).
        train_seconds: the proxy run's time.
        cached: not trained by this call: read back from the CSV, or the same network as another row.
    """

    kind: str
    alpha: float
    beta: float
    gamma: float
    phi: float
    depth_mult: float
    width_mult: float
    resolution: int
    macs: int
    params: int
    val_acc: float
    test_acc: float
    train_seconds: float
    cached: bool = field(default=False, compare=False)

    @property
    def point(self) -> ScalingPoint:
        return ScalingPoint(self.alpha, self.beta, self.gamma)

    def key(self) -> tuple[str, tuple[float, float, float], float]:
        return (self.kind, self.point.key(), round(self.phi, DECIMALS))


COLUMNS = tuple(f.name for f in fields(ScalingRow) if f.name != "cached")
INTEGER_COLUMNS = ("resolution", "macs", "params")


def write_rows(path: Path, rows: Sequence[ScalingRow]) -> None:
    """The rows as CSV (floats as Python writes them, so they read back equal), written atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({name: getattr(row, name) for name in COLUMNS})


def read_rows(path: Path) -> list[ScalingRow]:
    """The rows of a ``scaling.csv`` (none when it does not exist), marked as cached."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ConvzooError(f"{path} is not a scale-search table; expected the columns {', '.join(COLUMNS)}")
        try:
            return [
                ScalingRow(**{name: (int(value) if name in INTEGER_COLUMNS else value if name == "kind"
                                     else float(value)) for name, value in record.items()}, cached=True)
                for record in reader
            ]
        except (TypeError, ValueError) as error:
            raise ConvzooError(f"{path} has a malformed row ({error}); remove it or use another --out") from None


def best_row(rows: Sequence[ScalingRow]) -> ScalingRow | None:
    """The grid row of highest validation accuracy; among equals the fewest MACs, then the earliest."""
    grid = [row for row in rows if row.kind == "grid"]
    order = {id(row): index for index, row in enumerate(grid)}
    return max(grid, key=lambda row: (row.val_acc, -row.macs, -order[id(row)]), default=None)


@dataclass
class ScaleSearchResult:
    """What a search ends with: every row (grid, then comparisons), the best grid row, the base network's
    MACs at ``base_resolution`` (the factor 1) and the files written."""

    rows: list[ScalingRow]
    best: ScalingRow | None
    base_macs: int
    out: Path
    files: list[Path]

    @property
    def grid_rows(self) -> list[ScalingRow]:
        return [row for row in self.rows if row.kind == "grid"]

    @property
    def comparisons(self) -> list[ScalingRow]:
        return [row for row in self.rows if row.kind != "grid"]


@dataclass(frozen=True)
class _Proxy:
    """The settings every point trains with; a resumed search must have the same."""

    base: str
    dataset: str
    base_resolution: int
    epochs: int
    batch_size: int
    lr: float
    seed: int
    data_dir: str | None
    base_width_mult: float
    base_depth_mult: float

    def scaled(self, point: ScalingPoint, phi: float) -> ScaledConfig:
        return scaled_config(self.base_resolution, point.alpha, point.beta, point.gamma, phi,
                             base_depth=self.base_depth_mult, base_width=self.base_width_mult)


def _check_settings(proxy: _Proxy, out: Path) -> None:
    """Write the settings, or refuse a folder that holds a search with other settings."""
    path = out / SETTINGS_FILE
    settings = asdict(proxy)
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ConvzooError(f"{path} is not valid JSON; remove it or use another --out") from None
        changed = sorted(name for name in settings if saved.get(name) != settings[name])
        if changed:
            shown = ", ".join(f"{name} {saved.get(name)!r} -> {settings[name]!r}" for name in changed)
            raise ConvzooError(f"{out} holds a scale search with other settings ({shown}); give the same "
                               "settings to resume it, or another --out")
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=1) + "\n")


def _check_base(proxy: _Proxy) -> None:
    """The base must be a classifier whose builder takes ``width_mult`` and ``depth_mult``."""
    from convzoo.registry import get_entry, meta_model

    entry = get_entry(proxy.base)
    if entry.task != "classification":
        raise ConvzooError(f"--base {proxy.base} is a {entry.task} model; expected a classifier such as "
                           "efficientnet_b0")
    try:
        meta_model(proxy.base, width_mult=proxy.base_width_mult, depth_mult=proxy.base_depth_mult)
    except TypeError as error:
        raise ConvzooError(f"--base {proxy.base} cannot be built with width_mult and depth_mult ({error}); "
                           "expected a builder that takes both, such as efficientnet_b0") from None


def _measure(proxy: _Proxy, model_args: dict[str, Any], resolution: int) -> tuple[int, int]:
    """MACs and parameters of the network at ``resolution`` (built on the meta device: no memory)."""
    from convzoo.analysis.profile import profile
    from convzoo.registry import meta_model

    cost = profile(meta_model(proxy.base, **model_args), (model_args.get("in_chans", 3), resolution, resolution))
    return cost.macs, cost.params


def _run_folder(point: ScalingPoint, phi: float) -> str:
    return f"a{point.alpha:.4f}_b{point.beta:.4f}_g{point.gamma:.4f}_phi{phi:g}"


def _train_point(proxy: _Proxy, kind: str, point: ScalingPoint, phi: float, out: Path) -> ScalingRow:
    """Train the network ``point`` scales at ``phi`` in its own folder and score it (:class:`ProxyTask`)."""
    scaled = proxy.scaled(point, phi)
    task = ProxyTask(dataset=proxy.dataset, data_dir=proxy.data_dir, image_size=scaled.resolution,
                     epochs=proxy.epochs, batch_size=proxy.batch_size, lr=proxy.lr, seed=proxy.seed)
    result = task.evaluate(proxy.base, scaled.model_kwargs(), out / RUNS_FOLDER / _run_folder(point, phi))
    return ScalingRow(
        kind=kind, alpha=point.alpha, beta=point.beta, gamma=point.gamma, phi=phi,
        depth_mult=scaled.depth_mult, width_mult=scaled.width_mult, resolution=scaled.resolution,
        macs=result.macs, params=result.params, val_acc=result.val_accuracy, test_acc=result.test_accuracy,
        train_seconds=result.train_seconds,
    )


def compound_scale_search(
    *,
    base: str = "efficientnet_b0",
    dataset: str = "digits",
    base_resolution: int = 32,
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    out: str | Path,
    grid: Sequence[ScalingPoint] | None = None,
    phi: float = 1.0,
    compare: bool = True,
    match_macs: bool = False,
    data_dir: str | None = None,
    base_width_mult: float = 1.0,
    base_depth_mult: float = 1.0,
    on_point: Callable[[ScalingRow, int, int], None] | None = None,
) -> ScaleSearchResult:
    """Sec. 3.3, step 1: train ``base`` scaled by every point of ``grid`` at ``phi = 1`` and keep the best
    by validation accuracy; then the comparisons at ``phi`` (with ``compare``).

    ``out`` receives ``scaling.csv`` (rewritten atomically after every point), ``scaling.png``, ``best.json``,
    ``settings.json`` and ``runs/<point>/`` (each proxy run's metrics; weights are deleted). Called again on
    the same folder with the same settings, the search skips every row the CSV already has (a killed search
    resumes; a longer ``grid`` extends it). A comparison whose network was already trained reuses its scores.

    Args:
        grid: the points to try; :func:`scaling_grid`'s defaults when ``None``.
        compare: train the comparisons at ``phi``: the single-dimension scalings, the grid's best, the paper's.
        match_macs: with ``compare``, also each single dimension at the grid best's measured MACs at ``phi``
            (:func:`matched_single_dimensions`).
        on_point: called as ``on_point(row, done, total)`` after each row is recorded (cached ones too).
    """
    out = Path(out)
    grid = list(scaling_grid() if grid is None else grid)
    if not grid:
        raise ConvzooError("the scaling grid is empty; widen --tolerance or --max-coefficient, or use a finer --step")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("base_resolution", base_resolution)):
        if value < 1:
            raise ConvzooError(f"{name} must be at least 1, got {value}")
    for name, value in (("lr", lr), ("base_width_mult", base_width_mult), ("base_depth_mult", base_depth_mult),
                        ("phi", phi)):
        if not (math.isfinite(value) and value > 0):
            raise ConvzooError(f"{name} must be greater than 0, got {value}")
    proxy = _Proxy(base, dataset, base_resolution, epochs, batch_size, float(lr), seed, data_dir,
                   float(base_width_mult), float(base_depth_mult))
    _check_base(proxy)
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(proxy, out)
    saved = {row.key(): row for row in read_rows(out / CSV_FILE)}
    rows: list[ScalingRow] = []
    total = len(grid) + (5 + 3 * match_macs if compare else 0)

    def record(kind: str, point: ScalingPoint, at_phi: float) -> ScalingRow:
        network = (point.key(), round(at_phi, DECIMALS))
        row = saved.get((kind, *network))
        if row is None:  # the same network under another kind (the paper's point in the grid) is not trained twice
            same = next((r for r in [*rows, *saved.values()] if r.key()[1:] == network), None)
            row = (ScalingRow(**{**asdict(same), "kind": kind, "cached": True}) if same is not None
                   else _train_point(proxy, kind, point, at_phi, out))
        rows.append(row)
        write_rows(out / CSV_FILE, _in_csv_order(rows, saved))
        if on_point is not None:
            on_point(row, len(rows), total)
        return row

    for point in grid:
        record("grid", point, 1.0)
    best = best_row(rows)
    if compare and best is not None:
        comparisons = [*single_dimension_points(phi), Comparison("grid best", best.point, phi),
                       Comparison("paper", PAPER_POINT, phi)]
        recorded = {c.label: record(c.label, c.point, c.phi) for c in comparisons}
        if match_macs:
            target = recorded["grid best"].macs
            data = _data_args(out, rows)

            def measure(point: ScalingPoint) -> int:
                scaled = proxy.scaled(point, phi)
                return _measure(proxy, {**scaled.model_kwargs(), **data}, scaled.resolution)[0]

            for comparison in matched_single_dimensions(measure, target, phi):  # (3 x 14 profiles)
                record(comparison.label, comparison.point, comparison.phi)
    base_macs, _ = _measure(proxy, {"width_mult": base_width_mult, "depth_mult": base_depth_mult,
                                    **_data_args(out, rows)}, base_resolution)
    files = [out / CSV_FILE, out / SETTINGS_FILE]
    if best is not None:
        _write_best(out / BEST_FILE, best, proxy, phi, base_macs)
        files.append(out / BEST_FILE)
    plot_scaling(rows, out / PLOT_FILE, best, base_macs)
    files.append(out / PLOT_FILE)
    return ScaleSearchResult(rows=rows, best=best, base_macs=base_macs, out=out, files=files)


def _in_csv_order(rows: list[ScalingRow], saved: dict[Any, ScalingRow]) -> list[ScalingRow]:
    """This call's rows, then the saved rows it has not reached (yet, or at all: a shorter grid keeps them)."""
    reached = {row.key() for row in rows}
    return [*rows, *(row for key, row in saved.items() if key not in reached)]


def _data_args(out: Path, rows: Sequence[ScalingRow]) -> dict[str, Any]:
    """The dataset's channels and classes, from a trained point's ``model.json``."""
    for row in rows:
        path = out / RUNS_FOLDER / _run_folder(row.point, row.phi) / "model.json"
        if path.exists():
            args = json.loads(path.read_text())["model_args"]
            return {name: args[name] for name in ("in_chans", "num_classes") if name in args}
    return {}


def _write_best(path: Path, best: ScalingRow, proxy: _Proxy, phi: float, base_macs: int) -> None:
    """The best coefficients, what they give at ``phi``, and the command that trains that network."""
    scaled = proxy.scaled(best.point, phi)
    kwargs = " ".join(f"{name}={value:.6g}" for name, value in scaled.model_kwargs().items())
    value = {
        "alpha": best.alpha, "beta": best.beta, "gamma": best.gamma, "flops_factor": best.point.flops_factor,
        "val_acc": best.val_acc, "test_acc": best.test_acc, "macs": best.macs, "params": best.params,
        "base_macs": base_macs, "paper": asdict(PAPER_POINT), "base": proxy.base, "dataset": proxy.dataset,
        "base_resolution": proxy.base_resolution, "phi": phi,
        "at_phi": {**asdict(scaled), "model_kwargs": scaled.model_kwargs()},
        "train": (f"convzoo train {proxy.base} --dataset {proxy.dataset} --image-size {scaled.resolution} "
                  f"--batch-size {proxy.batch_size} --lr {proxy.lr:g} --model-kwargs {kwargs}"),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=1) + "\n")


MARKERS = {"depth only": "v", "width only": ">", "resolution only": "^", "paper": "*", "grid best": "D"}


def plot_scaling(rows: Sequence[ScalingRow], path: Path, best: ScalingRow | None = None, base_macs: int = 0) -> None:
    """Validation accuracy against measured MACs: the grid's points, its best, the paper's point and the
    single-dimension scalings marked, the base network's MACs as a line."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    figure = Figure(figsize=(7, 5), layout="constrained")
    axes = figure.add_subplot()
    grid = [row for row in rows if row.kind == "grid"]
    axes.scatter([r.macs / 1e6 for r in grid], [r.val_acc for r in grid], s=18, color="0.6", label="grid (phi = 1)")
    paper_in_grid = [r for r in grid if r.point.key() == PAPER_POINT.key()]
    if paper_in_grid:
        axes.scatter([r.macs / 1e6 for r in paper_in_grid], [r.val_acc for r in paper_in_grid], s=150, marker="*",
                     facecolors="none", edgecolors="tab:red", label="paper's point in the grid")
    if best is not None:
        axes.scatter([best.macs / 1e6], [best.val_acc], s=60, marker="o", facecolors="none", edgecolors="black",
                     linewidths=1.5, label=f"grid best ({best.alpha:g}, {best.beta:g}, {best.gamma:g})")
    for index, row in enumerate(r for r in rows if r.kind != "grid"):
        axes.scatter([row.macs / 1e6], [row.val_acc], s=70, marker=MARKERS.get(row.kind.replace(MATCHED, ""), "s"),
                     color=f"C{index}", label=f"{row.kind}, phi = {row.phi:g}")
    if base_macs:
        axes.axvline(base_macs / 1e6, color="0.8", linestyle="--", label="base network")
    axes.set_xlabel("MACs (millions), measured")
    axes.set_ylabel("validation accuracy")
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_title("Compound scaling on the proxy task (EfficientNet, Sec. 3.3)")
    axes.legend(fontsize="small")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
