"""The task-agnostic training engine.

A task supplies ``loss(output, target)``, ``batch_sums(output, target, detailed)``
(metric numerators summed over the batch, as tensors, so they add up across batches and
processes) and ``summarize(sums, count)``. The :class:`Trainer` does the rest: batches
in a seeded order, mixed precision, gradient accumulation and clipping, the learning-rate
schedule, data parallelism, and a state that a checkpoint can restore mid-epoch.

Evaluation always runs the model in eval mode: batch norm then uses its running
statistics and dropout is off. Scoring a model in training mode (a known bug of course
notebooks) normalises each test batch by its own statistics and drops activations at
random, so the reported accuracy depends on the batch and is not the model's.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, TensorDataset

from convzoo.errors import ConvzooError
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.optim import build_optimizer, build_scheduler
from convzoo.train.sampler import EpochBatchSampler

__all__ = ["Task", "Trainer", "TrainingDivergedError", "RunPosition", "evaluate", "make_loader"]


class Task(Protocol):
    """A task's loss and metrics; ``batch_sums`` detaches the output itself."""

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]: ...

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]: ...


class TrainingDivergedError(ConvzooError):
    """The loss became NaN or infinite."""


@dataclass
class RunPosition:
    """How far a run has got: what a resumed run skips."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed in the current epoch
    step: int = 0  # optimiser steps completed in the run


def make_loader(
    dataset: Dataset, sampler: EpochBatchSampler, workers: int = 0, pin_memory: bool = False,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """A loader over ``sampler``'s batches; in-memory tensors are fetched a whole batch at a time.

    The loader draws its workers' seeds from ``generator`` (a fresh one by default), never
    from the global generator, whose state belongs to augmentation and dropout and is
    saved in checkpoints.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    if isinstance(dataset, TensorDataset):
        return DataLoader(dataset, sampler=sampler, batch_size=None, pin_memory=pin_memory, generator=generator)
    return DataLoader(
        dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory, generator=generator,
    )


def _rng_state() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimiser state dict read back from JSON, whose integer keys became strings."""
    return {**state, "state": {int(key): value for key, value in state["state"].items()}}


def _accumulate(totals: dict[str, torch.Tensor], sums: dict[str, torch.Tensor]) -> None:
    for name, value in sums.items():
        totals[name] = totals[name] + value if name in totals else value.clone()


def _summarize(
    task: Task, ctx: DistContext, totals: dict[str, torch.Tensor], loss_sum: torch.Tensor, count: int
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Metrics from numerators summed over all processes, and those sums."""
    reduced = {name: ctx.all_reduce_sum(value.clone()) for name, value in sorted(totals.items())}
    loss_sum = ctx.all_reduce_sum(loss_sum.clone())
    total = int(ctx.all_reduce_sum(torch.tensor(float(count), device=ctx.device)).item())
    return {"loss": loss_sum.item() / max(total, 1), **task.summarize(reduced, total)}, reduced


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    task: Task,
    *,
    ctx: DistContext | None = None,
    batch_size: int = 256,
    workers: int = 0,
    detailed: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Score ``model`` on ``data`` in eval mode: the metrics and the summed numerators behind them.

    Under data parallelism each process scores its share and the sums are added up.
    """
    ctx = ctx or DistContext(device=next(model.parameters()).device)
    sampler = EpochBatchSampler(len(data), batch_size, shuffle=False, rank=ctx.rank, world_size=ctx.world_size)
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    loss_sum, count = torch.zeros((), device=ctx.device), 0
    for inputs, targets in make_loader(data, sampler, workers):
        if targets.shape[0] == 0:
            continue
        inputs, targets = inputs.to(ctx.device), targets.to(ctx.device)
        if inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=memory_format)
        with autocast():
            output = model(inputs)
        if isinstance(output, torch.Tensor):  # eval mode: the logits alone (torchvision-style segmenters: a dict)
            output = output.float()
        loss_sum += task.loss(output, targets) * targets.shape[0]
        count += targets.shape[0]
        _accumulate(totals, task.batch_sums(output, targets, detailed))
    return _summarize(task, ctx, totals, loss_sum, count)


class Trainer:
    """Trains ``model`` on ``train_data`` for ``config.epochs`` epochs.

    Args:
        model: the network (unwrapped); moved to the context's device.
        task: loss and metrics.
        train_data, val_data: datasets of ``(input, target)``.
        config: the run's settings (optimiser, schedule, precision, ...).
        ctx: the process's place in a distributed run.
        augment: a transform of whole training batches on the device, or ``None``.
        train_mode: sets the model's train/eval mode; the default is ``model.train``,
            transfer learning passes one that keeps frozen norms in eval mode.
        train_sampler: the training batches, any sampler with :class:`EpochBatchSampler`'s
            interface (metric learning passes P x K batches); the default shuffles
            ``train_data`` into batches of ``config.batch_size``.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        *,
        train_data: Dataset,
        val_data: Dataset,
        config: TrainConfig,
        ctx: DistContext,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        train_mode: Callable[[nn.Module, bool], None] | None = None,
        train_sampler: EpochBatchSampler | None = None,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.task = task
        self.augment = augment
        self.train_mode = train_mode or (lambda module, training: module.train(training))
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        if config.sync_bn and ctx.distributed:
            if ctx.device.type != "cuda":
                raise ConvzooError("--sync-bn needs GPUs: PyTorch's SyncBatchNorm runs only on CUDA devices")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.module = model.to(ctx.device, memory_format=self.memory_format)
        wrapped = DistributedDataParallel(self.module) if ctx.distributed else self.module
        self.model = torch.compile(wrapped) if config.compile else wrapped
        self.eval_model = torch.compile(self.module) if config.compile else self.module

        self.train_sampler = train_sampler or EpochBatchSampler(
            len(train_data), config.batch_size, seed=config.seed, shuffle=True,
            drop_last=len(train_data) >= config.batch_size, rank=ctx.rank, world_size=ctx.world_size,
        )
        pin = ctx.device.type == "cuda"
        self.loader_generator = torch.Generator()
        self.train_loader = make_loader(train_data, self.train_sampler, config.workers, pin, self.loader_generator)
        self.val_data = val_data
        batches = self.train_sampler.batches_per_epoch
        self.steps_per_epoch = -(-batches // config.accum_steps)
        trainable = [p for p in self.module.parameters() if p.requires_grad]
        if not trainable:
            raise ConvzooError("nothing to train: every parameter of the model is frozen")
        self.optimizer = build_optimizer(trainable, config)
        self.scheduler = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=self.amp_dtype == torch.float16)
        self.position = RunPosition()
        self.rows: list[dict[str, float]] = []
        self.epoch_sums = self._empty_sums()  # the current epoch's metric numerators so far

    def _empty_sums(self) -> dict[str, Any]:
        return {"totals": {}, "loss": torch.zeros((), device=self.ctx.device), "count": 0}

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.config.amp:
            return None
        if self.config.amp_dtype is not None:
            return getattr(torch, self.config.amp_dtype)
        return torch.float16 if self.ctx.device.type == "cuda" else torch.bfloat16

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=self.amp_dtype)

    def _to_device(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = inputs.to(self.ctx.device, non_blocking=True)
        if inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=self.memory_format)
        return inputs, targets.to(self.ctx.device, non_blocking=True)

    # ---- state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue bit for bit."""
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": _rng_state(),
            "position": asdict(self.position),
            "rows": self.rows,
            "epoch_sums": self.epoch_sums,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(_optimizer_state(state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.position = RunPosition(**state["position"])
        self.rows = list(state["rows"])
        sums = state["epoch_sums"]
        self.epoch_sums = {
            "totals": {name: value.to(self.ctx.device) for name, value in sums["totals"].items()},
            "loss": sums["loss"].to(self.ctx.device),
            "count": sums["count"],
        }

    # ---- training ----------------------------------------------------------------------

    def _optimizer_step(self) -> None:
        if self.config.clip_grad is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.position.step += 1

    def _check_finite(self, loss: float) -> None:
        if not np.isfinite(loss):
            position = self.position
            raise TrainingDivergedError(
                f"loss became {loss} at epoch {position.epoch + 1}, batch {position.batch + 1} "
                f"(optimiser step {position.step + 1}); training stopped, the last checkpoint written is kept"
            )

    def train_epoch(
        self,
        on_batch: Callable[[int, int, float], None] | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> dict[str, float]:
        """Train from the current position to the end of the epoch; returns its metrics.

        ``on_batch(index, batches, loss)`` follows every batch; ``on_step()`` follows
        every optimiser step (checkpoints hook in there).
        """
        config, accum = self.config, self.config.accum_steps
        self.train_sampler.set_epoch(self.position.epoch, self.position.batch)
        self.loader_generator.manual_seed(config.seed * 7919 + self.position.epoch)  # the workers' seeds
        self.train_mode(self.module, True)
        batches = self.train_sampler.batches_per_epoch
        if self.position.batch == 0:
            self.epoch_sums = self._empty_sums()
        sums = self.epoch_sums
        for inputs, targets in self.train_loader:
            inputs, targets = self._to_device(inputs, targets)
            if self.augment is not None:
                inputs = self.augment(inputs)
            last_of_group = (self.position.batch + 1) % accum == 0 or self.position.batch + 1 == batches
            sync = contextlib.nullcontext() if last_of_group or not self.ctx.distributed else self.model.no_sync()
            with sync:
                with self._autocast():
                    output = self.model(inputs)
                    loss = self.task.loss(output, targets)
                mean_loss = self.ctx.all_reduce_sum(loss.detach().float().clone()) / self.ctx.world_size
                self._check_finite(mean_loss.item())
                self.scaler.scale(loss / accum).backward()
            _accumulate(sums["totals"], self.task.batch_sums(output, targets))
            sums["loss"] += loss.detach().float() * targets.shape[0]
            sums["count"] += targets.shape[0]
            self.position.batch += 1
            if on_batch is not None:
                on_batch(self.position.batch - 1, batches, mean_loss.item())
            if last_of_group:
                self._optimizer_step()
                if on_step is not None:
                    on_step()
        self.position.epoch += 1
        self.position.batch = 0
        metrics, _ = _summarize(self.task, self.ctx, sums["totals"], sums["loss"], sums["count"])
        return metrics

    def evaluate(self, data: Dataset, detailed: bool = False) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """Metrics of ``data`` in eval mode, and the summed numerators they came from."""
        return evaluate(
            self.eval_model, data, self.task, ctx=self.ctx, batch_size=max(self.config.batch_size, 256),
            workers=self.config.workers, detailed=detailed, autocast=self._autocast,
            memory_format=self.memory_format,
        )

    def fit(
        self,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
        on_batch: Callable[[int, int, float], None] | None = None,
        on_step: Callable[[], None] | None = None,
        on_epoch_start: Callable[[int], None] | None = None,
    ) -> list[dict[str, float]]:
        """Train the remaining epochs; ``on_epoch(row)`` follows each with its metrics row."""
        while self.position.epoch < self.config.epochs:
            if on_epoch_start is not None:
                on_epoch_start(self.position.epoch + 1)
            first_step = self.position.epoch * self.steps_per_epoch  # the same when resumed mid-epoch
            lr = self.scheduler.base_lrs[0] * self.scheduler.lr_lambdas[0](first_step)
            train = self.train_epoch(on_batch, on_step)
            val, _ = self.evaluate(self.val_data)
            row = {
                "epoch": self.position.epoch, "lr": lr,
                **{f"train_{k}": v for k, v in train.items()},
                **{f"val_{k}": v for k, v in val.items()},
            }
            self.rows.append(row)
            if on_epoch is not None:
                on_epoch(row)
        return self.rows
