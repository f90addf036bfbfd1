"""The video pipeline of a training run: clips, a 3D network, the engine, and a clip- and video-level report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task video`` (the
task of every network of the ``video`` family). The data is ``--dataset``
(:mod:`~convzoo.tasks.video.data`): by default the generated moving digits, whose class is
a motion. The loss is cross-entropy on single clips (``--label-smoothing`` applies); the
engine's validation reports clip accuracy. ``--pretrained`` (a checkpoint of the same
network, e.g. torchvision's Kinetics-400 weights), ``--freeze`` and ``--head-only`` fine-tune
as they do for images.

Before anything trains, one validation clip goes through the network in eval mode, so a
clip it cannot take (C3D's fixed 16x112x112) is one line naming the dataset, the clip and
what the network expects. The report scores the test split's clips and videos
(:mod:`~convzoo.tasks.video.scoring`), puts the videos' per-class accuracy and confusion
matrix in ``test_metrics.json`` and draws ``confusion.png``. The checkpoint's ``task_args``
hold the data settings, so ``convzoo eval`` rebuilds the same splits and ``convzoo
predict`` reads a video file as the test clips were read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.tasks.classification.confusion import plot_confusion
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.tasks.video.data import VideoData, load_video_data, video_settings
from convzoo.tasks.video.scoring import clip_logits, video_indices, video_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model
from convzoo.train.transfer import freeze, load_pretrained, parse_freeze

__all__ = ["CONFUSION_FILE", "build", "check_fits", "score_split"]

CONFUSION_FILE = "confusion.png"


def check_fits(model: nn.Module, model_name: str, data: VideoData, dataset: str) -> None:
    """Run one validation clip through ``model`` in eval mode; one line if the network cannot take it."""
    clip, _ = data.val[0]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(clip[None].to(next(model.parameters()).device))
    except InputShapeError as error:
        shape = "x".join(str(side) for side in clip.shape[1:])
        raise ConvzooError(f"{model_name} cannot take the {shape} clips (T x H x W) of {dataset!r}: {error}; "
                           "choose --clip-length and --image-size to fit it") from None
    finally:
        model.train(was_training)


def score_split(
    model: nn.Module, data: VideoData, split: str, *, batch_size: int, ctx: DistContext | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """The clip- and video-level report of ``split`` of ``data``."""
    items = getattr(data, split)
    logits, labels = clip_logits(model, items, len(data.class_names), batch_size=batch_size, ctx=ctx,
                                 workers=workers)
    return video_report(logits, labels, video_indices(items), data.class_names, split)


def _checkpoint_meta(config: TrainConfig, model_args: dict[str, Any], data: VideoData,
                     settings: dict[str, Any]) -> CheckpointMeta:
    return CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings["dataset"], class_names=data.class_names,
        mean=data.mean, std=data.std, input_size=list(data.clip_shape), task="video",
        task_args={**settings, "short_side": data.short_side},
    )


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    settings = video_settings(config)
    data = load_video_data(settings, augment=config.augment != "none")
    model, model_args = build_model(config, data.in_chans, len(data.class_names))
    check_fits(model, config.model, data, settings["dataset"])
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    frozen = freeze(model, parse_freeze("head-only" if config.head_only else config.freeze))
    task = ClassificationTask(len(data.class_names), config.label_smoothing)
    trainer = Trainer(model, task, train_data=data.train, val_data=data.val, config=config, ctx=ctx,
                      train_mode=frozen.train_mode)

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        result = score_split(trainer.eval_model, data, "test", batch_size=config.batch_size, ctx=ctx,
                             workers=config.workers)
        if is_main:
            plot_confusion(torch.tensor(result["confusion"]), data.class_names, out / CONFUSION_FILE)
        return result

    return Pipeline(trainer=trainer, meta=_checkpoint_meta(config, model_args, data, settings), report=report)
