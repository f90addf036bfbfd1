"""A search's records: the best candidate, the Pareto front, the CSV."""

import csv
import json
import math

from convzoo.nas.records import Record, best_candidate, pareto_front, write_candidates


def record(index, accuracy, latency, reward=math.nan, kind="candidate", genotype=None):
    return Record(kind=kind, index=index, name="" if kind == "candidate" else "ref", genotype=genotype,
                  val_accuracy=accuracy, latency_ms=latency, measured_ms=None, macs=100 * index, params=index,
                  train_seconds=1.0, reward=reward)


def test_best_candidate_is_the_highest_reward_and_the_earliest_of_equals():
    records = [record(0, 0.9, 3.0, 0.8), record(1, 0.95, 2.0, 0.9), record(2, 0.99, 1.0, 0.9),
               record(0, 1.0, 0.1, kind="reference")]
    assert best_candidate(records).index == 1
    assert best_candidate([record(0, 1.0, 0.1, kind="reference")]) is None


def test_pareto_front_keeps_what_no_other_beats_on_accuracy_and_latency():
    records = [record(0, 0.90, 1.0), record(1, 0.85, 2.0), record(2, 0.95, 3.0), record(3, 0.95, 4.0),
               record(4, 0.97, 5.0), record(5, 0.90, 0.5)]
    front = pareto_front(records)
    assert [r.index for r in front] == [5, 2, 4]  # 0 ties 5's accuracy at a higher latency
    for r in records:  # every record off the front is dominated by one on it
        if r not in front:
            assert any(f.latency_ms <= r.latency_ms and f.val_accuracy >= r.val_accuracy for f in front)


def test_candidates_csv_holds_every_record_with_its_genotype_as_json(tmp_path):
    genotype = {"space": "toy", "choices": [1, 2]}
    records = [record(0, 0.5, 1.0, kind="reference"), record(0, 0.9, 2.0, 0.7, genotype=genotype)]
    write_candidates(tmp_path / "c.csv", records)
    rows = list(csv.DictReader((tmp_path / "c.csv").open()))
    assert [row["kind"] for row in rows] == ["reference", "candidate"]
    assert json.loads(rows[1]["genotype"]) == genotype and rows[0]["genotype"] == ""
    assert float(rows[1]["val_accuracy"]) == 0.9 and float(rows[1]["reward"]) == 0.7
    assert Record.from_dict(records[1].to_dict()) == records[1]
