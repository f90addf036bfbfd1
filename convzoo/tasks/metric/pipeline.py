"""The metric-learning pipeline of a training run: classes to learn from, P x K batches, and unseen classes to test on.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task metric``. The
data is ``--dataset`` (:mod:`convzoo.data.metric`; by default scikit-learn's digits, 0-4
to train and 5-9 never seen), at ``--image-size`` (default: the model's input side) and the
model's channel count. Batches hold ``--classes-per-batch`` P classes with
``--samples-per-class`` K images each (:class:`~convzoo.train.pk_sampler.PKBatchSampler`;
P defaults to every training class, at most 16), so ``--batch-size`` only sizes the
evaluation batches. The loss is ``--loss`` (:mod:`~convzoo.tasks.metric.objective`).

The report embeds the validation and test splits (classes the network never saw), picks
the verification threshold on validation, and scores the test split
(:func:`~convzoo.tasks.metric.scoring.split_report`): ``test_metrics.json`` holds them,
``roc.png`` the ROC curves, ``embeddings.png`` a 2-D map of the test embeddings. The
checkpoint's ``task_args`` keep the data settings and the threshold, for ``convzoo eval``,
``convzoo verify`` and ``convzoo retrieve``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convzoo.data.metric import MetricSplits, load_metric_dataset
from convzoo.errors import ConvzooError
from convzoo.registry import get_entry
from convzoo.tasks.metric.flags import MAX_DEFAULT_CLASSES
from convzoo.tasks.metric.objective import MetricTask
from convzoo.tasks.metric.scoring import embed_split, split_report, validation_threshold, write_pictures
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.pk_sampler import PKBatchSampler
from convzoo.train.runner import Pipeline, build_model

__all__ = ["DEFAULT_DATASET", "build", "data_settings", "load_task_data"]

DEFAULT_DATASET = "digits"


def data_settings(config: TrainConfig) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_task_data` takes them (and ``task_args`` keeps them)."""
    channels, *sides = get_entry(config.model).input_size
    return {
        "dataset": config.dataset or DEFAULT_DATASET,
        "data_dir": str(config.data_dir) if config.data_dir is not None else None,
        "in_chans": config.model_kwargs.get("in_chans", channels),
        "image_size": config.image_size or sides[-1],
    }


def load_task_data(settings: dict[str, Any], *, augment: str = "none") -> MetricSplits:
    """The metric data a run's (or a checkpoint's) ``task_args`` describe."""
    return load_metric_dataset(settings["dataset"], image_size=settings["image_size"], in_chans=settings["in_chans"],
                               data_dir=settings.get("data_dir"), augment=augment)


def _refuse_transfer(config: TrainConfig) -> None:
    if config.pretrained or config.head_only or config.freeze != "none":
        raise ConvzooError("--pretrained, --freeze and --head-only are for classifiers; --task metric trains a "
                           "network from its initialisation")


def _sampler(config: TrainConfig, data: MetricSplits, ctx: DistContext) -> PKBatchSampler:
    classes = int(data.train_labels.unique().numel())
    per_batch = config.classes_per_batch or min(classes, MAX_DEFAULT_CLASSES)
    return PKBatchSampler(data.train_labels, per_batch, config.samples_per_class, seed=config.seed,
                          rank=ctx.rank, world_size=ctx.world_size)


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    _refuse_transfer(config)
    settings = data_settings(config)
    data = load_task_data(settings, augment=config.augment)
    model, model_args = build_model(config, settings["in_chans"])
    task = MetricTask(config.loss, config.mining, config.margin, getattr(model, "pair_logits", None))
    trainer = Trainer(model, task, train_data=data.train, val_data=data.val, config=config, ctx=ctx,
                      augment=data.augment, train_sampler=_sampler(config, data, ctx))
    image, _ = data.val[0]
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings["dataset"], class_names=list(data.class_names),
        mean=list(data.mean), std=list(data.std), input_size=list(image.shape), task="metric",
        task_args={**settings, "loss": config.loss, "mining": config.mining, "margin": config.margin},
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        val = embed_split(trainer.module, data.val, device=ctx.device)
        test = embed_split(trainer.module, data.test, device=ctx.device)
        threshold = validation_threshold(val)
        meta.task_args["threshold"] = threshold
        result = {"split": "test", **split_report(test, threshold)}
        if is_main:
            result.update(write_pictures(out, {"val": val, "test": test}, "test", data.class_names,
                                         f"{config.model} on {settings['dataset']}"))
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)
