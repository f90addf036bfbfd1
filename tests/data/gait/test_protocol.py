"""CASIA-B's protocol: training subjects, gallery NM #1-4 and probes NM #5-6, BG #1-2, CL #1-2; the sources."""

from __future__ import annotations

import pytest
from gait_trees import write_casia_b_tree

from convzoo.data.gait import (
    CASIA_B_PROTOCOL,
    GAIT_DATASETS,
    WALKERS_PROTOCOL,
    CasiaB,
    GaitProtocol,
    GeneratedWalkers,
    load_gait_source,
    protocol_for,
)
from convzoo.errors import ConvzooError


def expected_split(source, train_subjects: int):
    """The split computed directly from the sequences' fields."""
    seqs = source.sequences
    subjects = sorted({s.subject for s in seqs})
    train = [i for i, s in enumerate(seqs) if s.subject in subjects[:train_subjects]]
    tested = [i for i in range(len(seqs)) if i not in train]
    pick = {
        "gallery": [i for i in tested if seqs[i].condition == "nm" and seqs[i].index <= 4],
        "NM": [i for i in tested if seqs[i].condition == "nm" and seqs[i].index >= 5],
        "BG": [i for i in tested if seqs[i].condition == "bg"],
        "CL": [i for i in tested if seqs[i].condition == "cl"],
    }
    return train, [subjects.index(seqs[i].subject) for i in train], pick


def test_a_split_of_a_casia_b_tree(tmp_path):
    source = CasiaB(write_casia_b_tree(tmp_path, subjects=3, views=(0, 90), frames=1))
    split = GaitProtocol(train_subjects=1).split(source)
    train, labels, pick = expected_split(source, 1)
    assert split.train == train and split.train_labels == labels == [0] * 20
    assert split.gallery == pick["gallery"] and len(split.gallery) == 2 * 2 * 4
    assert split.probes == {name: pick[name] for name in ("NM", "BG", "CL")}
    assert [len(split.probes[name]) for name in ("NM", "BG", "CL")] == [8, 8, 8]


def test_a_split_of_the_default_walkers():
    source = load_gait_source("walkers", None)
    assert isinstance(source, GeneratedWalkers) and protocol_for("walkers") is WALKERS_PROTOCOL
    split = WALKERS_PROTOCOL.split(source)  # no frame is rendered
    train, labels, pick = expected_split(source, WALKERS_PROTOCOL.train_subjects)
    assert split.train == train and split.train_labels == labels and set(labels) == set(range(24))
    assert len(split.train) == 24 * 110 and len(split.gallery) == 16 * 11 * 4
    assert split.probes["NM"] == pick["NM"] and split.probes["CL"] == pick["CL"]
    assert WALKERS_PROTOCOL.train_subjects * 2 >= source.subjects


def test_the_papers_protocol():
    assert protocol_for("casia-b") is CASIA_B_PROTOCOL and CASIA_B_PROTOCOL.train_subjects == 74
    assert CASIA_B_PROTOCOL.gallery == ("nm", (1, 2, 3, 4))
    assert CASIA_B_PROTOCOL.probes == {"NM": ("nm", (5, 6)), "BG": ("bg", (1, 2)), "CL": ("cl", (1, 2))}
    assert GAIT_DATASETS == ("walkers", "casia-b")


def test_too_few_subjects(tmp_path):
    source = CasiaB(write_casia_b_tree(tmp_path, subjects=2, views=(90,), frames=1))
    with pytest.raises(ConvzooError, match="casia-b has 2 subjects; the protocol trains on the first 74"):
        CASIA_B_PROTOCOL.split(source)


def test_sources_by_name(tmp_path):
    root = write_casia_b_tree(tmp_path, subjects=1, views=(90,), frames=1)
    assert isinstance(load_gait_source("casia-b", root), CasiaB)
    assert load_gait_source("walkers", None, seed=3).seed == 3
    with pytest.raises(ConvzooError, match="--dataset casia-b needs --data-dir"):
        load_gait_source("casia-b", None)
    with pytest.raises(ConvzooError, match="unknown gait dataset 'oulp'; expected one of walkers, casia-b"):
        load_gait_source("oulp", None)
    with pytest.raises(ConvzooError, match="unknown gait dataset 'oulp'"):
        protocol_for("oulp")
