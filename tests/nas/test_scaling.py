"""EfficientNet's compound-scaling search: the grid, Eq. (3)'s arithmetic, the comparisons, and a toy search
through ``convzoo scale-search`` that resumes after a kill."""

import contextlib
import csv
import io
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from helpers import assert_one_line_error, run_cli
from PIL import Image

from convzoo.analysis.profile import profile
from convzoo.errors import ConvzooError
from convzoo.models.efficientnet import EfficientNet, compound_scaling, scaled_stages
from convzoo.nas.scaling import (
    PAPER_POINT, ScalingPoint, ScalingRow, best_row, compound_scale_search, matched_single_dimensions, read_rows,
    scaled_config,
    scaling_grid, single_dimension_points,
)
from convzoo.registry import create_model, meta_model

# A toy proxy: B0 at a quarter of its width and a third of its depth (one block a stage), 8-pixel digits.
TOY = dict(base_resolution=8, base_width_mult=0.25, base_depth_mult=0.3, epochs=1, batch_size=32, lr=1e-2)
TOY_FLAGS = ["--base-resolution", "8", "--base-width-mult", "0.25", "--base-depth-mult", "0.3", "--epochs", "1",
             "--batch-size", "32", "--lr", "0.01", "--max-points", "2"]
COMPARISONS = ["depth only", "width only", "resolution only", "grid best", "paper"]


def brute_force_grid(step: Fraction, top: Fraction, target: Fraction, tolerance: Fraction) -> set:
    """The grid in exact arithmetic: every multiple of ``step`` from 1 to ``top`` in each coordinate."""
    values = [1 + i * step for i in range(int((top - 1) / step) + 1)]
    return {(float(a), float(b), float(g)) for a in values for b in values for g in values
            if abs(a * b * b * g * g - target) <= tolerance}


@pytest.mark.parametrize("step, top, tolerance", [("0.05", "1.5", "0.1"), ("0.1", "1.5", "0.1"),
                                                  ("0.05", "1.4", "0.05")])
def test_grid_is_every_point_near_the_constraint_nearest_first(step, top, tolerance):
    grid = scaling_grid(float(step), float(top), 2.0, float(tolerance))
    expected = brute_force_grid(Fraction(step), Fraction(top), Fraction(2), Fraction(tolerance))
    assert {(p.alpha, p.beta, p.gamma) for p in grid} == expected
    assert len(grid) == len(expected)  # no point twice
    assert all(1 <= c <= float(top) for p in grid for c in (p.alpha, p.beta, p.gamma))
    assert all(abs(p.flops_factor - 2) <= float(tolerance) + 1e-9 for p in grid)
    distances = [abs(p.flops_factor - 2) for p in grid]
    assert all(later > earlier - 1e-9 for earlier, later in zip(distances, distances[1:]))  # nearest first
    assert grid == scaling_grid(float(step), float(top), 2.0, float(tolerance))  # deterministic


def test_default_grid_holds_the_papers_point_and_coarser_grids_do_not():
    grid = scaling_grid()
    assert len(grid) == 85
    assert PAPER_POINT in grid and (PAPER_POINT.alpha, PAPER_POINT.beta, PAPER_POINT.gamma) == (1.2, 1.1, 1.15)
    assert PAPER_POINT.flops_factor == pytest.approx(1.2 * 1.1**2 * 1.15**2) == pytest.approx(1.92027)
    assert PAPER_POINT not in scaling_grid(step=0.1)  # 1.15 is not a multiple of 0.1 above 1
    assert PAPER_POINT not in scaling_grid(tolerance=0.05)  # 1.920 is 0.08 from 2


@pytest.mark.parametrize("arguments, name", [(dict(step=0), "step"), (dict(max_coefficient=0.9), "max_coefficient"),
                                             (dict(tolerance=-0.1), "tolerance"), (dict(target=0.5), "target")])
def test_grid_refuses_bad_arguments(arguments, name):
    with pytest.raises(ConvzooError, match=name):
        scaling_grid(**arguments)


def test_scaled_config_is_eq_3():
    scaled = scaled_config(224, 1.2, 1.1, 1.15, phi=2)
    assert scaled.depth_mult == pytest.approx(1.44) and scaled.width_mult == pytest.approx(1.21)
    assert scaled.resolution == round(224 * 1.3225) == 296
    rule = compound_scaling(3)  # the model file's rule at 224 pixels agrees
    assert scaled_config(224, 1.2, 1.1, 1.15, phi=3) == type(scaled)(rule.depth, rule.width, rule.resolution)
    small = scaled_config(32, 1.2, 1.1, 1.15, phi=1, base_depth=0.5, base_width=0.25)
    assert (small.depth_mult, small.width_mult, small.resolution) == (pytest.approx(0.6), pytest.approx(0.275), 37)
    assert small.model_kwargs() == {"width_mult": small.width_mult, "depth_mult": small.depth_mult}
    assert scaled_config(32, 1.0, 1.0, 1.0, phi=5).resolution == 32


def test_single_dimensions_scale_one_axis_by_the_same_nominal_factor():
    points = single_dimension_points(phi=2)
    assert [c.label for c in points] == ["depth only", "width only", "resolution only"]
    assert all(c.phi == 2 for c in points)
    assert [(c.point.alpha, c.point.beta, c.point.gamma) for c in points] == [
        (2.0, 1.0, 1.0), (1.0, math.sqrt(2), 1.0), (1.0, 1.0, math.sqrt(2))]
    for c in points:
        assert c.point.flops_factor == pytest.approx(2.0)
        scaled = scaled_config(32, c.point.alpha, c.point.beta, c.point.gamma, c.phi)
        assert scaled.depth_mult * scaled.width_mult**2 * (scaled.resolution / 32) ** 2 == pytest.approx(4.0)


def test_efficientnet_b0_takes_the_multipliers_through_create_model():
    """The route the search builds its networks by: B0's builder with width_mult and depth_mult."""
    built = meta_model("efficientnet_b0", width_mult=1.1, depth_mult=1.2, num_classes=10)
    reference = EfficientNet(1.1, 1.2, num_classes=10)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in reference.parameters())
    assert [len(stage) for stage in built.features[1:-1]] == [s.num_layers for s in scaled_stages(1.1, 1.2)]
    assert create_model("efficientnet_b0").width_mult == 1.0  # B0's own multipliers stay the default


def test_best_row_is_the_highest_validation_accuracy_then_the_fewest_macs():
    def row(kind, alpha, val, macs):
        return ScalingRow(kind, alpha, 1.0, 1.0, 1.0, alpha, 1.0, 8, macs, 1, val, 0.99, 1.0)

    rows = [row("grid", 1.0, 0.5, 10), row("grid", 1.1, 0.7, 30), row("grid", 1.2, 0.7, 20),
            row("grid", 1.3, 0.7, 20), row("paper", 1.4, 0.9, 1)]
    assert best_row(rows).alpha == 1.2  # 1.3 ties it and comes later; the paper row is no grid point
    assert best_row([rows[-1]]) is None


def _cli_search(out: Path) -> tuple[int, str]:
    from convzoo.cli import main

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["scale-search", *TOY_FLAGS, "--out", str(out)])
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """An uninterrupted toy search through the command line: 2 grid points and the 5 comparisons."""
    out = tmp_path_factory.mktemp("scale") / "search"
    code, text = _cli_search(out)
    assert code == 0, text
    return out, text


def _table(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _run_metrics(out: Path, row: dict) -> tuple[dict, dict]:
    folder = out / "runs" / f"a{float(row['alpha']):.4f}_b{float(row['beta']):.4f}_g{float(row['gamma']):.4f}_phi1"
    last = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()][-1]
    return last, json.loads((folder / "test_metrics.json").read_text())


def test_search_through_the_cli_writes_rows_plot_and_best(searched):
    out, text = searched
    rows = _table(out / "scaling.csv")
    grid = scaling_grid()[:2]
    assert [r["kind"] for r in rows] == ["grid", "grid", *COMPARISONS]
    assert [(float(r["alpha"]), float(r["beta"]), float(r["gamma"])) for r in rows[:2]] == [
        (p.alpha, p.beta, p.gamma) for p in grid]
    assert [tuple(float(r[c]) for c in ("alpha", "beta", "gamma")) for r in rows[2:5]] == [
        (c.point.alpha, c.point.beta, c.point.gamma) for c in single_dimension_points()]
    for r in rows:
        alpha, beta, gamma = (float(r[c]) for c in ("alpha", "beta", "gamma"))
        scaled = scaled_config(8, alpha, beta, gamma, 1.0, base_depth=0.3, base_width=0.25)
        assert (float(r["depth_mult"]), float(r["width_mult"]), int(r["resolution"])) == (
            scaled.depth_mult, scaled.width_mult, scaled.resolution)
        network = meta_model("efficientnet_b0", **scaled.model_kwargs(), in_chans=3, num_classes=10)
        cost = profile(network, (3, scaled.resolution, scaled.resolution))
        assert (int(r["macs"]), int(r["params"])) == (cost.macs, cost.params)
        last, _ = _run_metrics(out, r)  # the proxy run's files are kept; its score is the proxy's
        assert 0.0 <= float(r["val_acc"]) <= 1.0 and 0.0 <= float(r["test_acc"]) <= 1.0 and last["epoch"] == 1
    assert not list((out / "runs").glob("*/*.safetensors"))  # each run keeps its metrics, not its weights
    best = best_row(read_rows(out / "scaling.csv"))
    assert rows[5]["alpha"] == str(best.alpha) and rows[5]["macs"] == str(best.macs)  # grid best is that row
    assert float(rows[6]["alpha"]) == 1.2 and float(rows[6]["gamma"]) == 1.15
    chosen = json.loads((out / "best.json").read_text())
    assert (chosen["alpha"], chosen["beta"], chosen["gamma"], chosen["val_acc"]) == (
        best.alpha, best.beta, best.gamma, best.val_acc)
    assert chosen["at_phi"]["resolution"] == round(8 * best.gamma)
    with Image.open(out / "scaling.png") as image:
        assert image.format == "PNG" and image.size[0] > 300
    lines = text.splitlines()
    assert sum(line.startswith("[") for line in lines) == 7
    assert lines[0].startswith("[1/7] grid alpha") and "trained in" in lines[0]
    assert "(reused)" in next(line for line in lines if line.startswith("[6/7] grid best"))
    for label in COMPARISONS:
        assert any(line.startswith(label) for line in lines)
    assert "scaling.csv" in lines[-1] and "best.json" in lines[-1] and "scaling.png" in lines[-1]


def test_a_killed_search_resumes_without_retraining_and_ends_as_an_uninterrupted_one(searched, tmp_path):
    reference, _ = searched
    out = tmp_path / "killed"
    grid = scaling_grid()[:2]

    def kill_after_first(row, done, total):
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compound_scale_search(out=out, grid=grid, compare=False, on_point=kill_after_first, **TOY)
    assert len(_table(out / "scaling.csv")) == 1
    first_metrics = next((out / "runs").iterdir()) / "metrics.jsonl"
    written = first_metrics.stat().st_mtime_ns

    seen = []
    result = compound_scale_search(out=out, grid=grid, compare=False, on_point=lambda row, *_: seen.append(row), **TOY)
    assert [row.cached for row in seen] == [True, False]  # the first point is read back, not trained
    assert first_metrics.stat().st_mtime_ns == written
    assert result.best == best_row(result.rows)

    def scores(rows):  # everything but the training time
        return [{k: v for k, v in row.items() if k != "train_seconds"} for row in rows if row["kind"] == "grid"]

    assert scores(_table(out / "scaling.csv")) == scores(_table(reference / "scaling.csv"))


def test_a_folder_of_other_settings_is_refused_in_one_line(searched, capsys):
    out, _ = searched
    before = (out / "scaling.csv").read_text()
    code, _, err = run_cli(capsys, "scale-search", *TOY_FLAGS[:-4], "--lr", "0.02", "--max-points", "2",
                           "--out", str(out))
    assert_one_line_error(code, err, str(out), "lr")
    assert (out / "scaling.csv").read_text() == before


@pytest.mark.parametrize("flags, fragment", [
    (["--base", "resnet18"], "width_mult"),
    (["--base", "dncnn_s"], "classifier"),
    (["--step", "0.3", "--tolerance", "0"], "grid is empty"),
])
def test_bad_searches_fail_in_one_line_before_training(flags, fragment, capsys, tmp_path):
    code, _, err = run_cli(capsys, "scale-search", *TOY_FLAGS, *flags, "--out", str(tmp_path / "bad"))
    assert_one_line_error(code, err, fragment)
    assert not (tmp_path / "bad" / "runs").exists()


def test_matched_single_dimensions_find_the_coefficient_nearest_the_target_macs():
    def measure(point):  # a step function, as rounding makes real MACs: 1000 * d * w^2 * r^2 in steps of 37
        return 37 * int(1000 * point.alpha * point.beta**2 * point.gamma**2 / 37)

    target = 2600
    matched = matched_single_dimensions(measure, target, phi=2)
    assert [c.label for c in matched] == [f"{label} (matched MACs)" for label in
                                         ("depth only", "width only", "resolution only")]
    for comparison, axis in zip(matched, ("alpha", "beta", "gamma")):
        assert comparison.phi == 2
        assert [getattr(comparison.point, other) for other in ("alpha", "beta", "gamma") if other != axis] == [1, 1]
        scan = [1 + i / 10_000 for i in range(30_001)]  # every coefficient to 1e-4 on [1, 4]
        best = min(abs(measure(ScalingPoint(**{"alpha": 1, "beta": 1, "gamma": 1, axis: c})) - target) for c in scan)
        assert abs(measure(comparison.point) - target) == best
    assert matched_single_dimensions(measure, 10**9)[0].point.alpha == 4.0  # out of reach: the largest


def test_measured_macs_are_not_the_nominal_factor():
    """Why the matched comparison exists: B0 scaled by the paper's coefficients costs more than 1.92 times B0."""
    def macs(point, resolution):
        scaled = scaled_config(resolution, point.alpha, point.beta, point.gamma, 1.0)
        return profile(meta_model("efficientnet_b0", **scaled.model_kwargs(), num_classes=10),
                       (3, scaled.resolution, scaled.resolution)).macs

    ratio = macs(PAPER_POINT, 32) / macs(ScalingPoint(1.0, 1.0, 1.0), 32)
    assert ratio > 4  # ceil(1.2 n) repeats, widths to multiples of 8, 2x2 last maps at 37 pixels against 1x1
