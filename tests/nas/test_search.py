"""The search loop on the mnas space at toy size: records, files, resume after a kill, the command line."""

import csv
import json

import pytest
from helpers import run_cli

from convzoo.errors import ConvzooError
from convzoo.nas.search import STATE_FILE, SearchConfig, _Search, run_search
from convzoo.train.checkpoint import load_checkpoint

# A space shrunk to a few thousand MACs per image and a proxy of 10 steps: about a second a candidate.
TINY = dict(space="mnas", space_options={"width_mult": 0.25, "stem_stride": 2}, image_size=16, epochs=1,
            batch_size=128, lr=0.01, budget_minutes=None, objective="macs", target=600_000.0, references=[])
TINY_FLAGS = ["--space", "mnas", "--width-mult", "0.25", "--stem-stride", "2", "--image-size", "16",
              "--proxy-epochs", "1", "--batch-size", "128", "--lr", "0.01", "--objective", "macs",
              "--target", "600000", "--references", "none"]


class Killed(Exception):
    """Stands for the kill of a search process."""


def evolution(max_candidates):
    return SearchConfig(**TINY, strategy="evolution", max_candidates=max_candidates,
                        strategy_options={"population_size": 2, "sample_size": 1})


def comparable(records):
    return [(r.kind, r.index, r.genotype, r.val_accuracy, r.macs, r.params, r.reward, r.cached) for r in records]


def test_a_killed_search_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    whole = run_search(evolution(3), tmp_path / "whole")

    def kill_after_second(record, best):
        if record.index == 1:
            raise Killed

    with pytest.raises(Killed):
        run_search(evolution(3), tmp_path / "cut", on_record=kill_after_second)
    assert len(list(csv.DictReader((tmp_path / "cut" / "candidates.csv").open()))) == 2
    resumed = run_search(None, tmp_path / "cut", resume=True)
    assert comparable(resumed.records) == comparable(whole.records)
    assert resumed.records[2].genotype not in (resumed.records[0].genotype, resumed.records[1].genotype)
    assert json.loads((tmp_path / "cut" / "best.json").read_text()) == whole.best.genotype


def test_records_files_and_reward(tmp_path):
    result = run_search(SearchConfig(**TINY, strategy="random", max_candidates=2), tmp_path)
    rows = list(csv.DictReader((tmp_path / "candidates.csv").open()))
    assert [int(row["index"]) for row in rows] == [0, 1]
    for record in result.records:
        assert 0.0 <= record.val_accuracy <= 1.0 and record.macs > 0 and record.params > 0
        assert record.reward == pytest.approx(record.val_accuracy * (record.macs / 600_000.0) ** -0.07)
        folder = tmp_path / "candidates" / f"{record.index:04d}"
        assert json.loads((folder / "genotype.json").read_text()) == record.genotype
        assert not (folder / "model.safetensors").exists()  # scored candidates keep no weights
    assert result.best.reward == max(r.reward for r in result.records)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["candidates"] == summary["trained"] == 2
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_a_genotype_proposed_again_is_not_trained_again(tmp_path):
    search = _Search(evolution(2), tmp_path, None, None)
    genotype = search.strategy.propose()
    first = search.score_candidate(genotype)
    search.records.append(first)
    again = search.score_candidate(genotype)
    assert again.cached and not first.cached and again.index == 1
    assert (again.val_accuracy, again.reward) == (first.val_accuracy, first.reward)
    assert not (tmp_path / "candidates" / "0001").exists()


def test_a_latency_table_reports_its_error_against_whole_measurements(tmp_path):
    config = SearchConfig(**{**TINY, "objective": "latency", "target": 1.0}, strategy="random", max_candidates=2,
                          latency="table", table_check_every=1)
    result = run_search(config, tmp_path)
    assert result.table_error["networks"] == 2
    assert all(r.measured_ms is not None and r.latency_ms > 0 for r in result.records)
    assert json.loads((tmp_path / "latency_table.json").read_text())  # the measured blocks


def test_references_are_scored_first_and_set_the_target(tmp_path):
    config = SearchConfig(**{**TINY, "target": None, "references": ["mobilenet_v2_cifar"], "image_size": 8},
                          strategy="random",
                          max_candidates=1)
    result = run_search(config, tmp_path)
    reference, candidate = result.records
    assert (reference.kind, reference.name, candidate.kind) == ("reference", "mobilenet_v2_cifar", "candidate")
    assert result.target == reference.macs
    assert reference.macs > 10 * candidate.macs


@pytest.mark.parametrize("changes, words", [
    ({"strategy": "darts"}, "searches the DARTS cell space only"),
    ({"max_candidates": None}, "a search needs an end"),
    ({"latency": "table", "space": "darts"}, "needs a space cut into blocks"),
    ({"references": ["resnet5"]}, "resnet5"),
    ({"space": "nasnet"}, "unknown search space"),
    ({"objective": "flops"}, "unknown objective"),
])
def test_bad_settings_are_one_line(tmp_path, changes, words):
    config = SearchConfig(**{**TINY, "strategy": "random", "max_candidates": 1, **changes})
    with pytest.raises(ConvzooError, match=words):
        run_search(config, tmp_path)


def test_resume_needs_a_search_and_a_new_search_needs_a_fresh_folder(tmp_path):
    with pytest.raises(ConvzooError, match=f"no {STATE_FILE}"):
        run_search(None, tmp_path, resume=True)
    (tmp_path / STATE_FILE).write_bytes(b"")
    with pytest.raises(ConvzooError, match="already holds a search"):
        run_search(SearchConfig(**TINY, strategy="random", max_candidates=1), tmp_path)


def test_command_line_search_then_train_the_best(tmp_path, capsys):
    out = tmp_path / "search"
    code, stdout, stderr = run_cli(capsys, "search", *TINY_FLAGS, "--strategy", "reinforce", "--max-candidates", "2",
                                   "--out", str(out))
    assert code == 0, stderr
    assert "candidate 1: reward" in stdout and "| best #" in stdout
    assert f"convzoo train nas_net --genotype {out / 'best.json'}" in stdout
    code, stdout, stderr = run_cli(capsys, "search", "--resume", str(out), "--max-candidates", "3")
    assert code == 0, stderr
    assert "candidate 2: reward" in stdout and "candidate 1: reward" not in stdout
    code, _, stderr = run_cli(capsys, "train", "nas_net", "--genotype", str(out / "best.json"), "--epochs", "1",
                              "--image-size", "16", "--out", str(tmp_path / "retrained"))
    assert code == 0, stderr
    _, meta = load_checkpoint(tmp_path / "retrained")
    assert meta.model_args["genotype"] == json.loads((out / "best.json").read_text())


@pytest.mark.parametrize("argv, words", [
    (["search", "--strategy", "darts"], "give --out DIR for a new search, or --resume DIR"),
    (["search", "--out", "{tmp}/s", "--population", "4", "--strategy", "random"], "--population is an option of "
     "evolution"),
    (["search", "--out", "{tmp}/s", "--objective", "macs", "--target-latency-ms", "3"], "--target-latency-ms T is"),
    (["train", "nas_net", "--genotype", "{tmp}/missing.json"], "missing.json"),
])
def test_command_line_errors_are_one_line(tmp_path, capsys, argv, words):
    code, _, stderr = run_cli(capsys, *(arg.format(tmp=tmp_path) for arg in argv))
    assert code == 2 and words in stderr and len(stderr.strip().splitlines()) == 1


def test_darts_searches_a_supernet_and_scores_the_genotype_it_derives(tmp_path):
    config = SearchConfig(**{**TINY, "space": "darts", "space_options": {"init_channels": 4, "layers": 3},
                             "image_size": 8, "batch_size": 256}, strategy="darts", darts_epochs=1)
    result = run_search(config, tmp_path)
    (candidate,) = result.records
    assert candidate.genotype["space"] == "darts" and len(candidate.genotype["normal"]) == 8
    assert (tmp_path / "darts_state.safetensors").exists()
    assert json.loads((tmp_path / "best.json").read_text()) == candidate.genotype
    again = run_search(None, tmp_path, resume=True)  # a finished DARTS search is not run again
    assert comparable(again.records) == comparable(result.records)
