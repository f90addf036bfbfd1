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

from convzoo.data.hyperspectral import SceneSettings, load_hyperspectral
from convzoo.errors import ConvzooError
from convzoo.registry import get_entry
from convzoo.tasks.classification.confusion import plot_confusion
from convzoo.tasks.hyperspectral.objective import HyperspectralTask
from convzoo.tasks.hyperspectral.prediction import SCENE_MAPS
from convzoo.tasks.hyperspectral.scoring import score_scene
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model
from convzoo.train.transfer import freeze, load_pretrained, parse_freeze

__all__ = ["DEFAULT_DATASET", "MAP_FILE", "build", "scene_settings"]

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
