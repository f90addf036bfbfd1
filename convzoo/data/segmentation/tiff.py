"""Multi-page TIFF stacks: the ISBI 2012 electron-microscopy challenge, the U-Net paper's data.

Paper: U-Net: Convolutional Networks for Biomedical Image Segmentation (Ronneberger,
Fischer, Brox, MICCAI 2015) https://arxiv.org/abs/1505.04597 ; data: Arganda-Carreras et
al., Crowdsourcing the creation of image segmentation algorithms for connectomics
(Frontiers in Neuroanatomy 2015).

Layout under ``--data-dir``::

    train-volume.tif     30 slices of 512x512 8-bit serial-section EM (ssTEM)
    train-labels.tif     30 slices: 255 = cell interior (white), 0 = membrane (black)
    test-volume.tif      30 slices without published labels (not read)

Classes: 0 ``cell`` (label 255), 1 ``membrane`` (label 0): the membranes, the thin
structures the challenge asks for, are the foreground class; any other label value is an
error naming the file. The test volume has no labels, so the labelled stack is split
along its slices: the last 10% test, the 10% before them validate, the rest train
(24 / 3 / 3 of ISBI's 30). ``image_size`` ``None`` keeps the 512x512 slices; another side
resizes them (bilinear, the labels by nearest neighbour) and crops the centre.

Reading needs ``tifffile`` (``pip install tifffile``, or ``pip install 'convzoo[seg]'``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import (
    SegmentationData,
    TensorPairs,
    convert_image_channels,
    fit_pair,
    require_data_dir,
    resolve_in_chans,
    to_unit_interval,
)
from convzoo.errors import ConvzooError

__all__ = ["ISBI_CLASSES", "ISBI_LABELS", "read_tiff", "load_isbi_tiff", "stack_splits"]

ISBI_CLASSES = ["cell", "membrane"]
ISBI_LABELS = {255: 0, 0: 1}  # file value -> class
HOLDOUT_FRACTION = 0.1
_LAYOUT = "train-volume.tif and train-labels.tif (ISBI 2012 multi-page TIFF stacks)"


def read_tiff(path: Path) -> np.ndarray:
    """The pixels of TIFF file ``path`` (every page, stacked); one line for a missing module or bad file."""
    try:
        import tifffile
    except ImportError:
        raise ConvzooError(
            f"reading {path} needs tifffile: pip install tifffile (or pip install 'convzoo[seg]')"
        ) from None
    if not path.is_file():
        raise ConvzooError(f"TIFF file {path} does not exist")
    try:
        return tifffile.imread(path)
    except Exception as error:  # tifffile fails in many ways on a file that is not a TIFF
        raise ConvzooError(f"cannot read TIFF file {path}: {type(error).__name__}: {error}") from None


def _decode_labels(labels: np.ndarray, path: Path) -> torch.Tensor:
    unknown = sorted(set(np.unique(labels).tolist()) - set(ISBI_LABELS))
    if unknown:
        raise ConvzooError(
            f"labels {path} hold values {', '.join(map(str, unknown[:5]))}; expected 255 (cell) and 0 (membrane)"
        )
    return torch.from_numpy(np.where(labels == 255, ISBI_LABELS[255], ISBI_LABELS[0]).astype(np.uint8))


def stack_splits(count: int, what: str, fraction: float = HOLDOUT_FRACTION) -> tuple[slice, slice, slice]:
    """Contiguous train, validation and test slices of a stack of ``count`` (the last ``fraction`` tests)."""
    held_out = max(1, math.ceil(fraction * count))
    if count < 3 or count - 2 * held_out < 1:
        raise ConvzooError(f"{what} has {count} slice(s); at least 3 are needed for train, validation and test")
    return slice(0, count - 2 * held_out), slice(count - 2 * held_out, count - held_out), slice(count - held_out, count)


def _fit_stack(images: torch.Tensor, masks: torch.Tensor, side: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    if side is None:
        return images, masks
    pairs = [fit_pair(image, mask, side) for image, mask in zip(images, masks)]
    return torch.stack([image for image, _ in pairs]), torch.stack([mask for _, mask in pairs]).to(torch.uint8)


def load_isbi_tiff(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """The ISBI 2012 training stack, split along its slices into train, validation and test."""
    root = require_data_dir(data_dir, "tiff", _LAYOUT)
    channels = resolve_in_chans(in_chans, 1, "tiff")
    volume_path, labels_path = root / "train-volume.tif", root / "train-labels.tif"
    volume, labels = read_tiff(volume_path), read_tiff(labels_path)
    volume = volume[None] if volume.ndim == 2 else volume  # a one-page TIFF
    labels = labels[None] if labels.ndim == 2 else labels
    if volume.ndim != 3:
        raise ConvzooError(f"{volume_path} has shape {volume.shape}; expected a stack of gray slices (N, H, W)")
    if volume.shape != labels.shape:
        raise ConvzooError(
            f"labels {labels_path} have shape {'x'.join(map(str, labels.shape))} but the volume {volume_path} has "
            f"{'x'.join(map(str, volume.shape))}; expected the same"
        )
    images = torch.from_numpy(to_unit_interval(volume))[:, None]  # (N, 1, H, W)
    images, masks = _fit_stack(images, _decode_labels(labels, labels_path), image_size)
    images = convert_image_channels(images, channels)
    train, val, test = stack_splits(len(images), str(volume_path))
    return SegmentationData(
        TensorPairs(images[train], masks[train], JointAugment() if augment else None),
        TensorPairs(images[val], masks[val]),
        TensorPairs(images[test], masks[test]),
        class_names=list(ISBI_CLASSES),
        in_chans=channels,
    )
