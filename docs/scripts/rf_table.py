"""Prints the receptive-field table of docs/receptive-fields.md from the library itself.

    python docs/scripts/rf_table.py
"""

from __future__ import annotations

import convzoo
from convzoo.analysis import receptive_field
from convzoo.registry import meta_model


FEATURE_TASKS = ("classification", "hyperspectral", "metric", "video")  # a metric model: its backbone's last map


def rf_table() -> str:
    lines = [
        "| model | input | last feature map | receptive field | stride | offset |",
        "|---|---|---|---|---|---|",
    ]
    for name in convzoo.list_models():
        size = tuple(convzoo.model_card(name)["input_size"])
        if len(size) < 2:  # a network over feature vectors (dscmr) has no spatial field
            continue
        result = receptive_field(meta_model(name), size)
        # A classifier's last feature map; a dense predictor's (denoiser, segmenter) output pixel.
        last = result.stages[-1] if result.stages and convzoo.model_card(name)["task"] in FEATURE_TASKS else result.output
        lines.append(
            f"| {name} | {'x'.join(map(str, size))} | `{last.name}` {'x'.join(map(str, last.shape[1:]))} "
            f"| {last.size} | {last.jump} | {last.offset} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(rf_table())
