"""The data of a pose run: which way the network sees people, the splits, and the targets it learns.

The network decides the *mode*:

* ``top_down`` (heatmap networks: ``hourglass_*``, ``simple_baseline_*``): one person
  per item, a crop around the person's box; Gaussian heatmap targets.
* ``bottom_up`` (networks with part affinity fields: ``openpose_*``): whole images with
  every person; PAF and confidence-map targets (``--bottom-up``).
* ``dense`` (``densepose_*``): whole images with each pixel's body part and (u, v).

``--dataset`` (``--data-dir`` for the real ones):

=========  ==========================================================  ==================
name       files                                                       modes
=========  ==========================================================  ==================
synthetic  none: seeded synthetic people (the default; train, val and  all
           test drawn with the data seeds 0, 1, 2, whatever ``--seed``)
coco       ``annotations/person_keypoints_{train,val}2017.json`` with   top_down, bottom_up
           ``train2017/`` and ``val2017/``; val2017 validates and tests
mpii       ``annot/train.json``, ``annot/valid.json`` (the common JSON   top_down
           conversion) and ``images/``; valid validates and tests
=========  ==========================================================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from convzoo.data.pose.coco import CocoImages, CocoTopDown
from convzoo.data.pose.mpii import MpiiTopDown
from convzoo.data.pose.skeleton import COCO, MPII, Skeleton
from convzoo.data.pose.synthetic import BODY_PARTS
from convzoo.data.pose.synthetic_sets import SyntheticDense, SyntheticScenes, SyntheticTopDown
from convzoo.data.pose.targets import bottom_up_target, coco_to_openpose, ignore_mask, top_down_target
from convzoo.data.pose.transforms import CropJitter
from convzoo.errors import ConvzooError
from convzoo.tasks.pose.flags import DATASETS

__all__ = [
    "DEFAULT_SIGMAS", "PoseData", "load_pose_data", "model_mode", "mode_outputs",
]

DEFAULT_SIGMAS = {"top_down": 2.0, "bottom_up": 7 / 8}  # heatmap pixels: 2 (Newell et al.), 7 input px / 8 (CMU)
DATA_SEEDS = {"train": 0, "val": 1, "test": 2}
MAX_PEOPLE = 4  # per synthetic image for bottom-up and dense networks


@dataclass
class PoseData:
    """A pose run's splits: ``(image, target)`` items, and the keypoint layout of their people."""

    mode: str
    train: Dataset
    val: Dataset
    test: Dataset
    skeleton: Skeleton


def model_mode(model: nn.Module) -> str:
    """``dense`` for a dense-correspondence network, ``bottom_up`` for one with PAFs, else ``top_down``."""
    if getattr(model, "num_joints", None) == 0 and hasattr(model, "num_parts"):
        return "dense"
    return "bottom_up" if getattr(model, "num_pafs", 0) else "top_down"


def mode_outputs(mode: str, dataset: str) -> int | None:
    """The ``num_classes`` a network of ``mode`` is built with on ``dataset``: joints, maps or parts."""
    if mode == "dense":
        return len(BODY_PARTS)
    if mode == "bottom_up":
        return None  # OpenPose's 18 parts and background are the network's own
    return MPII.num_joints if dataset == "mpii" else COCO.num_joints


def _top_down_target(keypoints: torch.Tensor, *, input_size: tuple[int, int], stride: int,
                     sigma: float) -> torch.Tensor:
    return top_down_target(keypoints, input_size, stride=stride, sigma=sigma)


def _bottom_up_target(keypoints: torch.Tensor, ignore_boxes: torch.Tensor | None = None, *,
                      input_size: tuple[int, int], stride: int, sigma: float) -> torch.Tensor:
    """OpenPose's target of an image's COCO keypoints ``(N, 17, 3)`` (ignoring ``ignore_boxes``' cells)."""
    height, width = input_size
    ignore = None
    if ignore_boxes is not None and len(ignore_boxes):
        ignore = ignore_mask((height // stride, width // stride), boxes=ignore_boxes, stride=stride)
    return bottom_up_target(coco_to_openpose(keypoints), size=input_size, stride=stride, sigma=sigma, ignore=ignore)


def _check(settings: dict[str, Any]) -> None:
    dataset, mode = settings["dataset"], settings["mode"]
    if dataset not in DATASETS:
        raise ConvzooError(f"unknown pose dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if mode not in DATASETS[dataset]:
        raise ConvzooError(f"--dataset {dataset} has no {mode.replace('_', '-')} data; its networks are "
                           f"{', '.join(m.replace('_', '-') for m in DATASETS[dataset])}")
    if dataset != "synthetic" and settings.get("data_dir") is None:
        raise ConvzooError(f"--dataset {dataset} needs --data-dir, the folder of its annotations and images")


def _real_file(path: Path, dataset: str) -> Path:
    if not path.exists():
        raise ConvzooError(f"--dataset {dataset}: {path} does not exist (see docs/pose.md for the expected layout)")
    return path


def load_pose_data(settings: dict[str, Any]) -> PoseData:
    """The splits a run's (or a checkpoint's) ``task_args`` describe."""
    _check(settings)
    mode, size = settings["mode"], tuple(settings["input_size"])
    stride, sigma = settings.get("stride", 4), settings.get("sigma")
    if settings["dataset"] == "synthetic":
        return _synthetic(mode, size, stride, sigma, settings["images"])
    root = Path(settings["data_dir"])
    if settings["dataset"] == "mpii":
        target = partial(_top_down_target, input_size=size, stride=stride, sigma=sigma)
        train, valid = (_real_file(root / "annot" / f"{name}.json", "mpii") for name in ("train", "valid"))
        images = _real_file(root / "images", "mpii")
        val = MpiiTopDown(valid, images, input_size=size, train=False, target_fn=target)
        return PoseData(mode, MpiiTopDown(train, images, input_size=size, target_fn=target), val, val, MPII)
    notes = root / "annotations"
    split = {name: (_real_file(notes / f"person_keypoints_{name}2017.json", "coco"),
                    _real_file(root / f"{name}2017", "coco")) for name in ("train", "val")}
    if mode == "bottom_up":
        target = partial(_bottom_up_target, input_size=size, stride=stride, sigma=sigma)
        val = CocoImages(*split["val"], input_size=size, target_fn=target)
        return PoseData(mode, CocoImages(*split["train"], input_size=size, target_fn=target), val, val, COCO)
    target = partial(_top_down_target, input_size=size, stride=stride, sigma=sigma)
    val = CocoTopDown(*split["val"], input_size=size, train=False, target_fn=target)
    return PoseData(mode, CocoTopDown(*split["train"], input_size=size, target_fn=target), val, val, COCO)


def _synthetic(mode: str, size: tuple[int, int], stride: int, sigma: float | None, images: int) -> PoseData:
    counts = {"train": images, "val": max(images // 4, 1), "test": max(images // 4, 1)}
    if mode == "top_down":
        target = partial(_top_down_target, input_size=size, stride=stride, sigma=sigma)
        splits = {name: SyntheticTopDown(count, input_size=size, seed=DATA_SEEDS[name], target_fn=target,
                                         jitter=CropJitter() if name == "train" else None)
                  for name, count in counts.items()}
    elif mode == "bottom_up":
        target = partial(_bottom_up_target, input_size=size, stride=stride, sigma=sigma)
        splits = {name: SyntheticScenes(count, input_size=size, people=(1, MAX_PEOPLE), seed=DATA_SEEDS[name],
                                        target_fn=target) for name, count in counts.items()}
    else:
        splits = {name: SyntheticDense(count, input_size=size, people=(1, MAX_PEOPLE), seed=DATA_SEEDS[name])
                  for name, count in counts.items()}
    return PoseData(mode, splits["train"], splits["val"], splits["test"], COCO)
