"""The pose pipeline of a training run: the network's mode, its data and targets, and the test report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task pose``. The
network decides the mode (:func:`~convzoo.tasks.pose.data.model_mode`): a heatmap network
trains top-down on person crops, one with part affinity fields bottom-up on whole images
(``--bottom-up`` says so and is refused for any other network), a dense-correspondence
network on dense labels. The data is ``--dataset`` (:mod:`~convzoo.tasks.pose.data`; the
synthetic people by default, ``--pose-images`` of them) at ``--image-size`` (square) or
the model's default input; heatmap targets have ``--heatmap-sigma``.

Crops are augmented per epoch (scale, rotation, flip; seeded by the item and the epoch),
so the training sampler tells the dataset each epoch. The report scores the test split
(:mod:`~convzoo.tasks.pose.scoring`) and draws its first item (``pose_sample.png``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from convzoo.data.folder import IMAGENET_MEAN, IMAGENET_STD
from convzoo.data.pose.skeleton import OPENPOSE_COCO
from convzoo.data.pose.synthetic import BODY_PARTS
from convzoo.errors import ConvzooError
from convzoo.registry import create_model, get_entry
from convzoo.tasks.pose.data import DEFAULT_SIGMAS, PoseData, load_pose_data, mode_outputs, model_mode
from convzoo.tasks.pose.dense_objective import DensePoseTask
from convzoo.tasks.pose.objective import PoseTask
from convzoo.tasks.pose.pictures import write_sample
from convzoo.tasks.pose.scoring import score_split
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model
from convzoo.train.sampler import EpochBatchSampler

__all__ = ["DEFAULT_DATASET", "SAMPLE_FILE", "EpochAwareSampler", "build", "data_settings"]

DEFAULT_DATASET = "synthetic"
SAMPLE_FILE = "pose_sample.png"


class EpochAwareSampler(EpochBatchSampler):
    """The engine's shuffled batches, telling the dataset each epoch so that its crops' augmentation changes."""

    def __init__(self, dataset: Dataset, *args: Any, **kwargs: Any) -> None:
        super().__init__(len(dataset), *args, **kwargs)
        self.dataset = dataset

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        super().set_epoch(epoch, start_batch)
        if hasattr(self.dataset, "set_epoch"):  # whole images (COCO's, the synthetic scenes) have no augmentation
            self.dataset.set_epoch(epoch)


def _mode(config: TrainConfig) -> str:
    with torch.device("meta"):
        mode = model_mode(create_model(config.model, **config.model_kwargs))
    if config.bottom_up and mode != "bottom_up":
        raise ConvzooError(f"--bottom-up needs a network with part affinity fields (openpose_small, openpose_coco); "
                           f"{config.model} is a {mode.replace('_', '-')} network")
    return mode


def data_settings(config: TrainConfig, mode: str, stride: int) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_pose_data` takes them (and ``task_args`` keeps them)."""
    _, *sides = get_entry(config.model).input_size
    size = [config.image_size, config.image_size] if config.image_size else list(sides)
    return {
        "dataset": config.dataset or DEFAULT_DATASET,
        "data_dir": str(config.data_dir) if config.data_dir is not None else None,
        "mode": mode,
        "input_size": size,
        "stride": stride,
        "sigma": config.heatmap_sigma or DEFAULT_SIGMAS.get(mode),
        "images": config.pose_images,
    }


def _task(mode: str, model: torch.nn.Module) -> PoseTask | DensePoseTask:
    if mode == "dense":
        return DensePoseTask(model.num_parts)
    return PoseTask(num_pafs=model.num_pafs, output_stride=model.output_stride)


def _names(mode: str, data: PoseData) -> list[str]:
    if mode == "dense":
        return list(BODY_PARTS)
    return list(OPENPOSE_COCO.joints if mode == "bottom_up" else data.skeleton.joints)


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    if config.pretrained or config.head_only or config.freeze != "none":
        raise ConvzooError("--pretrained, --freeze and --head-only are for classifiers; --task pose trains a network "
                           "from its initialisation (or load weights into it with convzoo.load_weights)")
    mode = _mode(config)
    dataset = config.dataset or DEFAULT_DATASET
    model, model_args = build_model(config, 3, mode_outputs(mode, dataset))
    settings = data_settings(config, mode, model.output_stride)
    data = load_pose_data(settings)
    sampler = EpochAwareSampler(data.train, config.batch_size, seed=config.seed, shuffle=True,
                                drop_last=len(data.train) >= config.batch_size, rank=ctx.rank,
                                world_size=ctx.world_size)
    trainer = Trainer(model, _task(mode, model), train_data=data.train, val_data=data.val, config=config, ctx=ctx,
                      train_sampler=sampler)
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings["dataset"], class_names=_names(mode, data),
        mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), input_size=[3, *settings["input_size"]], task="pose",
        task_args=settings,
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        result = {"split": "test", **score_split(mode, trainer.module, data.test, data.skeleton,
                                                 batch_size=config.batch_size, device=ctx.device)}
        if is_main:
            result["sample"] = str(write_sample(trainer.module, data.test, mode, out / SAMPLE_FILE))
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)

