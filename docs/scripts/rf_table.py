"""Prints the receptive-field table of docs/receptive-fields.md from the stored model cards
(convzoo/analysis/model_cards.json, which a test keeps equal to the library's measurements).

    python docs/scripts/rf_table.py
"""

from __future__ import annotations

from convzoo.analysis.model_cards import rf_value, stored_cards


def rf_table() -> str:
    lines = [
        "| model | input | last feature map | receptive field | stride | offset |",
        "|---|---|---|---|---|---|",
    ]
    for name, card in sorted(stored_cards().items()):
        field = card["receptive_field"]  # a classifier's last feature map; a dense predictor's output pixel
        if field is None:  # a network over feature vectors (dscmr) has no spatial field
            continue
        lines.append(
            f"| {name} | {'x'.join(map(str, card['input_size']))} | `{field['name']}` "
            f"{'x'.join(map(str, field['shape'][1:]))} | {rf_value(field['size'])} | {rf_value(field['jump'])} "
            f"| {rf_value(field['offset'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(rf_table())
