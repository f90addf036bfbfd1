"""Optimisers, schedules with warmup, and recipes."""

from __future__ import annotations

import math

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.train.config import TASK_DEFAULTS, TrainConfig, resolve_config
from convzoo.train.optim import build_optimizer, build_scheduler, lr_factor


@pytest.mark.parametrize("name, kind", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizers(name, kind):
    config = TrainConfig(optimizer=name, lr=0.05, weight_decay=1e-4, nesterov=True)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], config)
    assert isinstance(optimizer, kind)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.05 and group["weight_decay"] == 1e-4
    if name == "sgd":
        assert group["momentum"] == 0.9 and group["nesterov"]


def factors(config: TrainConfig, steps_per_epoch: int) -> list[float]:
    factor = lr_factor(config, steps_per_epoch)
    return [factor(step) for step in range(config.epochs * steps_per_epoch)]


def test_warmup_then_cosine():
    values = factors(TrainConfig(epochs=4, warmup_epochs=1, schedule="cosine"), steps_per_epoch=10)
    assert values[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert values[10] == pytest.approx(1.0)
    assert values[25] == pytest.approx(0.5 * (1 + math.cos(math.pi * 15 / 30)))
    assert all(a >= b for a, b in zip(values[10:], values[11:]))


def test_step_and_multistep():
    step = factors(TrainConfig(epochs=6, schedule="step", step_size=2, gamma=0.5), steps_per_epoch=3)
    assert step[::3] == pytest.approx([1, 1, 0.5, 0.5, 0.25, 0.25])
    multi = factors(TrainConfig(epochs=6, schedule="multistep", milestones=[1, 4], gamma=0.1), steps_per_epoch=2)
    assert multi[::2] == pytest.approx([1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert set(factors(TrainConfig(epochs=2, schedule="constant"), 5)) == {1.0}


def test_scheduler_drives_the_optimizer():
    config = TrainConfig(epochs=2, lr=1.0, warmup_epochs=1, schedule="constant", optimizer="sgd")
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=4)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_recipe_then_flags():
    config = resolve_config("mobilenet_cifar", model="resnet18", epochs=2)
    assert (config.optimizer, config.lr, config.batch_size, config.dataset) == ("adam", 1e-3, 128, "cifar10")
    assert config.epochs == 2 and config.model == "resnet18" and config.augment == "standard"
    assert resolve_config(None, lr=None).lr == TrainConfig().lr


def test_task_defaults_come_before_the_recipe_and_the_flags():
    assert resolve_config(task="hyperspectral").batch_size == TASK_DEFAULTS["hyperspectral"]["batch_size"]
    assert resolve_config("mobilenet_cifar", task="hyperspectral").batch_size == 128
    assert resolve_config(task="hyperspectral", batch_size=8).batch_size == 8
    assert resolve_config().batch_size == TrainConfig().batch_size


def test_bad_settings_are_explained():
    with pytest.raises(ConvzooError, match="unknown recipe 'fast'; available"):
        resolve_config("fast")
    with pytest.raises(ConvzooError, match="unknown optimizer"):
        resolve_config(optimizer="lbfgs")
    with pytest.raises(ConvzooError, match="unknown schedule"):
        resolve_config(schedule="linear")
