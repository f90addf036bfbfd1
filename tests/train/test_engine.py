"""The training engine: accumulation, precision, memory format, clipping, divergence, resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from convzoo.errors import ConvzooError
from convzoo.models._classifier import AuxLogits
from convzoo.tasks.classification.objective import ClassificationTask
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer, TrainingDivergedError, evaluate


def data(size: int = 256, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(size, 1, 8, 8, generator=generator), torch.randint(0, 5, (size,), generator=generator))


def small_net(norm: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 4, 3, padding=1)]
    layers += [nn.BatchNorm2d(4)] if norm else []
    layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)]
    return nn.Sequential(*layers)


def trainer(model: nn.Module, train=None, task=None, **settings) -> Trainer:
    config = TrainConfig(**{"epochs": 1, "batch_size": 64, "optimizer": "sgd", "lr": 0.1, "schedule": "constant", **settings})
    return Trainer(model, task or ClassificationTask(5), train_data=train or data(), val_data=data(64, seed=1),
                   config=config, ctx=DistContext())


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_accumulation_equals_the_larger_batch():
    whole = trainer(small_net(), batch_size=64)
    whole.train_epoch()
    accumulated = trainer(small_net(), batch_size=32, accum_steps=2)
    accumulated.train_epoch()
    assert accumulated.position.step == whole.position.step == 4
    for a, b in zip(weights(whole.module), weights(accumulated.module)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_channels_last_gives_the_same_training():
    plain, fast = trainer(small_net(True)), trainer(small_net(True), channels_last=True)
    plain.train_epoch()
    fast.train_epoch()
    assert fast.module[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(weights(plain.module), weights(fast.module)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_bf16_autocast_on_cpu_trains():
    run = trainer(small_net(), amp=True)
    assert run.amp_dtype == torch.bfloat16 and not run.scaler.is_enabled()
    before = weights(run.module)
    metrics = run.train_epoch()
    assert torch.isfinite(torch.tensor(metrics["loss"]))
    assert not torch.equal(before[0], run.module[0].weight)


def test_gradient_clipping_bounds_the_update():
    run = trainer(small_net(), lr=1.0, momentum=0.0, clip_grad=1e-3, batch_size=256)
    before = torch.cat([p.flatten() for p in weights(run.module)])
    run.train_epoch()
    after = torch.cat([p.detach().flatten() for p in run.module.parameters()])
    assert (after - before).norm() <= 1e-3 + 1e-7


def test_label_smoothing_reaches_the_loss():
    logits, targets = torch.randn(6, 5), torch.randint(0, 5, (6,))
    expected = nn.functional.cross_entropy(logits, targets, label_smoothing=0.1)
    assert torch.equal(ClassificationTask(5, label_smoothing=0.1).loss(logits, targets), expected)


def test_auxiliary_heads_add_weighted_losses_and_metrics_use_the_main_head():
    logits, aux1, aux2 = torch.randn(3, 6, 5).unbind(0)
    targets = torch.randint(0, 5, (6,))
    task = ClassificationTask(5, aux_loss_weight=0.3)
    ce = nn.functional.cross_entropy
    expected = ce(logits, targets) + 0.3 * ce(aux1, targets) + 0.3 * ce(aux2, targets)
    torch.testing.assert_close(task.loss(AuxLogits(logits, (aux1, aux2)), targets), expected)
    assert torch.equal(task.batch_sums(AuxLogits(logits, (aux1,)), targets)["top1"], task.batch_sums(logits, targets)["top1"])


class WithAuxHead(nn.Module):
    """Returns AuxLogits in training mode, like GoogLeNet; the aux head learns only through the aux loss."""

    def __init__(self) -> None:
        super().__init__()
        self.body = small_net()
        self.aux = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
        self.aux_loss_weight = 0.3

    def forward(self, x):
        logits = self.body(x)
        return AuxLogits(logits, (self.aux(x),)) if self.training else logits


def test_trainer_trains_auxiliary_heads():
    model = WithAuxHead()
    before = model.aux[1].weight.detach().clone()
    run = trainer(model, task=ClassificationTask(5, aux_loss_weight=0.3), batch_size=32)
    metrics = run.train_epoch()
    assert 0 <= metrics["accuracy"] <= 1 and metrics["loss"] > 0
    assert not torch.equal(before, model.aux[1].weight)
    assert evaluate(model, data(64, seed=1), ClassificationTask(5), batch_size=32)[0]["accuracy"] >= 0


class NanAfter(ClassificationTask):
    """A loss that turns NaN at its ``bad``-th call."""

    def __init__(self, bad: int) -> None:
        super().__init__(5)
        self.calls, self.bad = 0, bad

    def loss(self, logits, targets):
        self.calls += 1
        loss = super().loss(logits, targets)
        return loss * float("nan") if self.calls == self.bad else loss


def test_nan_loss_stops_with_the_step_named():
    run = trainer(small_net(), task=NanAfter(bad=3), batch_size=32)
    before = weights(run.module)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at epoch 1, batch 3 \(optimiser step 3\)"):
        run.train_epoch()
    assert run.position.step == 2
    assert all(torch.isfinite(p).all() for p in run.module.parameters())
    assert not torch.equal(before[0], run.module[0].weight)


def test_metrics_top5_and_confusion():
    task = ClassificationTask(6)
    logits = torch.eye(6)[[0, 1, 2, 3, 4, 5, 0]] * 10
    targets = torch.tensor([0, 1, 2, 3, 4, 5, 1])
    sums = task.batch_sums(logits, targets, detailed=True)
    assert sums["top1"].item() == 6 and sums["confusion"][1, 0].item() == 1 and sums["confusion"].sum().item() == 7
    assert task.summarize(sums, 7)["accuracy"] == pytest.approx(6 / 7)
    assert "top5" not in ClassificationTask(3).batch_sums(torch.randn(2, 3), torch.tensor([0, 1]))


def test_evaluation_is_in_eval_mode_and_independent_of_batch_size():
    model = small_net(norm=True)
    run = trainer(model)
    run.train_epoch()
    model.train()
    small, _ = evaluate(model, data(100, seed=2), ClassificationTask(5), batch_size=7)
    large, _ = evaluate(model, data(100, seed=2), ClassificationTask(5), batch_size=100)
    assert not model.training
    assert small["accuracy"] == large["accuracy"]
    assert small["loss"] == pytest.approx(large["loss"], rel=1e-5)


class Interrupt(Exception):
    pass


def test_resume_mid_epoch_ends_bit_for_bit_where_an_uninterrupted_run_ends():
    settings = dict(epochs=3, batch_size=32, optimizer="adam", lr=1e-2, schedule="cosine", warmup_epochs=0.5)
    augment = lambda x: x + 0.1 * torch.randn_like(x)  # noqa: E731  (draws from the global generator)

    def fresh() -> Trainer:
        torch.manual_seed(0)
        run = trainer(small_net(norm=True), **settings)
        run.augment = augment
        return run

    full = fresh()
    full.fit()

    first = fresh()
    saved = {}

    def stop_after_step_11():
        if first.position.step == 11:
            saved.update(first.state_dict())
            raise Interrupt

    with pytest.raises(Interrupt):
        first.fit(on_step=stop_after_step_11)
    torch.manual_seed(123)  # a resumed process starts from some other random state
    second = fresh()
    second.load_state_dict(saved)
    assert second.position.epoch == 1 and second.position.batch == 3
    second.fit()
    for a, b in zip(weights(full.module), weights(second.module)):
        assert torch.equal(a, b)
    assert second.rows == full.rows


def test_sync_bn_on_cpu_processes_is_refused_clearly():
    config = TrainConfig(sync_bn=True)
    with pytest.raises(ConvzooError, match="--sync-bn needs GPUs"):
        Trainer(small_net(True), ClassificationTask(5), train_data=data(), val_data=data(8), config=config,
                ctx=DistContext(rank=0, world_size=2))
