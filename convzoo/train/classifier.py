"""Training an image classifier end to end: data, model, transfer learning, engine, outputs.

``convzoo train`` calls :func:`train_classifier`. The run writes into its output folder:

- ``resume.safetensors``: the whole training state (weights, optimiser, scheduler, scaler,
  random generators, position in the epoch, metrics so far), rewritten atomically at
  every epoch end and every ``checkpoint_every`` optimiser steps; ``--resume DIR``
  continues from it and ends exactly where an uninterrupted run ends;
- ``model.safetensors`` + ``model.json``: the model and what is needed to use it, for
  ``convzoo eval`` and ``convzoo predict``;
- ``metrics.csv``, ``metrics.jsonl``, ``curves.png``: one row per epoch;
- ``test_metrics.json`` and ``confusion.png``: the final test scores, per class too.

Under ``torchrun`` every process trains and only rank 0 writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from convzoo.data import NATIVE_SIZES, load_dataset
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, get_entry
from convzoo.tasks.classification import ClassificationTask, per_class_accuracy
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.confusion import plot_confusion
from convzoo.train.distributed import DistContext, init_distributed
from convzoo.train.engine import Trainer
from convzoo.train.history import History
from convzoo.train.progress import ProgressReporter
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state, save_state
from convzoo.train.transfer import freeze, load_pretrained, parse_freeze

__all__ = ["RESUME_FILE", "TrainResult", "train_classifier"]

RESUME_FILE = "resume.safetensors"


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


def _image_size(config: TrainConfig, model: torch.nn.Module, default: int) -> int:
    """The side images are fed at: the flag, else the dataset's own if the model takes it, else the model's."""
    if config.image_size:
        return config.image_size
    native = NATIVE_SIZES.get(config.dataset)
    fixed = getattr(model, "fixed_input_size", None)
    if native and fixed in (None, native) and native >= getattr(model, "min_input_size", 1):
        return native
    return fixed or default


def _build(config: TrainConfig, ctx: DistContext) -> tuple[Trainer, CheckpointMeta, ClassificationTask, Any]:
    entry = get_entry(config.model)
    in_chans, default_size, _ = entry.input_size
    with torch.device("meta"):
        probe = create_model(config.model, in_chans=in_chans)
    image_size = _image_size(config, probe, default_size)
    splits = load_dataset(
        config.dataset, image_size=image_size, in_chans=in_chans, augment=config.augment,
        data_dir=config.data_dir, download=config.download,
    )
    model_args = {"num_classes": len(splits.class_names), "in_chans": in_chans}
    model = create_model(config.model, **model_args)
    if config.pretrained:
        load_pretrained(model, config.pretrained)
    frozen = freeze(model, parse_freeze("head-only" if config.head_only else config.freeze))
    task = ClassificationTask(
        len(splits.class_names), config.label_smoothing, aux_loss_weight=getattr(model, "aux_loss_weight", 0.0)
    )
    trainer = Trainer(
        model, task, train_data=splits.train, val_data=splits.val, config=config, ctx=ctx,
        augment=splits.augment, train_mode=frozen.train_mode,
    )
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=config.dataset, class_names=splits.class_names,
        mean=splits.mean, std=splits.std, input_size=[in_chans, image_size, image_size],
        eval_crop_fraction=splits.eval_crop_fraction,
    )
    return trainer, meta, task, splits


def train_classifier(
    config: TrainConfig | None = None,
    progress: ProgressReporter | None = None,
    resume: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``config.dataset``, or continue the run saved in ``resume``."""
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
        trainer, meta, task, splits = _build(config, ctx)
        if saved is not None:
            trainer.load_state_dict(saved["trainer"])
        reporter = progress if ctx.is_main else None
        return _run(trainer, config, meta, task, splits, out, ctx, reporter)
    finally:
        ctx.close()


def _run(
    trainer: Trainer, config: TrainConfig, meta: CheckpointMeta, task: ClassificationTask, splits: Any,
    out: Path, ctx: DistContext, progress: ProgressReporter | None,
) -> TrainResult:
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
    test, sums = trainer.evaluate(splits.test, detailed=True)
    confusion = sums["confusion"].cpu()
    test_report = {
        **test,
        "per_class_accuracy": dict(zip(splits.class_names, per_class_accuracy(confusion))),
        "confusion": confusion.long().tolist(),
    }
    checkpoint = out / "model.safetensors"
    if ctx.is_main:
        meta.metrics.update({f"test_{key}": value for key, value in test.items()})
        checkpoint = save_checkpoint(out / "model", trainer.module, meta)
        (out / "test_metrics.json").write_text(json.dumps(test_report, indent=2) + "\n")
        plot_confusion(confusion, splits.class_names, out / "confusion.png")
    return TrainResult(test_metrics=test_report, checkpoint=checkpoint, history=history)
