"""Paired image and text features (or image pixels) with their label vectors: what the crossmodal task trains and
scores on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

__all__ = ["CrossModalSplit", "CrossModalSplits"]


@dataclass
class CrossModalSplit:
    """``N`` image-text pairs: ``images (N, Di)``, ``texts (N, Dt)``, ``labels (N, C)`` one-hot or multi-hot.

    ``images`` holds features, or pixels ``(N, C, H, W)`` for a network that runs its own
    CNN on them (image-text folders with a fine-tuned encoder).

    ``pictures`` holds the images themselves where the dataset has them (the generated
    digit pairs: ``(N, 8, 8)`` in [0, 1]), ``files`` their image files (image-text folders),
    ``sentences`` the texts, for showing retrievals.
    """

    images: torch.Tensor
    texts: torch.Tensor
    labels: torch.Tensor
    pictures: torch.Tensor | None = None
    sentences: list[str] | None = None
    files: list[Path] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def pairs(self) -> TensorDataset:
        """The engine's dataset: each pair as one row, the image's values (pixels flattened) then the text's, and
        its labels."""
        return TensorDataset(torch.cat([self.images.flatten(1), self.texts], dim=1), self.labels)


@dataclass
class CrossModalSplits:
    """The train, validation and test pairs of a dataset, its class names, and (for generated text) its words."""

    train: CrossModalSplit
    val: CrossModalSplit
    test: CrossModalSplit
    class_names: list[str]
    vocabulary: list[str] = field(default_factory=list)  # the bag-of-words' words; empty for given features

    @property
    def image_shape(self) -> tuple[int, ...]:
        """One image's ``(Di,)`` features, or its ``(C, H, W)`` pixels."""
        return tuple(self.train.images.shape[1:])

    @property
    def image_dim(self) -> int:
        """The values of one image (its features, or its pixels flattened)."""
        return math.prod(self.image_shape)

    @property
    def text_dim(self) -> int:
        return self.train.texts.shape[1]
