"""Optimisers and learning-rate schedules.

The schedule is a function of the optimiser step, not the epoch, so warmup ramps
smoothly and a run resumed mid-epoch continues on the same curve:

- warmup: the rate rises linearly from ``lr / warmup_steps`` to ``lr``;
- then ``cosine`` decays to zero over the remaining steps (Loshchilov and Hutter 2017),
  ``step`` multiplies by ``gamma`` every ``step_size`` epochs, ``multistep`` at each
  milestone epoch, ``constant`` keeps it.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from convzoo.train.config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(parameters: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam or AdamW with the config's rate and weight decay."""
    parameters = list(parameters)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            parameters, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The multiplier of the base rate at each optimiser step (0-based)."""
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        epoch = step // steps_per_epoch
        if config.schedule == "cosine":
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if config.schedule == "step":
            return config.gamma ** (epoch // config.step_size)
        if config.schedule == "multistep":
            return config.gamma ** sum(epoch >= milestone for milestone in config.milestones)
        return 1.0

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> LambdaLR:
    """A scheduler stepped once per optimiser step."""
    return LambdaLR(optimizer, lr_factor(config, steps_per_epoch))
