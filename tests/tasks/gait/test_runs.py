"""The gait task end to end through the command line: train GaitSet on a few generated walkers and on a small
CASIA-B tree, eval prints the NM/BG/CL table, and bad input is one line."""

from __future__ import annotations

import json

import pytest
from gait_trees import write_casia_b_tree
from PIL import Image

from helpers import assert_one_line_error, run_cli as run

# Sets of two frames, two batches of 2 subjects x 2 sequences; four walkers of one frame (two train, two tested, on
# all 11 views).
TINY = ["--frames-per-set", "2", "--classes-per-batch", "2", "--samples-per-class", "2", "--sets-per-epoch", "8",
        "--epochs", "1"]
WALKERS = ["--gait-subjects", "4", "--gait-frames", "1", *TINY]


@pytest.fixture(scope="module")
def walkers_run(tmp_path_factory):
    """A run of gaitset (its task's default) on four generated walkers: its folder and what `convzoo train` printed."""
    from convzoo.cli import main

    out = tmp_path_factory.mktemp("gait-run")
    assert main(["train", "gaitset", *WALKERS, "--out", str(out)]) == 0
    return out


def test_train_writes_checkpoint_report_and_tables(walkers_run):
    meta = json.loads((walkers_run / "model.json").read_text())
    assert meta["task"] == "gait" and meta["dataset"] == "walkers" and meta["class_names"] == ["001", "002"]
    assert meta["task_args"]["gait_subjects"] == 4 and meta["task_args"]["margin"] == 0.2
    assert {"train_loss", "train_active", "val_loss", "val_recall@1", "test_rank1_nm", "test_rank1_cl"} <= set(
        meta["metrics"])
    report = json.loads((walkers_run / "test_metrics.json").read_text())
    assert report["subjects"] == 2 and report["views"] == list(range(0, 181, 18))
    assert report["gallery"] == 2 * 4 * 11 and report["probes"] == {"NM": 44, "BG": 44, "CL": 44}
    for name in ("NM", "BG", "CL"):
        table = report["tables"][name]
        assert len(table) == 11 and all(table[i][i] is None for i in range(11))
        assert all(0 <= value <= 1 for row in table for value in row if value is not None)
        assert report[f"rank1_{name.lower()}"] == pytest.approx(sum(report["per_view"][name]) / 11)
    assert Image.open(walkers_run / "rank1_tables.png").size[0] > 500


def test_eval_prints_the_table_of_the_run(walkers_run, tmp_path, capsys):
    code, out, _ = run(capsys, "eval", str(walkers_run), "--out", str(tmp_path / "tables.png"))
    report = json.loads((walkers_run / "test_metrics.json").read_text())
    lines = out.splitlines()
    assert code == 0 and lines[0] == ("gaitset on walkers (test: 2 subjects, 88 gallery sequences, every frame of "
                                      "each sequence)")
    assert lines[2].split()[2:] == [*map(str, range(0, 181, 18)), "mean"]
    for line, name in zip(lines[3:6], ("NM", "BG", "CL")):
        assert line.split()[-1] == f"{100 * report[f'rank1_{name.lower()}']:.1f}"  # the run's scores, re-embedded
    assert lines[6].startswith(f"rank-1  NM {100 * report['rank1_nm']:.1f}%")
    assert (tmp_path / "tables.png").stat().st_size > 0


def test_predict_and_other_splits_point_to_the_protocol(walkers_run, capsys):
    code, _, err = run(capsys, "predict", str(walkers_run), "x.png")
    assert_one_line_error(code, err, "gait checkpoint", "convzoo eval")
    code, _, err = run(capsys, "eval", str(walkers_run), "--split", "val")
    assert_one_line_error(code, err, "--split val", "test subjects")


def test_eval_on_another_dataset_takes_its_protocol(walkers_run, tmp_path, capsys):
    """The run's four walkers and its two training subjects are not carried over to CASIA-B's 74."""
    tree = write_casia_b_tree(tmp_path / "casia", subjects=3, views=(90,), frames=1)
    code, _, err = run(capsys, "eval", str(walkers_run), "--dataset", "casia-b", "--data-dir", str(tree))
    assert_one_line_error(code, err, "3 subjects", "first 74")


def test_casia_b_tree_trains_and_evaluates(tmp_path, capsys):
    tree = write_casia_b_tree(tmp_path / "casia", subjects=3, views=(0, 90), frames=2)
    out = tmp_path / "run"
    code, printed, _ = run(capsys, "train", "gaitset", "--dataset", "casia-b", "--data-dir", str(tree),
                           "--gait-train-subjects", "2", *TINY, "--out", str(out))
    assert code == 0 and "(1 test subjects" in printed
    report = json.loads((out / "test_metrics.json").read_text())
    # One tested subject: the nearest gallery walk is always theirs; 2 views, so each table is 2 x 2.
    assert report["views"] == [0, 90] and report["tables"]["BG"] == [[None, 1.0], [1.0, None]]
    assert report["rank1_nm"] == report["rank1_bg"] == report["rank1_cl"] == 1.0
    code, printed, _ = run(capsys, "eval", str(out))
    assert code == 0 and printed.splitlines()[3].split() == ["NM", "#5-6", "100.0", "100.0", "100.0"]


@pytest.mark.parametrize(("argv", "fragments"), [
    (["train", "gaitset", "--dataset", "casia-b"], ["--data-dir"]),
    (["train", "gaitset", "--gait-subjects", "4", "--gait-train-subjects", "4"], ["4 subjects", "at least 5"]),
    (["train", "gaitset", "--gait-subjects", "1"], ["--gait-subjects", "at least 2"]),
    (["train", "gaitset", "--dataset", "casia-b", "--data-dir", ".", "--gait-frames", "3"], ["--gait-frames"]),
    (["train", "gaitset", "--gait-subjects", "4", "--classes-per-batch", "3"], ["--classes-per-batch 3", "2"]),
    (["train", "lenet5", "--task", "gait"], ["classification model", "--task gait"]),
    (["train", "siamese_lenet5", "--task", "gait"], ["metric model", "--task gait"]),
])
def test_bad_settings_are_one_line(argv, fragments, tmp_path, capsys):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)


def test_a_casia_b_tree_with_too_few_subjects_is_one_line(tmp_path, capsys):
    tree = write_casia_b_tree(tmp_path / "casia", subjects=2, views=(90,), frames=1)
    code, _, err = run(capsys, "train", "gaitset", "--dataset", "casia-b", "--data-dir", str(tree),
                       "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "2 subjects", "74")
