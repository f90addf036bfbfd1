"""The stored table of every registered model's card at its default input, read without torch.

``scripts/model_cards.py`` measures the cards (:func:`convzoo.analysis.card_builder.compute_cards`) and
writes ``model_cards.json`` beside this file; ``convzoo list`` and ``convzoo info MODEL`` answer from it
in a fraction of a second, where building and measuring takes seconds (importing torch alone takes
about 2). A test measures every card again and fails when the table and the models disagree.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from pathlib import Path
from typing import Any

from convzoo.analysis.profile_text import profile_lines
from convzoo.errors import ConvzooError, UnknownModelError

__all__ = ["CARDS_FILE", "card_lines", "find_cards", "rf_text", "rf_value", "stored_card", "stored_cards"]

CARDS_FILE = Path(__file__).with_name("model_cards.json")
REGENERATE = "python scripts/model_cards.py rewrites it"


@functools.cache
def stored_cards() -> dict[str, dict[str, Any]]:
    """Every stored card, by model name."""
    try:
        return json.loads(CARDS_FILE.read_text())
    except FileNotFoundError:
        raise ConvzooError(f"the model card table {CARDS_FILE} is missing; {REGENERATE}") from None
    except json.JSONDecodeError as error:
        raise ConvzooError(f"the model card table {CARDS_FILE} is corrupt ({error}); {REGENERATE}") from None


def stored_card(name: str) -> dict[str, Any]:
    """The stored card of ``name``; an unknown name suggests the closest ones."""
    cards = stored_cards()
    if name not in cards:
        raise UnknownModelError.suggesting(name, cards)
    return cards[name]


def find_cards(pattern: str = "*", *, task: str | None = None, family: str | None = None) -> list[dict[str, Any]]:
    """The stored cards whose name matches an fnmatch ``pattern``, sorted by name, as ``list_models``."""
    return [card for name, card in sorted(stored_cards().items())
            if fnmatch.fnmatchcase(name, pattern)
            and (task is None or card["task"] == task)
            and (family is None or card["family"] == family)]


def rf_text(field: dict[str, Any]) -> str:
    """``"435 (stride 32, offset 0) at layer4, 512x7x7"``: a card's receptive field."""
    where = f"at {field['name']}, {'x'.join(map(str, field['shape'][1:]))}"
    if field["global"]:
        return f"global {where} (convzoo rf --ignore-gates: the field without SE-style gates)"
    return f"{rf_value(field['size'])} (stride {rf_value(field['jump'])}, offset {rf_value(field['offset'])}) {where}"


def rf_value(value: Any) -> Any:
    """A per-axis value read from JSON (a list) shown as the library prints it (a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def card_lines(card: dict[str, Any]) -> list[str]:
    """``convzoo info``'s text of a card measured at one input (stored or computed alike)."""
    paper = card["paper"]
    classes = f", {card['num_classes']} classes" if card["num_classes"] else ""  # a denoiser has none
    lines = [
        f"{card['name']}  ({card['family']}, {card['task']})",
        f"paper       {paper['title']} ({paper['authors']}, {paper['venue']} {paper['year']}) {paper['url']}",
        f"input       {'x'.join(map(str, card['input_size']))} (default){classes}",
        f"torchvision {card['torchvision_name'] or '-'}",
        f"timm        {card['timm_name'] or '-'}",
    ]
    if card["deviations"]:
        lines.append(f"deviations  {card['deviations']}")
    if card["notes"]:
        lines += ["notes", *_note_lines(card["notes"], "  ")]
    if card["receptive_field"] is not None:
        lines.append(f"rf          {rf_text(card['receptive_field'])}")
    lines.append(f"shapes for input 1x{'x'.join(map(str, card['profile']['input_shape'][1:]))}:")
    lines += [f"  {name:<20} {'x'.join(map(str, shape))}" for name, shape in card["stages"].items()]
    return lines + profile_lines(card["profile"], layers="layers" in card["profile"])


def _note_lines(notes: dict, indent: str) -> list[str]:
    """A model card's notes, one per line; a table (dict of dicts) one row per line, a dict of values on one."""
    lines = []
    for key, value in notes.items():
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
            lines.append(f"{indent}{key}:")
            lines.extend(_note_lines(value, indent + "  "))
        elif isinstance(value, dict):
            lines.append(f"{indent}{key}: " + ", ".join(f"{k}={v}" for k, v in value.items()))
        else:
            lines.append(f"{indent}{key}: {value}")
    return lines
