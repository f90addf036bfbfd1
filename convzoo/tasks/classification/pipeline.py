"""The classification pipeline of a training run: data, model, transfer learning, engine, report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task
classification`` (the default). Besides the runner's files, the report writes
``confusion.png`` and puts per-class accuracy and the confusion matrix in
``test_metrics.json``, with the split it scored (``test``, or ``val`` for a dataset that
has no test split). With ``config.teacher`` the model learns from the teacher's soft
targets too (:mod:`~convzoo.tasks.classification.distillation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from convzoo.data import NATIVE_SIZES, load_dataset
from convzoo.registry import get_entry
from convzoo.tasks.classification.confusion import plot_confusion
from convzoo.tasks.classification.distillation import distil
from convzoo.tasks.classification.objective import ClassificationTask, per_class_accuracy
from convzoo.tasks.classification.predictions import PREDICTIONS_FILE, plot_predictions, predict_samples
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model
from convzoo.train.transfer import freeze, load_pretrained, parse_freeze

__all__ = ["DEFAULT_DATASET", "build"]

DEFAULT_DATASET = "digits"  # bundled with scikit-learn: runs offline


def _image_size(config: TrainConfig, dataset: str, model: torch.nn.Module, default: int) -> int:
    """The side images are fed at: the flag, else the dataset's own if the model takes it, else the model's."""
    if config.image_size:
        return config.image_size
    native = NATIVE_SIZES.get(dataset)
    fixed = getattr(model, "fixed_input_size", None)
    if native and fixed in (None, native) and native >= getattr(model, "min_input_size", 1):
        return native
    return fixed or default


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    entry = get_entry(config.model)
    in_chans, default_size, _ = entry.input_size
    with torch.device("meta"):
        probe, _ = build_model(config, in_chans)
    dataset = config.dataset or DEFAULT_DATASET
    image_size = _image_size(config, dataset, probe, default_size)
    splits = load_dataset(
        dataset, image_size=image_size, in_chans=in_chans, augment=config.augment,
        data_dir=config.data_dir, download=config.download,
    )
    model, model_args = build_model(config, in_chans, len(splits.class_names))
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    frozen = freeze(model, parse_freeze("head-only" if config.head_only else config.freeze))
    task = ClassificationTask(
        len(splits.class_names), config.label_smoothing, aux_loss_weight=getattr(model, "aux_loss_weight", 0.0)
    )
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=dataset, class_names=splits.class_names,
        mean=splits.mean, std=splits.std, input_size=[in_chans, image_size, image_size],
        eval_crop_fraction=splits.eval_crop_fraction,
        task_args={"data_dir": config.data_dir},  # `convzoo eval RUN` reads the same files without --data-dir
    )
    if config.teacher:
        task = distil(model, task, config, meta, ctx.device)
    trainer = Trainer(
        model, task, train_data=splits.train, val_data=splits.val, config=config, ctx=ctx,
        augment=splits.augment, train_mode=frozen.train_mode,
    )
    # A dataset without a test split (an image folder without test/) gives its validation split as test.
    test_split = "val" if splits.test is splits.val else "test"

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        test, sums = trainer.evaluate(splits.test, detailed=True)
        confusion = sums["confusion"].cpu()
        if is_main:
            plot_confusion(confusion, splits.class_names, out / "confusion.png")
            samples = predict_samples(trainer.module, splits.test, trainer.ctx.device)
            plot_predictions(*samples, splits.class_names, splits.mean, splits.std, out / PREDICTIONS_FILE)
        return {
            "split": test_split,
            **test,
            "per_class_accuracy": dict(zip(splits.class_names, per_class_accuracy(confusion))),
            "confusion": confusion.long().tolist(),
        }

    return Pipeline(trainer=trainer, meta=meta, report=report)
