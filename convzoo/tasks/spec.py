"""What a task gives the training runner and the command line: one :class:`TaskSpec`.

Each task package builds its own in ``task.py`` (``TASK``), from the functions of its
pipeline and its commands; :func:`convzoo.tasks.get_task` finds it by the task's name,
which is ``--task``'s value and what a checkpoint's metadata stores. ``convzoo train``
prints its summary, ``convzoo eval``, ``convzoo predict`` and ``convzoo retrieve`` ask the
checkpoint's task. The task's flags and its own subcommands (``convzoo denoise``) are not
here but in its torch-free ``flags.py`` (:func:`convzoo.tasks.task_flags`), so that
building ``convzoo``'s parser imports no task.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from torch import nn

    from convzoo.train.checkpoint import CheckpointMeta
    from convzoo.train.config import TrainConfig
    from convzoo.train.distributed import DistContext
    from convzoo.train.runner import Pipeline, TrainResult

__all__ = ["TaskSpec"]


@dataclass(frozen=True)
class TaskSpec:
    """A task, as the runner and the command line see it.

    Attributes:
        name: the task's key in :data:`convzoo.tasks.TASKS`.
        build: ``build(config, ctx)``: the run's :class:`~convzoo.train.runner.Pipeline`.
        train_summary: ``train_summary(result, out)``: the lines ``convzoo train`` prints
            after a run whose output folder is ``out``.
        evaluate: ``evaluate(args, model, meta)``: the lines ``convzoo eval`` prints for
            a checkpoint of the task.
        predict: ``predict(args, model, meta)``: the lines ``convzoo predict`` prints; a
            task whose checkpoints do not label images raises a
            :class:`~convzoo.errors.ConvzooError` that names the command doing their work.
        retrieve: ``retrieve(args, model, meta)``: the lines ``convzoo retrieve`` prints (the
            nearest gallery items to a query); ``None`` for a task that retrieves nothing.
    """

    name: str
    build: Callable[[TrainConfig, DistContext], Pipeline]
    train_summary: Callable[[TrainResult, Path], list[str]]
    evaluate: Callable[[argparse.Namespace, nn.Module, CheckpointMeta], list[str]]
    predict: Callable[[argparse.Namespace, nn.Module, CheckpointMeta], list[str]]
    retrieve: Callable[[argparse.Namespace, nn.Module, CheckpointMeta], list[str]] | None = None
