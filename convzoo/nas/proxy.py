"""The proxy task: how good a candidate is, from a short seeded training run through the engine.

Training every candidate to convergence is what made the first NAS runs cost thousands of GPU-days. A
search ranks candidates instead by a *proxy*: MnasNet trained each sampled model for 5 epochs on ImageNet;
NASNet searched on CIFAR-10 and transferred the cells. Here a candidate trains for a few epochs on a small
dataset (scikit-learn's digits by default, Fashion-MNIST when it is installed), through
:func:`convzoo.train.runner.train` like any ``convzoo train`` run, with a fixed seed and deterministic
kernels, so the same candidate scores the same every time (which a resumed search relies on). The score is
the accuracy on the *validation* split: the test split is never seen by the search, so the winner's retrained
test accuracy is an honest estimate.

Before scoring, the batch-norm statistics are recomputed on the training split with the final weights
(:func:`recalibrate_batch_norm`), as one-shot NAS does for its sub-networks (Guo et al., "Single Path One-Shot
Neural Architecture Search with Uniform Sampling", ECCV 2020). A few epochs move the weights faster than the
running averages follow (momentum 0.1): ``mobilenet_v2_cifar`` after 3 epochs on the digits at 16x16 is 96%
right on its training batches but 16% on validation with its running statistics, 94% once they are
recomputed. Without this the proxy would rank candidates by how stale their statistics are.

Each candidate's run writes into its own folder; its weights are deleted once scored (a search of hundreds
of candidates would otherwise fill the disk) and its metrics kept.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from convzoo.analysis.profile import profile
from convzoo.data import load_dataset
from convzoo.train.checkpoint import load_checkpoint
from convzoo.train.config import TrainConfig

__all__ = ["ProxyResult", "ProxyTask", "accuracy", "recalibrate_batch_norm"]


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, data: Dataset, batch_size: int = 256) -> None:
    """Recompute every batch norm's running mean and variance as exact averages over ``data``'s batches
    (inputs only), with the model's current weights; the model is left in eval mode."""
    norms = [module for module in model.modules() if isinstance(module, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the batches, not an exponential one
    model.train()
    for inputs, _ in DataLoader(data, batch_size=batch_size):
        model(inputs)
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on ``data``."""
    model.eval()
    correct = total = 0
    for inputs, targets in DataLoader(data, batch_size=batch_size):
        correct += (model(inputs).argmax(1) == targets).sum().item()
        total += len(targets)
    return correct / max(total, 1)

WEIGHT_FILES = ("model.safetensors", "resume.safetensors")


@dataclass(frozen=True)
class ProxyResult:
    """A candidate's proxy accuracy (validation, with recomputed batch-norm statistics), cost, training
    time, and the arguments that build it (with the dataset's channels and classes). ``test_accuracy``
    is recorded for reports; a search never chooses by it."""

    val_accuracy: float
    test_accuracy: float
    macs: int
    params: int
    train_seconds: float
    model_args: dict[str, Any]


@dataclass(frozen=True)
class ProxyTask:
    """A short training run that scores a network.

    Attributes:
        dataset: a dataset of :data:`convzoo.data.DATASETS`.
        image_size: side of the square inputs (their channels are the model's: a gray dataset is
            repeated for a 3-channel model, as ``convzoo train`` does).
        epochs, batch_size, lr, optimizer, schedule, augment, seed: the run's settings (TrainConfig's).
        data_dir: the dataset's files, for datasets read from disk.
    """

    dataset: str = "digits"
    image_size: int = 32
    epochs: int = 3
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    augment: str = "none"
    seed: int = 0
    data_dir: str | None = None

    def config(self, model: str, model_kwargs: dict[str, Any], out: Path) -> TrainConfig:
        return TrainConfig(
            model=model, model_kwargs=model_kwargs, dataset=self.dataset, data_dir=self.data_dir,
            image_size=self.image_size, augment=self.augment, epochs=self.epochs, batch_size=self.batch_size,
            optimizer=self.optimizer, lr=self.lr, schedule=self.schedule, seed=self.seed, deterministic=True,
            device="cpu", out=str(out),
        )

    def evaluate(self, model: str, model_kwargs: dict[str, Any], out: Path) -> ProxyResult:
        """Train ``model`` built with ``model_kwargs`` in the folder ``out`` (emptied first) and score it."""
        from convzoo.train.runner import train  # the runner imports every task: only when a candidate trains

        if out.exists():
            shutil.rmtree(out)  # a candidate cut short by a kill is trained again from the start
        started = time.monotonic()
        train(self.config(model, model_kwargs, out))
        seconds = time.monotonic() - started
        network, meta = load_checkpoint(out)
        splits = load_dataset(self.dataset, image_size=self.image_size, in_chans=meta.model_args["in_chans"],
                              augment="none", data_dir=self.data_dir)
        recalibrate_batch_norm(network, splits.train)
        scores = accuracy(network, splits.val), accuracy(network, splits.test)
        for name in WEIGHT_FILES:
            (out / name).unlink(missing_ok=True)
        cost = profile(network, (meta.model_args["in_chans"], self.image_size, self.image_size))
        return ProxyResult(*scores, cost.macs, cost.params, seconds, meta.model_args)
