"""The hyperspectral pipeline of a training run: scene, PCA, patches, model, engine, report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task
hyperspectral``. The scene is ``--dataset`` (``indian_pines``, ``pavia_university``,
``salinas`` from ``--data-dir``, or the generated ``synthetic`` one, the default),
reduced to ``--pca-components`` components and cut into ``--window`` patches; the
labelled pixels are split per class with ``--train-ratio`` and ``--split-seed``
(:mod:`convzoo.data.hyperspectral`). The model gets ``in_chans`` = the components and,
for a hyperspectral model such as ``hybridsn``, ``window_size`` = the window; any image
classifier that takes the window's side can be trained on the patches too.

Training follows the paper's code: no augmentation (``--augment standard`` is none for
this task), cross-entropy, Adam (the paper: learning rate 1e-3, batch 256, 100 epochs).

Besides the runner's files, the report writes into ``test_metrics.json`` the overall and
average accuracy, Cohen's kappa, the per-class accuracy and the confusion matrix of the
test pixels, draws ``confusion.png``, and classifies the whole scene into
``classification_map.png``, beside the ground truth (``--scene-map labelled`` classifies
only the labelled pixels, ``none`` skips the map: on a CPU the 207,400 pixels of Pavia
University take a while). The checkpoint's ``task_args`` hold the scene settings, so
``convzoo eval`` rebuilds the same PCA and split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from convzoo.data.hyperspectral import HyperspectralSplits, SceneSettings, load_hyperspectral
from convzoo.errors import ConvzooError
from convzoo.registry import get_entry
from convzoo.tasks.hyperspectral import (
    SCENE_MAPS,
    HyperspectralTask,
    plot_classification_map,
    predict_scene,
    scene_scores,
)
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.confusion import plot_confusion
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer, evaluate
from convzoo.train.runner import Pipeline, build_model
from convzoo.train.transfer import freeze, load_pretrained, parse_freeze

__all__ = ["DEFAULT_DATASET", "MAP_FILE", "build", "evaluate_scene", "scene_settings", "score_scene"]

DEFAULT_DATASET = "synthetic"  # generated from a seed: runs offline
MAP_FILE = "classification_map.png"


def scene_settings(config: TrainConfig) -> SceneSettings:
    """The scene settings a run's flags give."""
    if config.scene_map not in SCENE_MAPS:
        raise ConvzooError(f"unknown scene map {config.scene_map!r}; expected one of {', '.join(SCENE_MAPS)}")
    return SceneSettings(
        dataset=config.dataset or DEFAULT_DATASET,
        data_dir=str(config.data_dir) if config.data_dir is not None else None,
        components=config.pca_components,
        window=config.window,
        train_ratio=config.train_ratio,
        split_seed=config.split_seed,
        border=config.border,
        scene_size=config.scene_size,
    )


def _check_window(model: torch.nn.Module, window: int) -> None:
    fixed = getattr(model, "fixed_input_size", None)
    smallest = getattr(model, "min_input_size", 1)
    if fixed is not None and fixed != window:
        hint = f"use --window {fixed}" if fixed % 2 else "patches have an odd side, so no --window fits it"
        raise ConvzooError(f"{type(model).__name__} takes only {fixed}x{fixed} inputs; {hint}")
    if window < smallest:
        raise ConvzooError(f"{type(model).__name__} needs patches of at least {smallest}x{smallest}; "
                           f"use --window {smallest + (smallest % 2 == 0)} or more")


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


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    settings = scene_settings(config)
    entry = get_entry(config.model)
    window_kwargs = {"window_size": settings.window} if entry.task == "hyperspectral" else {}
    config_with_window = replace(config, model_kwargs={**window_kwargs, **config.model_kwargs})
    splits = load_hyperspectral(settings)
    num_classes = len(splits.class_names)
    model, model_args = build_model(config_with_window, settings.components, num_classes)
    _check_window(model, settings.window)
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    frozen = freeze(model, parse_freeze("head-only" if config.head_only else config.freeze))
    task = HyperspectralTask(num_classes, config.label_smoothing)
    trainer = Trainer(
        model, task, train_data=splits.train, val_data=splits.val, config=config, ctx=ctx,
        augment=None, train_mode=frozen.train_mode,
    )
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings.dataset, class_names=splits.class_names,
        mean=[0.0] * settings.components, std=[1.0] * settings.components,  # whitened PCA components
        input_size=[settings.components, settings.window, settings.window],
        task="hyperspectral", task_args=settings.to_dict(),
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        test, sums = trainer.evaluate(splits.test, detailed=True)
        confusion = sums["confusion"].cpu()
        if is_main:
            plot_confusion(confusion, splits.class_names, out / "confusion.png")
        result = score_scene(
            trainer.module, splits, confusion, out / MAP_FILE if is_main else None, config.scene_map, split="test",
            batch_size=max(config.batch_size, 256), device=trainer.ctx.device,
        )
        return {"loss": test["loss"], **result}

    return Pipeline(trainer=trainer, meta=meta, report=report)


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
