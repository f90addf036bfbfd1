"""The task-agnostic training loop: one pass over a loader, training or evaluating.

A task supplies ``loss(output, target)`` and ``metrics(output, target)`` (batch means);
the engine runs the model, steps the optimiser and averages the results over samples.

Evaluation always runs the model in eval mode: batch norm then uses its running
statistics and dropout is off. Scoring a model in training mode (a known bug of course
notebooks) normalises each test batch by its own statistics and drops activations at
random, so the reported accuracy depends on the batch and is not the model's.
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

__all__ = ["Task", "run_epoch", "evaluate"]


class Task(Protocol):
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...

    def metrics(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]: ...


BatchCallback = Callable[[int, int, float], None]  # (batch index, batches in epoch, loss)


def run_epoch(
    model: nn.Module,
    loader: DataLoader,
    task: Task,
    device: torch.device,
    optimizer: torch.optim.Optimizer | None = None,
    on_batch: BatchCallback | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; trains when an optimiser is given, else evaluates.

    ``augment`` transforms each training batch of inputs on the device.

    Returns the sample-weighted means of the loss and of the task's metrics.
    """
    training = optimizer is not None
    model.train(training)
    totals: dict[str, float] = {}
    samples = 0
    with torch.set_grad_enabled(training):
        for index, (inputs, targets) in enumerate(loader):
            inputs, targets = inputs.to(device), targets.to(device)
            if training and augment is not None:
                inputs = augment(inputs)
            output = model(inputs)
            loss = task.loss(output, targets)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            batch = targets.shape[0]
            samples += batch
            results = {"loss": loss.item(), **task.metrics(output.detach(), targets)}
            for name, value in results.items():
                totals[name] = totals.get(name, 0.0) + value * batch
            if on_batch is not None:
                on_batch(index, len(loader), results["loss"])
    return {name: total / max(samples, 1) for name, total in totals.items()}


def evaluate(model: nn.Module, loader: DataLoader, task: Task, device: torch.device) -> dict[str, float]:
    """Score ``model`` on ``loader`` in eval mode."""
    return run_epoch(model, loader, task, device)
