"""A training run of any task, end to end: output folder, seeding, resume, checkpoints, test.

``convzoo train`` calls :func:`train`. A task plugs in through a :class:`Pipeline`, built
by the module named in :data:`PIPELINES` for ``config.task``: its data, model and engine,
the checkpoint metadata, and a ``report`` that scores the test split and writes the
task's own files. The run writes into its output folder:

- ``resume.safetensors``: the whole training state (weights, optimiser, scheduler, scaler,
  random generators, position in the epoch, metrics so far), rewritten atomically at
  every epoch end and every ``checkpoint_every`` optimiser steps; ``--resume DIR``
  continues from it and ends exactly where an uninterrupted run ends;
- ``model.safetensors`` + ``model.json``: the model and what is needed to use it, for
  ``convzoo eval`` and ``convzoo predict``;
- ``metrics.csv``, ``metrics.jsonl``, ``curves.png``: one row per epoch;
- ``test_metrics.json`` and the task's files (a classifier's ``confusion.png``).

Under ``torchrun`` every process trains and only rank 0 writes.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from convzoo.errors import ConvzooError
from convzoo.registry import create_model
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext, init_distributed
from convzoo.train.engine import Trainer
from convzoo.train.history import History
from convzoo.train.progress import ProgressReporter
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state, save_state

__all__ = ["PIPELINES", "Pipeline", "RESUME_FILE", "TrainResult", "build_model", "train"]

RESUME_FILE = "resume.safetensors"

# Task name -> module whose ``build(config, ctx)`` returns the task's Pipeline.
PIPELINES = {
    "classification": "convzoo.train.classifier",
    "denoise": "convzoo.train.denoiser",
    "hyperspectral": "convzoo.train.hyperspectral",
}


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
    test_metrics: dict[str, Any]
    checkpoint: Path
    history: History = field(repr=False)


def _prepare_output(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ConvzooError(f"cannot write to output folder {folder}: {error.strerror or error}") from None


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
    if config.task not in PIPELINES:
        raise ConvzooError(f"unknown task {config.task!r}; expected one of {', '.join(sorted(PIPELINES))}")
    return importlib.import_module(PIPELINES[config.task]).build(config, ctx)


def train(
    config: TrainConfig | None = None,
    progress: ProgressReporter | None = None,
    resume: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``config.model`` for ``config.task``, or continue the run saved in ``resume``."""
    saved = load_state(Path(resume) / RESUME_FILE) if resume is not None else None
    if saved is not None:
        config = TrainConfig.from_dict(saved["config"])
    config = config or TrainConfig()
    config.validate()
    out = Path(resume) if resume is not None else Path(config.out)
    ctx = init_distributed(config.device)
    try:
        if ctx.is_main:
            _prepare_output(out)
        if config.deterministic:
            _make_deterministic()
        seed_everything(config.seed)
        pipeline = build_pipeline(config, ctx)
        if saved is not None:
            pipeline.trainer.load_state_dict(saved["trainer"])
        reporter = progress if ctx.is_main else None
        return _run(pipeline, config, out, ctx, reporter)
    finally:
        ctx.close()


def _run(
    pipeline: Pipeline, config: TrainConfig, out: Path, ctx: DistContext, progress: ProgressReporter | None
) -> TrainResult:
    trainer, meta = pipeline.trainer, pipeline.meta
    history = History()
    history.rows = trainer.rows

    def save_resume_state() -> None:
        if ctx.is_main:
            save_state(out / RESUME_FILE, {"config": config.to_dict(), "trainer": trainer.state_dict()})

    def on_step() -> None:
        mid_epoch = trainer.position.batch < trainer.train_sampler.batches_per_epoch
        if config.checkpoint_every and mid_epoch and trainer.position.step % config.checkpoint_every == 0:
            save_resume_state()

    def on_epoch(row: dict[str, float]) -> None:
        save_resume_state()
        if ctx.is_main:
            meta.metrics = {key: value for key, value in row.items() if key != "epoch"}
            save_checkpoint(out / "model", trainer.module, meta)
            history.write(out)
            if progress is not None:
                progress.end_epoch(row)

    if progress is not None:
        progress.epochs = config.epochs
    trainer.fit(
        on_epoch=on_epoch,
        on_batch=progress.batch if progress is not None else None,
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
    return TrainResult(test_metrics=test_report, checkpoint=checkpoint, history=history)
