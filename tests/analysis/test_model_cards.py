"""The stored model cards: equal to the models' measurements, read without torch, and what
`convzoo list` and `convzoo info` answer from."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import assert_one_line_error, run_cli as run

from convzoo.analysis import model_cards
from convzoo.analysis.card_builder import compute_card
from convzoo.analysis.model_cards import stored_card, stored_cards
from convzoo.registry import list_models

REGENERATE = "run python scripts/model_cards.py after changing a model"


def test_the_table_holds_every_registered_model():
    assert sorted(stored_cards()) == list_models(), REGENERATE


@pytest.mark.parametrize("name", list_models())
def test_a_stored_card_is_the_models_measurement(name):
    assert stored_card(name) == compute_card(name), REGENERATE


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b3", "unet3d", "lenet5", "hybridsn"])
def test_info_from_the_table_prints_what_measuring_prints(capsys, name):
    code, stored, _ = run(capsys, "info", name)
    default = "x".join(map(str, stored_card(name)["input_size"]))
    assert code == 0 and run(capsys, "info", name, "--input", default)[1] == stored


def test_info_shows_the_receptive_field(capsys):
    assert "rf          427 (stride 32, offset 0) at layer4, 2048x7x7" in run(capsys, "info", "resnet50")[1]
    assert "rf          global at features.8" in run(capsys, "info", "efficientnet_b0")[1]
    assert "\nrf " not in run(capsys, "info", "dscmr")[1]  # feature vectors: no spatial field


def test_info_json_holds_layers_only_when_asked(capsys):
    assert "layers" not in json.loads(run(capsys, "info", "lenet5", "--json")[1])["profile"]
    card = json.loads(run(capsys, "info", "lenet5", "--json", "--layers")[1])
    assert [layer["name"] for layer in card["profile"]["layers"]][:2] == ["c1", "act1"]


QUICK = [["list"], ["list", "resnet*", "--family", "resnet"], ["info", "resnet50"], ["info", "unet", "--json"],
         ["arith", "--in", "572", "--unet"], ["explain", "grouped"], ["info", "--help"], ["list", "--help"],
         ["info", "resnet05"]]


def test_the_quick_commands_import_no_torch():
    script = ("import contextlib, io, sys\nfrom convzoo.cli import main\n"
              f"for argv in {QUICK!r}:\n"
              "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
              "        try:\n            main(argv)\n        except SystemExit:\n            pass\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] in ('torch', 'numpy')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_an_unknown_name_suggests_the_closest(capsys):
    assert_one_line_error(*run(capsys, "info", "resnet05")[::2], "unknown model 'resnet05'", "resnet50")


@pytest.mark.parametrize("content, expected", [(None, "is missing"), ("{not json", "is corrupt")])
def test_a_missing_or_corrupt_table_is_one_line(capsys, monkeypatch, tmp_path, content, expected):
    path = tmp_path / "model_cards.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr(model_cards, "CARDS_FILE", path)
    model_cards.stored_cards.cache_clear()
    try:
        assert_one_line_error(*run(capsys, "list")[::2], expected, "python scripts/model_cards.py")
    finally:
        model_cards.stored_cards.cache_clear()
