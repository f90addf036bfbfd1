"""A scene's report: OA, AA, kappa and per-class accuracy, and the classification map.

:func:`score_scene` makes the report of a confusion matrix, for a run's test pixels (the
pipeline's report) or for any split of a checkpoint's scene, rebuilt from its metadata
(:func:`evaluate_scene`, what ``convzoo eval`` runs).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from convzoo.data.hyperspectral import HyperspectralSplits, SceneSettings, load_hyperspectral
from convzoo.errors import ConvzooError
from convzoo.tasks.hyperspectral.classification_map import plot_classification_map
from convzoo.tasks.hyperspectral.metrics import scene_scores
from convzoo.tasks.hyperspectral.objective import HyperspectralTask
from convzoo.tasks.hyperspectral.prediction import predict_scene
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.engine import evaluate

__all__ = ["evaluate_scene", "score_scene"]


def score_scene(
    model: torch.nn.Module, splits: HyperspectralSplits, confusion: torch.Tensor, map_path: Path | None,
    pixels: str = "all", *, split: str, batch_size: int = 256, device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """The report of a confusion matrix, and the classification map drawn into ``map_path`` (if given).

    ``split`` names the pixels the confusion matrix counts (``train``, ``val`` or ``test``),
    for the map's title: only the caller knows which split it scored.
    """
    scores = scene_scores(confusion)
    report = {
        "accuracy": scores["overall_accuracy"],
        "average_accuracy": scores["average_accuracy"],
        "kappa": scores["kappa"],
        "per_class_accuracy": dict(zip(splits.class_names, scores["per_class_accuracy"])),
        "confusion": confusion.long().tolist(),
        "pixels": {"train": len(splits.train_pixels), "test": len(splits.test_pixels)},
    }
    if map_path is not None and pixels != "none":
        predicted = predict_scene(model, splits, pixels, batch_size=batch_size, device=device)
        title = (f"{splits.settings.dataset}: OA {report['accuracy']:.2%}, AA {report['average_accuracy']:.2%}, "
                 f"kappa {report['kappa']:.4f} on the {int(confusion.sum())} {split} pixels")
        plot_classification_map(splits.labels, predicted, splits.class_names, map_path, title=title)
        report["map"] = str(map_path)
    return report


def evaluate_scene(
    model: torch.nn.Module, meta: CheckpointMeta, *, dataset: str | None = None, data_dir: str | None = None,
    split: str = "test", map_path: str | Path | None = None, pixels: str = "all", batch_size: int = 256,
) -> dict[str, Any]:
    """Score a hyperspectral checkpoint on the split its run used, rebuilt from ``meta.task_args``.

    Args:
        model, meta: what :func:`~convzoo.train.checkpoint.load_checkpoint` returns.
        dataset, data_dir: override the scene's (e.g. the folder now holding its files).
        split: ``train``, ``val`` or ``test`` pixels.
        map_path: where to draw the classification map; ``None`` for no map.
        pixels: ``all`` or ``labelled``: the pixels the map classifies.
        batch_size: patches per forward pass.

    Returns the report :func:`score_scene` gives, with the loss and the scene settings.
    """
    settings = SceneSettings.from_dict(meta.task_args)
    if dataset is not None:
        settings = replace(settings, dataset=dataset)
    if data_dir is not None:
        settings = replace(settings, data_dir=str(data_dir))
    splits = load_hyperspectral(settings)
    if len(splits.class_names) != len(meta.class_names):
        raise ConvzooError(f"the checkpoint has {len(meta.class_names)} classes but scene {settings.dataset!r} "
                           f"has {len(splits.class_names)}")
    if split not in ("train", "val", "test"):
        raise ConvzooError(f"unknown split {split!r}; expected train, val or test")
    data = getattr(splits, split)
    device = next(model.parameters()).device
    task = HyperspectralTask(len(meta.class_names))
    metrics, sums = evaluate(model, data, task, batch_size=batch_size, detailed=True)
    result = score_scene(model, splits, sums["confusion"].cpu(), Path(map_path) if map_path else None, pixels,
                         split=split, batch_size=batch_size, device=device)
    return {"loss": metrics["loss"], **result, "scored_pixels": len(data), "settings": settings.to_dict()}
