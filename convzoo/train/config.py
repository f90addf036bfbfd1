"""The settings of a training run, and the named recipes that preset them.

A run's settings are resolved in three layers: :class:`TrainConfig`'s defaults, then a
recipe's values (``--recipe NAME``), then every flag the user gave. The resolved config
is stored in the checkpoint, so ``--resume`` continues with exactly the same settings
(``--epochs`` alone may change with it: the run's new length). :meth:`TrainConfig.validate`
checks every setting before a run writes or loads anything.

Importing this module imports no torch (``convzoo train --help`` shows its defaults): the registry and
the transfer-learning parser it checks settings against are imported when a config is validated.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

from convzoo.data.names import AUGMENTATIONS
from convzoo.errors import ConvzooError

__all__ = ["RECIPES", "TASK_DEFAULTS", "TrainConfig", "resolve_config"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "multistep", "constant")


@dataclass
class TrainConfig:
    """Everything that decides a classification run; the defaults are the `make run` job."""

    model: str = "lenet5"
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # builder options, e.g. {"attn_layer": "cbam"}
    task: str = "classification"  # a key of convzoo.tasks.TASKS
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

    # knowledge distillation of a classifier (convzoo.tasks.classification.distillation)
    teacher: str | None = None  # a classifier checkpoint whose soft targets the model learns from; None: no teacher
    kd_temperature: float = 4.0  # softmax temperature T of the soft targets (Hinton et al. 2015)
    kd_alpha: float = 0.9  # weight of the soft-target loss; 1 - kd_alpha weighs the labels' cross-entropy

    # --task denoise (convzoo.tasks.denoise)
    sigma: float | None = None  # noise std on the 0-255 scale; None: blind, one level per patch from [0, 55]
    patch_size: int = 40  # side of the training patches (DnCNN-S 40, DnCNN-B 50)
    patch_stride: int = 10  # pixels between the grid positions patches are cut at
    patches_per_epoch: int = 128  # drawn once from the grid (paper DnCNN-S: 128 x 1600 = 204,800)

    # --task hyperspectral (convzoo.tasks.hyperspectral)
    pca_components: int = 30  # spectral components kept by PCA (the model's in_chans)
    window: int = 25  # side of the patch centred on each pixel (odd)
    train_ratio: float = 0.3  # share of each class's labelled pixels for training (paper 0.3, course 0.1)
    split_seed: int = 0  # seed of the train/test split; fixed so that runs with other --seed share a test set
    border: str = "zero"  # padding beyond the scene's edges: zero (the paper's code) or reflect
    scene_size: int = 40  # side of the synthetic scene
    scene_map: str = "all"  # the report's classification map: all pixels, labelled ones only, or none

    # --task segmentation (convzoo.tasks.segmentation)
    dice_weight: float = 1.0  # loss = cross-entropy + dice_weight * soft Dice (0: cross-entropy alone)
    aux_weight: float = 0.5  # weight of an auxiliary head's loss (torchvision's FCN "aux"; torchvision's 0.5)

    # --task metric (convzoo.tasks.metric)
    loss: str = "triplet"  # triplet, contrastive (Hadsell et al. 2006) or koch (cross-entropy on pair scores)
    mining: str = "batch_hard"  # the triplet loss's: batch_hard, batch_all or semihard
    margin: float | None = None  # None: the loss's own (triplet 0.2, contrastive 1.0)
    classes_per_batch: int | None = None  # P of the P x K batches; None: every training class, at most 16
    samples_per_class: int = 4  # K of the P x K batches

    # --task pose (convzoo.tasks.pose)
    bottom_up: bool = False  # whole multi-person images with part affinity fields (OpenPose), not person crops
    heatmap_sigma: float | None = None  # Gaussian targets, heatmap pixels; None: 2 top-down, 7/8 bottom-up
    pose_images: int = 1024  # synthetic training images of the embedded default; val and test get a quarter each

    # --task video (convzoo.tasks.video)
    clip_length: int = 16  # frames per clip (C3D and torchvision's video models: 16)
    frame_stride: int = 1  # distance between consecutive frames of a clip read from video files
    eval_clips: int = 10  # evenly spaced clips per test video whose scores are averaged (C3D's 10)
    split: int = 1  # UCF101's train/test split: 1, 2 or 3
    video_clips: int = 4800  # training clips of the generated moving digits; val and test get an eighth each

    # --task crossmodal (convzoo.tasks.crossmodal)
    crossmodal_alpha: float = 1e-3  # weight of DSCMR's common-space loss J2 (the released code's)
    crossmodal_beta: float = 1e-1  # weight of DSCMR's modality-invariance loss J3 (the released code's)
    crossmodal_ablate: str = "none"  # a loss left out (the paper's ablation): none, label, common or invariance
    image_encoder: str = "resnet18"  # --dataset image-text: the zoo CNN whose pooled features the images become
    image_encoder_weights: str | None = None  # its checkpoint (torchvision, timm, convzoo); None: random (tests only)
    image_encoder_finetune: bool = False  # --dataset image-text: train the CNN with DSCMR's losses, not frozen

    # --task gait (convzoo.tasks.gait; P x K and the margin are the metric task's fields)
    frames_per_set: int = 30  # silhouettes drawn with replacement from each training sequence (the paper's 30)
    sets_per_epoch: int | None = None  # sets an epoch draws, in P x K batches; None: one per training sequence
    gait_subjects: int | None = None  # --dataset walkers: generated walkers (the first 60% train); None: 40
    gait_frames: int | None = None  # --dataset walkers: frames of each generated sequence; None: 16
    gait_train_subjects: int | None = None  # the first N subjects train; None: the protocol's (CASIA-B 74: LT)

    seed: int = 0
    deterministic: bool = False
    out: str = "runs/latest"
    checkpoint_every: int = 0  # optimiser steps between mid-epoch checkpoints; 0: epoch ends only
    tensorboard: bool = False  # also log to OUT/tensorboard (pip install 'convzoo[tensorboard]')

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (paths as strings)."""
        return {key: str(value) if isinstance(value, os.PathLike) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def validate(self) -> None:
        """Refuse settings that cannot train, before the run creates or loads anything."""
        from convzoo.train.transfer import parse_freeze

        if self.optimizer not in OPTIMIZERS:
            raise ConvzooError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConvzooError(f"unknown schedule {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        if self.amp_dtype not in (None, "bfloat16", "float16"):
            raise ConvzooError(f"unknown amp dtype {self.amp_dtype!r}; expected bfloat16 or float16")
        if self.augment not in AUGMENTATIONS:
            raise ConvzooError(f"unknown augmentation {self.augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
        self._check_numbers()
        self._check_task()
        self._check_pretrained()
        self._check_teacher()
        parse_freeze("head-only" if self.head_only else self.freeze)

    def _check_numbers(self) -> None:
        for name, allowed, expected in NUMERIC_RANGES:
            value = getattr(self, name)
            if value is None:
                continue
            if not math.isfinite(value):
                raise ConvzooError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
            if not allowed(value):
                raise ConvzooError(f"--{name.replace('_', '-')} must be {expected}, got {value}")
        if any(milestone < 1 for milestone in self.milestones):
            raise ConvzooError(f"--milestones must be epochs of at least 1, got {self.milestones}")

    def _check_task(self) -> None:
        """The model's registry task decides which tasks can train it (a classifier also labels pixel patches)."""
        from convzoo.registry import get_entry, list_models

        model_task = get_entry(self.model).task
        if self.task not in TRAINABLE_BY.get(model_task, (model_task,)):
            names = list_models(task=self.task)
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise ConvzooError(
                f"{self.model} is a {model_task} model, which --task {self.task} cannot train; use --task "
                f"{model_task} (the default for it), or a {self.task} model: {shown}"
            )

    def _check_pretrained(self) -> None:
        if self.pretrained is None:
            return
        path = Path(self.pretrained)
        if not path.exists():
            raise ConvzooError(f"--pretrained {path} does not exist")
        if not path.is_file():
            raise ConvzooError(f"--pretrained {path} is not a file; give a checkpoint file (.safetensors, .pth)")
        if not os.access(path, os.R_OK):
            raise ConvzooError(f"--pretrained {path} cannot be read (permission denied)")

    def _check_teacher(self) -> None:
        """A teacher is a classifier checkpoint for a classification run; whether it fits the run's data is
        checked when the run loads it (:func:`convzoo.tasks.classification.distillation.load_teacher`)."""
        if self.teacher is None:
            defaults = TrainConfig()
            if (self.kd_temperature, self.kd_alpha) != (defaults.kd_temperature, defaults.kd_alpha):
                raise ConvzooError("--kd-temperature and --kd-alpha weigh a teacher's soft targets; give --teacher "
                                   "CHECKPOINT with them")
            return
        if self.task != "classification":
            raise ConvzooError(f"--teacher distils a classifier, which --task {self.task} does not train; "
                               "use --task classification")
        if not Path(self.teacher).exists():
            raise ConvzooError(f"--teacher {self.teacher} does not exist; expected a classifier checkpoint written "
                               "by convzoo train (its run folder or model.safetensors)")


# The range of every numeric setting, as (field, test, what is expected); None means unset.
# Integer flags are also checked on the command line, but a config may come from code.
NUMERIC_RANGES: tuple[tuple[str, Callable[[float], bool], str], ...] = (
    ("epochs", lambda v: v >= 1, "at least 1"),
    ("batch_size", lambda v: v >= 1, "at least 1"),
    ("accum_steps", lambda v: v >= 1, "at least 1"),
    ("workers", lambda v: v >= 0, "at least 0"),
    ("image_size", lambda v: v >= 1, "at least 1"),
    ("lr", lambda v: v > 0, "greater than 0"),
    ("momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("weight_decay", lambda v: v >= 0, "at least 0"),
    ("step_size", lambda v: v >= 1, "at least 1"),
    ("gamma", lambda v: v > 0, "greater than 0"),
    ("warmup_epochs", lambda v: v >= 0, "at least 0"),
    ("label_smoothing", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("clip_grad", lambda v: v > 0, "greater than 0"),
    ("sigma", lambda v: 0 <= v <= 255, "a noise level on the 0-255 scale"),
    ("patch_size", lambda v: v >= 1, "at least 1"),
    ("patch_stride", lambda v: v >= 1, "at least 1"),
    ("patches_per_epoch", lambda v: v >= 1, "at least 1"),
    ("pca_components", lambda v: v >= 1, "at least 1"),
    ("window", lambda v: v >= 1 and v % 2 == 1, "a positive odd number (a patch is centred on its pixel)"),
    ("train_ratio", lambda v: 0 < v < 1, "between 0 and 1 (both excluded)"),
    ("scene_size", lambda v: v >= 1, "at least 1"),
    ("dice_weight", lambda v: v >= 0, "at least 0"),
    ("aux_weight", lambda v: v >= 0, "at least 0"),
    ("margin", lambda v: v > 0, "greater than 0"),
    ("classes_per_batch", lambda v: v >= 2, "at least 2 (negatives come from other classes)"),
    ("samples_per_class", lambda v: v >= 2, "at least 2 (positives come from the same class)"),
    ("heatmap_sigma", lambda v: v > 0, "greater than 0"),
    ("pose_images", lambda v: v >= 4, "at least 4 (val and test get a quarter each)"),
    ("clip_length", lambda v: v >= 1, "at least 1"),
    ("frame_stride", lambda v: v >= 1, "at least 1"),
    ("eval_clips", lambda v: v >= 1, "at least 1"),
    ("split", lambda v: v in (1, 2, 3), "1, 2 or 3 (UCF101's three splits)"),
    ("video_clips", lambda v: v >= 8, "at least 8 (val and test get an eighth each)"),
    ("crossmodal_alpha", lambda v: v >= 0, "at least 0"),
    ("crossmodal_beta", lambda v: v >= 0, "at least 0"),
    ("frames_per_set", lambda v: v >= 1, "at least 1"),
    ("sets_per_epoch", lambda v: v >= 1, "at least 1"),
    ("gait_subjects", lambda v: v >= 2, "at least 2 (one to train, one to test)"),
    ("gait_frames", lambda v: v >= 1, "at least 1"),
    ("gait_train_subjects", lambda v: v >= 1, "at least 1"),
    ("checkpoint_every", lambda v: v >= 0, "at least 0"),
    ("kd_temperature", lambda v: v > 0, "greater than 0"),
    ("kd_alpha", lambda v: 0 <= v <= 1, "in [0, 1]"),
)

# The training tasks that can train a model of each registry task.
TRAINABLE_BY: dict[str, tuple[str, ...]] = {
    "classification": ("classification", "hyperspectral"),
    "denoise": ("denoise",),
    "hyperspectral": ("hyperspectral",),
    "segmentation": ("segmentation",),
    "metric": ("metric",),
    "pose": ("pose",),
    "video": ("video",),
    "crossmodal": ("crossmodal",),
    "gait": ("gait",),
}


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
    # DnCNN (Zhang et al. 2017) at the paper's data scale: DnCNN-S on 128 x 1,600 patches of
    # 40x40 per epoch, DnCNN-B blind on 128 x 3,000 of 50x50; batch 128, 50 epochs. The paper's
    # SGD with an exponential decay from 1e-1 to 1e-4 is replaced by Adam at 1e-3, divided by
    # 10 after epoch 30. Give the training images with --dataset folder --data-dir (BSD400).
    "dncnn_s_paper": dict(
        task="denoise", sigma=25.0, patch_size=40, patch_stride=10, patches_per_epoch=204_800,
        optimizer="adam", lr=1e-3, batch_size=128, epochs=50, schedule="multistep", milestones=[30], gamma=0.1,
    ),
    # DnCNN-S on a CPU budget (benchmarks/denoise.py): small batches give more Adam steps for
    # the same compute; 16 x 2,048 patches took 18.5 min on 2 shared cores, 30.57 dB at sigma 25.
    "dncnn_cpu": dict(
        task="denoise", sigma=25.0, patches_per_epoch=2048, batch_size=16, lr=1e-3, epochs=16,
        schedule="cosine", amp=True, channels_last=True,
    ),
    "dncnn_b_paper": dict(
        task="denoise", patch_size=50, patch_stride=10, patches_per_epoch=384_000,
        optimizer="adam", lr=1e-3, batch_size=128, epochs=50, schedule="multistep", milestones=[30], gamma=0.1,
    ),
}


# What a task changes in TrainConfig's defaults, so that its embedded default trains well
# without flags. HybridSN's synthetic scene has a few hundred training pixels: batches of 16
# give it four times the optimiser steps of the default 64, at the paper's Adam lr of 1e-3
# (at 2e-3 one seed in five never left chance level).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "hyperspectral": dict(batch_size=16, lr=1e-3),
    # A few-minute denoising run at batch 64 and lr 2e-3 takes 40 steps and ends at the noisy
    # input's PSNR; batches of 16 at 1e-3 give it 160 steps for the same patches.
    "denoise": dict(batch_size=16, lr=1e-3),
    # The 1,000 digit scenes at batch 64 give 15 steps an epoch. Measured on one CPU thread (unet_padded,
    # width 16): batch 8 at lr 2e-3 ran an epoch in the time of batch 16 at lr 3e-3, and after 9 epochs
    # scored validation mIoU 0.22 against 0.16.
    "segmentation": dict(batch_size=8, lr=2e-3),
    # Xiao et al.'s Adam at 1e-3; batches of 16 crops keep a CPU epoch of the synthetic people short.
    "pose": dict(batch_size=16, lr=1e-3),
    # c3d_small (narrow, batch norm) on the moving digits: batches of 32 at 1e-3 reached 96% test clip accuracy in
    # 4 epochs (benchmarks/video.py); a batch of 16-frame clips is also 16 times the memory of a batch of images.
    "video": dict(batch_size=32, lr=1e-3),
    # DSCMR's released code: Adam at 1e-4 (betas (0.5, 0.999), set by the task), batch 100, no schedule.
    "crossmodal": dict(batch_size=100, lr=1e-4, optimizer="adam", schedule="constant", epochs=100),
    # GaitSet: the paper's Adam at a constant rate, but 1e-3, not its 1e-4 (80,000 steps of 8 x 16 sets on GPUs): a
    # CPU run has a few hundred steps. Measured on the generated walkers (2 shared threads, 8 x 4 sets of 8 frames,
    # about 2.7 s a step; NM rank-1 of the unseen walkers on 4 of the 11 views): 1e-4 reached 0.56 after 74 steps
    # and 0.69 after 102; 1e-3 reached 0.85 after 65 steps, 0.96 after 158 and 208 (CL 0.92).
    "gait": dict(optimizer="adam", lr=1e-3, schedule="constant"),
}


def resolve_config(recipe: str | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the task's defaults, then ``recipe``'s values, then ``overrides`` (``None`` values are ignored).

    The task is the one given, else the recipe's, else the model's own (its registry
    entry's), so that ``convzoo train dncnn_s`` trains a denoiser without ``--task``.
    """
    from convzoo.registry import get_entry

    name = recipe or "default"
    if name not in RECIPES:
        raise ConvzooError(f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}")
    given = {key: value for key, value in overrides.items() if value is not None}
    model = given.get("model", TrainConfig.model)
    task = given.get("task") or RECIPES[name].get("task") or get_entry(model).task
    config = replace(TrainConfig(), task=task, **TASK_DEFAULTS.get(task, {}))
    config = replace(config, **RECIPES[name])
    config = replace(config, **given)
    config.validate()
    return config
