"""The proxy task: how good a candidate is, from a short seeded training run through the engine.

Training every candidate to convergence is what made the first NAS runs cost thousands of GPU-days. A
search ranks candidates instead by a *proxy*: MnasNet trained each sampled model for 5 epochs on ImageNet;
NASNet searched on CIFAR-10 and transferred the cells. Here a candidate trains for a few epochs on a small
dataset (scikit-learn's digits by default, Fashion-MNIST when it is installed), through
:func:`convzoo.train.runner.train` like any ``convzoo train`` run, with a fixed seed and deterministic
kernels, so the same candidate scores the same every time (which a resumed search relies on). The score is
the accuracy on the *validation* split: the test split is never seen by the search, so the winner's retrained
test accuracy is an honest estimate.

Each candidate's run writes into its own folder; its weights are deleted once scored (a search of hundreds
of candidates would otherwise fill the disk) and its metrics kept.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convzoo.analysis.profile import profile
from convzoo.registry import create_model
from convzoo.train.config import TrainConfig

__all__ = ["ProxyResult", "ProxyTask"]

WEIGHT_FILES = ("model.safetensors", "resume.safetensors")


@dataclass(frozen=True)
class ProxyResult:
    """A candidate's proxy accuracy (validation, last epoch), cost, training time, and the arguments
    that build it (with the dataset's channels and classes)."""

    val_accuracy: float
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
        result = train(self.config(model, model_kwargs, out))
        seconds = time.monotonic() - started
        for name in WEIGHT_FILES:
            (out / name).unlink(missing_ok=True)
        model_args = json.loads((out / "model.json").read_text())["model_args"]  # with the data's classes
        network = create_model(model, **model_args)
        cost = profile(network, (model_args["in_chans"], self.image_size, self.image_size))
        return ProxyResult(float(result.history.rows[-1]["val_accuracy"]), cost.macs, cost.params, seconds,
                           model_args)
