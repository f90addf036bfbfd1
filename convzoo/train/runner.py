"""A training run of any task, end to end: output folder, seeding, resume, checkpoints, test.

``convzoo train`` calls :func:`train`. A task plugs in through a :class:`Pipeline`, built
by the ``build`` of ``config.task``'s row of :data:`convzoo.tasks.TASKS`: its data, model
and engine, the checkpoint metadata, and a ``report`` that scores the test split and
writes the task's own files. The run writes into its output folder:

- ``resume.safetensors``: the whole training state (weights, optimiser, scheduler, scaler,
  random generators, position in the epoch, metrics so far), rewritten atomically at
  every epoch end and every ``checkpoint_every`` optimiser steps; ``--resume DIR``
  continues from it and ends exactly where an uninterrupted run ends (``--epochs N``
  with it changes the run's length: :func:`resumed_config`);
- ``model.safetensors`` + ``model.json``: the model and what is needed to use it, for
  ``convzoo eval`` and ``convzoo predict``;
- ``metrics.csv``, ``metrics.jsonl``, ``curves.png``: one row per epoch;
- ``test_metrics.json`` and the task's files (a classifier's ``confusion.png`` and ``predictions.png``);
- with ``tensorboard``, ``tensorboard/``: the same metrics, the loss of every batch and the
  task's pictures as TensorBoard events (:class:`~convzoo.train.tensorboard.TensorBoardLog`).

Under ``torchrun`` every process trains and only rank 0 writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from convzoo.errors import ConvzooError
from convzoo.outputs import prepare_output_folder, remove_empty_folders
from convzoo.registry import create_model
from convzoo.tasks import get_task
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext, init_distributed
from convzoo.train.engine import Trainer
from convzoo.train.history import History
from convzoo.train.progress import ProgressReporter
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state, save_state
from convzoo.train.tensorboard import TensorBoardLog

__all__ = ["Pipeline", "RESUME_FILE", "TrainResult", "build_model", "resumed_config", "train"]

RESUME_FILE = "resume.safetensors"


@dataclass
class Pipeline:
    """What a task adds to a run.

    Attributes:
        trainer: the engine, holding the model, the task's loss and the train/val data.
        meta: the checkpoint metadata (``metrics`` is filled in by the run).
        report: ``report(trainer, out, is_main)`` scores the test split and returns the
            JSON-ready test report (its scalar entries go into the checkpoint's metrics);
            the main process also writes the task's files into ``out``.
    """

    trainer: Trainer
    meta: CheckpointMeta
    report: Callable[[Trainer, Path, bool], dict[str, Any]]


@dataclass
class TrainResult:
    """What a run ends with. ``is_main`` is false in the other processes of a torchrun run,
    which hold the same results and so must not report them a second time."""

    task: str  # the task that trained it: a key of convzoo.tasks.TASKS
    test_metrics: dict[str, Any]
    checkpoint: Path
    history: History = field(repr=False)
    is_main: bool = True


def _make_deterministic() -> None:
    """Deterministic kernels where PyTorch has them; an error where it has none."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def build_model(config: TrainConfig, in_chans: int, num_classes: int | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``config.model`` with ``config.model_kwargs``, and the arguments that rebuild it from a checkpoint."""
    model_args = {**config.model_kwargs, "in_chans": in_chans}
    if num_classes is not None:
        model_args["num_classes"] = num_classes
    try:
        return create_model(config.model, **model_args), model_args
    except (TypeError, ValueError) as error:
        if not config.model_kwargs:
            raise
        raise ConvzooError(f"{config.model} cannot be built with --model-kwargs {config.model_kwargs}: {error}") from None


def build_pipeline(config: TrainConfig, ctx: DistContext) -> Pipeline:
    """The pipeline of ``config.task``."""
    return get_task(config.task).build(config, ctx)


def resumed_config(saved: dict[str, Any], epochs: int | None = None) -> TrainConfig:
    """The settings of a saved run; ``epochs``, when given, is the run's new total length.

    A run may be extended, or shortened to no fewer epochs than it has begun. The schedule
    is rebuilt for the new total and followed from the resume point on, as timm does: the
    step, multistep and constant schedules and the warmup do not depend on the total, so
    the run ends as one trained for ``epochs`` from the start; a cosine schedule moves onto
    the curve of the new total, so its rate jumps at the resume point (up when extended).
    """
    config = TrainConfig.from_dict(saved["config"])
    if epochs is None or epochs == config.epochs:
        return config
    position = saved["trainer"]["position"]
    begun = position["epoch"] + (position["batch"] > 0)  # an epoch stopped half-way is finished first
    if epochs < begun:
        raise ConvzooError(f"--epochs {epochs} is shorter than the run, which has already trained {begun} epochs; "
                           f"give --epochs {begun} or more")
    return replace(config, epochs=epochs)


def _follow_schedule(trainer: Trainer) -> None:
    """Set the rate of the current step from the rebuilt schedule; the saved optimiser holds the old schedule's."""
    scheduler = trainer.scheduler
    for group, base_lr, factor in zip(trainer.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base_lr * factor(scheduler.last_epoch)


def train(
    config: TrainConfig | None = None,
    progress: ProgressReporter | None = None,
    resume: str | os.PathLike | None = None,
    epochs: int | None = None,
) -> TrainResult:
    """Train ``config.model`` for ``config.task``, or continue the run saved in ``resume``.

    A resumed run keeps its saved settings; ``epochs`` alone may change, see :func:`resumed_config`.
    """
    saved = load_state(Path(resume) / RESUME_FILE) if resume is not None else None
    if saved is not None:
        config = resumed_config(saved, epochs)
    elif epochs is not None:
        raise ConvzooError("epochs= changes the length of a resumed run; a new run takes config.epochs")
    config = config or TrainConfig()
    config.validate()
    out = Path(resume) if resume is not None else Path(config.out)
    ctx = init_distributed(config.device)
    created: list[Path] = []
    try:
        if ctx.is_main:
            created = prepare_output_folder(out)
        if config.deterministic:
            _make_deterministic()
        seed_everything(config.seed)
        pipeline = build_pipeline(config, ctx)
        if saved is not None:
            pipeline.trainer.load_state_dict(saved["trainer"])
            if config.epochs != saved["config"]["epochs"]:
                _follow_schedule(pipeline.trainer)
        reporter = progress if ctx.is_main else None
        result = _run(pipeline, config, out, ctx, reporter)
    except BaseException:
        remove_empty_folders(created)  # a run that failed while setting up leaves no empty folder behind
        ctx.close(succeeded=False)
        raise
    ctx.close()
    return result


def _batches_done(trainer: Trainer) -> int:
    """Training batches done since the start of the run."""
    return trainer.position.epoch * trainer.train_sampler.batches_per_epoch + trainer.position.batch


def _run(
    pipeline: Pipeline, config: TrainConfig, out: Path, ctx: DistContext, progress: ProgressReporter | None
) -> TrainResult:
    trainer = pipeline.trainer
    board = None
    if config.tensorboard and ctx.is_main:
        board = TensorBoardLog(out, resumed_at=_batches_done(trainer) or None)
    try:
        return _fit_and_report(pipeline, config, out, ctx, progress, board)
    finally:
        if board is not None:
            board.close()


def _fit_and_report(
    pipeline: Pipeline, config: TrainConfig, out: Path, ctx: DistContext, progress: ProgressReporter | None,
    board: TensorBoardLog | None,
) -> TrainResult:
    trainer, meta = pipeline.trainer, pipeline.meta
    history = History(title=f"{meta.model} on {meta.dataset}")
    history.rows = trainer.rows

    def save_resume_state() -> None:
        if ctx.is_main:
            save_state(out / RESUME_FILE, {"config": config.to_dict(), "trainer": trainer.state_dict()})

    def on_batch(index: int, batches: int, loss: float) -> None:
        if progress is not None:
            progress.batch(index, batches, loss)
        if board is not None:
            board.batch(_batches_done(trainer) - 1, loss)

    def on_step() -> None:
        mid_epoch = trainer.position.batch < trainer.train_sampler.batches_per_epoch
        if config.checkpoint_every and mid_epoch and trainer.position.step % config.checkpoint_every == 0:
            save_resume_state()
        if board is not None:
            board.step(_batches_done(trainer) - 1, trainer.optimizer.param_groups[0]["lr"])

    def on_epoch(row: dict[str, float]) -> None:
        save_resume_state()
        if ctx.is_main:
            meta.metrics = {key: value for key, value in row.items() if key != "epoch"}
            save_checkpoint(out / "model", trainer.module, meta)
            history.write(out)
            if board is not None:
                board.epoch(row, _batches_done(trainer) - 1)
            if progress is not None:
                progress.end_epoch(row)

    if progress is not None:
        progress.epochs = config.epochs
    trainer.fit(
        on_epoch=on_epoch,
        on_batch=on_batch,
        on_step=on_step,
        on_epoch_start=progress.start_epoch if progress is not None else None,
    )
    test_report = pipeline.report(trainer, out, ctx.is_main)
    checkpoint = out / "model.safetensors"
    if ctx.is_main:
        scalars = {key: value for key, value in test_report.items() if isinstance(value, (int, float))}
        meta.metrics.update({f"test_{key}": value for key, value in scalars.items()})
        checkpoint = save_checkpoint(out / "model", trainer.module, meta)
        (out / "test_metrics.json").write_text(json.dumps(test_report, indent=2) + "\n")
        if board is not None:
            board.report(scalars, out, _batches_done(trainer) - 1)
    return TrainResult(
        task=config.task, test_metrics=test_report, checkpoint=checkpoint, history=history, is_main=ctx.is_main
    )
