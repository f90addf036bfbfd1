"""Measures every registered model's card at its default input and writes the stored table
(convzoo/analysis/model_cards.json) that `convzoo list` and `convzoo info` answer from.

    python scripts/model_cards.py

Run it after adding or changing a model: tests/analysis/test_model_cards.py fails until the table
and the models agree.
"""

from __future__ import annotations

import json
import os

from convzoo.analysis.card_builder import compute_cards
from convzoo.analysis.model_cards import CARDS_FILE


def main() -> None:
    cards = compute_cards()
    temporary = CARDS_FILE.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(cards, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, CARDS_FILE)  # a reader never sees half a table
    print(f"{CARDS_FILE}: {len(cards)} models")


if __name__ == "__main__":
    main()
