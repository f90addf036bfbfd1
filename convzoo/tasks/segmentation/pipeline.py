"""The segmentation pipeline of a training run: data, model, engine, and a test report with pictures.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task segmentation``.
The data is ``--dataset`` (:mod:`convzoo.data.segmentation`): by default the generated
digit ``scenes`` for a 2-D network and the generated shape ``volumes`` for a 3-D one
(``unet3d``, ``unet3d_padded``), ``--image-size`` the side of every item (a volume's
cube side). The network gets the dataset's channels (or ``--model-kwargs in_chans=N``,
to which the images are converted) and its classes; the training split is augmented
(zoom-crop, rotation and, where a mirror image keeps its class, flips; the mask resampled with
nearest neighbour) unless ``--augment
none``. The loss is cross-entropy + ``--dice-weight`` x soft Dice
(:mod:`~convzoo.tasks.segmentation.losses`), an auxiliary head weighted by
``--aux-weight``, UNet++'s deep-supervision heads averaged.

A network with valid convs (the paper's ``unet``) trains on mirror-extended images whose
output covers the mask (:mod:`~convzoo.tasks.segmentation.valid_convs`). Before anything
trains, one validation item goes through the network in eval mode, so a size it cannot
take, or an output that does not fit the masks, is one line naming the dataset, the size
and what the network expects.

Besides the runner's files, the report writes into ``test_metrics.json`` the test
split's mIoU, pixel accuracy, mean Dice, loss, per-class IoU / Dice / pixels and the
confusion matrix, and draws its first images (image, ground truth, prediction, the
prediction over the image) into ``segmentation_sample.png``. The checkpoint's
``task_args`` hold the data settings, so ``convzoo eval`` rebuilds the same splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.segmentation import SegmentationData, load_segmentation_data
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.registry import get_entry
from convzoo.tasks.segmentation.objective import SegmentationTask, main_map
from convzoo.tasks.segmentation.overlay import write_panels
from convzoo.tasks.segmentation.scoring import sample_rows, sample_scale, split_report
from convzoo.tasks.segmentation.valid_convs import ValidConvInputs, is_valid_unet
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model

__all__ = ["DEFAULT_DATASETS", "SAMPLE_FILE", "build", "check_fits", "data_settings", "default_dataset",
           "load_task_data", "model_inputs"]

DEFAULT_DATASETS = {2: "scenes", 3: "volumes"}  # generated: run offline
SAMPLE_FILE = "segmentation_sample.png"
_KINDS = {2: "images", 3: "volumes"}


def default_dataset(model: str) -> str:
    """The embedded dataset of the model's dimensionality: ``(C, H, W)`` inputs -> scenes, ``(C, D, H, W)`` -> volumes."""
    return DEFAULT_DATASETS[len(get_entry(model).input_size) - 1]


def load_task_data(task_args: dict[str, Any], *, augment: bool = False) -> SegmentationData:
    """The segmentation data a run's (or a checkpoint's) ``task_args`` describe."""
    return load_segmentation_data(
        task_args["dataset"], task_args.get("data_dir"), in_chans=task_args.get("in_chans"),
        image_size=task_args.get("image_size"), augment=augment, seed=task_args.get("seed", 0),
    )


def model_inputs(model: nn.Module, data: Dataset, ignore_index: int) -> Dataset:
    """``data`` as ``model`` takes it: mirror-extended for a valid U-Net, as it is otherwise."""
    return ValidConvInputs(data, model, ignore_index) if is_valid_unet(model) else data


def check_fits(model: nn.Module, model_name: str, data: SegmentationData, dataset: str) -> None:
    """Run one validation item through ``model`` (eval mode); one line if the network cannot take it or its
    output does not fit the mask."""
    model_dims = len(get_entry(model_name).input_size) - 1
    if model_dims != data.dims:
        raise ConvzooError(f"{model_name} segments {_KINDS[model_dims]} but dataset {dataset!r} holds "
                           f"{_KINDS[data.dims]}; use --dataset {DEFAULT_DATASETS[model_dims]} or a "
                           f"{model_dims}-D model")
    image, mask = model_inputs(model, data.val, data.ignore_index)[0]
    shape = "x".join(str(side) for side in image.shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = main_map(model(image[None].to(next(model.parameters()).device)))
    except InputShapeError as error:
        raise ConvzooError(f"{model_name} cannot take the {_KINDS[data.dims]} of {dataset!r} ({shape}): {error}; "
                           "choose --image-size to fit it") from None
    finally:
        model.train(was_training)
    expected = (len(data.class_names), *mask.shape)
    if tuple(output.shape[1:]) != expected:
        raise ConvzooError(f"{model_name} maps the {shape} {_KINDS[data.dims]} of {dataset!r} to "
                           f"{tuple(output.shape[1:])}, not to the masks' {expected}")


def data_settings(config: TrainConfig) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_task_data` takes them (and ``task_args`` keeps them)."""
    return {
        "dataset": config.dataset or default_dataset(config.model),
        "data_dir": str(config.data_dir) if config.data_dir is not None else None,
        "in_chans": config.model_kwargs.get("in_chans"), "image_size": config.image_size, "seed": config.seed,
    }


def _refuse_transfer(config: TrainConfig) -> None:
    if config.pretrained or config.head_only or config.freeze != "none":
        raise ConvzooError("--pretrained, --freeze and --head-only are for classifiers; --task segmentation "
                           "trains a network from its initialisation")


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    _refuse_transfer(config)
    settings = data_settings(config)
    dataset = settings["dataset"]
    data = load_task_data(settings, augment=config.augment != "none")
    num_classes = len(data.class_names)
    model, model_args = build_model(config, data.in_chans, num_classes)
    check_fits(model, config.model, data, dataset)
    task = SegmentationTask(num_classes, data.ignore_index, config.dice_weight, config.aux_weight)
    trainer = Trainer(
        model, task, train_data=model_inputs(model, data.train, data.ignore_index),
        val_data=model_inputs(model, data.val, data.ignore_index), config=config, ctx=ctx,
    )
    image, _ = data.val[0]
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=dataset, class_names=list(data.class_names),
        mean=[0.0] * data.in_chans, std=[1.0] * data.in_chans,  # images in [0, 1], as the data gives them
        input_size=list(image.shape), task="segmentation",
        task_args={**settings, "dims": data.dims, "ignore_index": data.ignore_index,
                   "dice_weight": config.dice_weight, "aux_weight": config.aux_weight},
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        test, sums = trainer.evaluate(model_inputs(trainer.module, data.test, data.ignore_index), detailed=True)
        result = split_report(sums["confusion"].cpu(), data.class_names, test["loss"])
        if is_main:
            rows = sample_rows(trainer.module, data.test, num_classes, dims=data.dims,
                               ignore_index=data.ignore_index, device=ctx.device)
            result["sample"] = str(write_panels(out / SAMPLE_FILE, rows, scale=sample_scale(rows)))
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)
