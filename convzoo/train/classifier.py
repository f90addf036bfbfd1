"""Training an image classifier end to end: data, model, optimiser, logs, checkpoint.

``convzoo train`` calls :func:`train_classifier` with a :class:`TrainConfig`. The run
writes into ``config.out``: ``model.safetensors`` and ``model.json`` (the checkpoint,
rewritten atomically after every epoch), ``metrics.csv``, ``metrics.jsonl`` and
``curves.png``.

The optimiser is Adam with a cosine learning-rate decay to zero over the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from convzoo.data import load_dataset
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, get_entry
from convzoo.tasks.classification import ClassificationTask
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint
from convzoo.train.engine import evaluate, run_epoch
from convzoo.train.history import History
from convzoo.train.progress import ProgressReporter
from convzoo.train.seed import seed_everything

__all__ = ["TrainConfig", "TrainResult", "train_classifier"]


@dataclass
class TrainConfig:
    """Settings of one classification run; the defaults are the `make run` job."""

    model: str = "lenet5"
    dataset: str = "digits"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    augment: str = "standard"
    image_size: int | None = None  # the model's default input size when None
    out: Path = Path("runs/latest")
    device: str = "cpu"


@dataclass
class TrainResult:
    test_metrics: dict[str, float]
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


def train_classifier(config: TrainConfig, progress: ProgressReporter | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and score it on the test split."""
    entry = get_entry(config.model)
    in_chans, default_size, _ = entry.input_size
    image_size = config.image_size or default_size
    out = Path(config.out)
    _prepare_output(out)
    generator = seed_everything(config.seed)
    device = torch.device(config.device)

    splits = load_dataset(config.dataset, image_size=image_size, in_chans=in_chans, augment=config.augment)
    model_args = {"num_classes": len(splits.class_names), "in_chans": in_chans}
    model = create_model(config.model, **model_args).to(device)
    train_loader = DataLoader(splits.train, batch_size=config.batch_size, shuffle=True, generator=generator)
    val_loader = DataLoader(splits.val, batch_size=config.batch_size)
    test_loader = DataLoader(splits.test, batch_size=config.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    task = ClassificationTask()
    meta = CheckpointMeta(
        model=config.model,
        model_args=model_args,
        dataset=config.dataset,
        class_names=splits.class_names,
        mean=splits.mean,
        std=splits.std,
        input_size=[in_chans, image_size, image_size],
    )

    history = History()
    for epoch in range(1, config.epochs + 1):
        if progress is not None:
            progress.start_epoch(epoch)
        on_batch = progress.batch if progress is not None else None
        lr = optimizer.param_groups[0]["lr"]
        train = run_epoch(model, train_loader, task, device, optimizer, on_batch, splits.augment)
        schedule.step()
        val = evaluate(model, val_loader, task, device)
        row = {"epoch": epoch, "lr": lr, **{f"train_{k}": v for k, v in train.items()}, **{f"val_{k}": v for k, v in val.items()}}
        history.append(row)
        meta.metrics = {k: v for k, v in row.items() if k != "epoch"}
        checkpoint = save_checkpoint(out / "model", model, meta)
        if progress is not None:
            progress.end_epoch(row)

    test = evaluate(model, test_loader, task, device)
    meta.metrics.update({f"test_{k}": v for k, v in test.items()})
    checkpoint = save_checkpoint(out / "model", model, meta)
    history.write(out)
    return TrainResult(test_metrics=test, checkpoint=checkpoint, history=history)
