"""The settings of a training run, and the named recipes that preset them.

A run's settings are resolved in three layers: :class:`TrainConfig`'s defaults, then a
recipe's values (``--recipe NAME``), then every flag the user gave. The resolved config
is stored in the checkpoint, so ``--resume`` continues with exactly the same settings.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from convzoo.errors import ConvzooError

__all__ = ["TrainConfig", "RECIPES", "resolve_config"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "multistep", "constant")


@dataclass
class TrainConfig:
    """Everything that decides a classification run; the defaults are the `make run` job."""

    model: str = "lenet5"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # builder options, e.g. {"attn_layer": "cbam"}
    task: str = "classification"  # a key of convzoo.train.runner.PIPELINES
    dataset: str | None = None  # None: the task's embedded default (classification: "digits")
    data_dir: str | None = None
    download: bool = False
    image_size: int | None = None  # None: the dataset's native size if the model takes it, else the model's
    augment: str = "standard"
    workers: int = 0

    epochs: int = 20
    batch_size: int = 64  # global: split across processes under DDP
    optimizer: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "cosine"
    step_size: int = 30  # epochs between decays of the step schedule
    milestones: list[int] = field(default_factory=lambda: [30, 60, 90])
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    clip_grad: float | None = None
    accum_steps: int = 1

    amp: bool = False
    amp_dtype: str | None = None  # None: bfloat16 on CPU, float16 on CUDA
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    sync_bn: bool = False

    pretrained: str | None = None
    freeze: str = "none"
    head_only: bool = False

    # --task denoise (convzoo.train.denoiser)

    # --task hyperspectral (convzoo.train.hyperspectral)

    seed: int = 0
    deterministic: bool = False
    out: str = "runs/latest"
    checkpoint_every: int = 0  # optimiser steps between mid-epoch checkpoints; 0: epoch ends only

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (paths as strings)."""
        return {key: str(value) if isinstance(value, os.PathLike) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConvzooError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConvzooError(f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.accum_steps < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ConvzooError("epochs, batch size and accumulation steps must be at least 1")
        if self.amp_dtype not in (None, "bfloat16", "float16"):
            raise ConvzooError(f"unknown amp dtype {self.amp_dtype!r}; expected bfloat16 or float16")


# Presets from the course notes and reference scripts; any flag overrides them.
RECIPES: dict[str, dict[str, Any]] = {
    "default": {},
    # The CNN course's MobileNet V1/V2 setup on CIFAR-10: Adam at a constant 1e-3,
    # batch 128, 10 epochs, padded random crop and horizontal flip.
    "mobilenet_cifar": dict(
        dataset="cifar10", optimizer="adam", lr=1e-3, batch_size=128, epochs=10,
        schedule="constant", augment="standard",
    ),
    # torchvision's reference ImageNet recipe for ResNets, scaled down to any dataset.
    "resnet_sgd": dict(
        optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=256,
        epochs=90, schedule="step", step_size=30, gamma=0.1,
    ),
}


def resolve_config(recipe: str | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then ``recipe``'s values, then ``overrides`` (``None`` values are ignored)."""
    name = recipe or "default"
    if name not in RECIPES:
        raise ConvzooError(f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}")
    config = replace(TrainConfig(), **RECIPES[name])
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    config.validate()
    return config
