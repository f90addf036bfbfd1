"""The shape every image-classification dataset takes once loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils.data import Dataset

__all__ = ["ImageSplits"]


@dataclass
class ImageSplits:
    """Train, validation and test splits of one image-classification dataset.

    Attributes:
        name: dataset name as the command line spells it.
        train, val, test: datasets yielding ``(image, label)``; images normalised.
        class_names: label ``i`` is ``class_names[i]``.
        mean, std: per-channel normalisation applied to images in [0, 1].
        augment: the training augmentation, applied to whole batches, or ``None``.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    mean: list[float]
    std: list[float]
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
