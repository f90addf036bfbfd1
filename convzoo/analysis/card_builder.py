"""A model's full card, measured: the registry's facts, stage shapes, complexity and receptive field.

``convzoo info`` prints it; :func:`compute_cards` measures every registered model at its default input
for the stored table (:mod:`convzoo.analysis.model_cards`, written by ``scripts/model_cards.py``), which
answers ``convzoo list`` and ``convzoo info`` without building a model.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from convzoo.analysis.profile import profile
from convzoo.analysis.receptive_field import receptive_field
from convzoo.analysis.shapes import stage_shapes
from convzoo.registry import list_models, meta_model, model_card

__all__ = ["FEATURE_TASKS", "compute_card", "compute_cards"]

# Tasks whose receptive field is the last feature map's (a metric model's: its backbone's); a dense
# predictor's (denoiser, segmenter, pose network) is the output pixel's.
FEATURE_TASKS = ("classification", "hyperspectral", "metric", "video")


def compute_card(name: str, input_size: Sequence[int] | None = None, *, layers: bool = False) -> dict[str, Any]:
    """``model_card(name)`` with, at ``input_size`` (the model's default when ``None``), the shape of every
    stage, the complexity profile (one row per layer too when ``layers``) and the receptive field.

    Plain JSON values: what the stored table holds for the default input.
    """
    card = model_card(name)
    size = tuple(input_size or card["input_size"])
    model = meta_model(name, in_chans=size[0])
    complexity = profile(model, size).to_dict()
    if not layers:
        del complexity["layers"]
    measured = {
        **card,
        "stages": {stage: list(shape) for stage, shape in stage_shapes(model, size)},
        "profile": complexity,
        "receptive_field": _last_receptive_field(name, card["task"], size),
    }
    return json.loads(json.dumps(measured))  # tuples become lists, as read back from the table


def _last_receptive_field(name: str, task: str, size: tuple[int, ...]) -> dict[str, Any] | None:
    """The receptive field of a classifier's last feature map, or of a dense predictor's output pixel;
    ``None`` for a network over feature vectors (DSCMR's), which has no spatial field."""
    if len(size) < 3:
        return None
    result = receptive_field(meta_model(name, in_chans=size[0]), size)
    last = result.stages[-1] if result.stages and task in FEATURE_TASKS else result.output
    field = last.to_dict()
    del field["axes"]
    return field


def compute_cards() -> dict[str, dict[str, Any]]:
    """The card of every registered model at its default input, by name."""
    return {name: compute_card(name) for name in list_models()}
