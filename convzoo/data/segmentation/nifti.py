"""NIfTI volumes in the Medical Segmentation Decathlon layout, read through nibabel.

Paper: The Medical Segmentation Decathlon (Antonelli et al., Nature Communications 2022)
https://arxiv.org/abs/2106.05735

Layout under ``--data-dir`` (one task, e.g. ``Task02_Heart/``)::

    dataset.json        {"modality": {"0": "MRI"}, "labels": {"0": "background", "1": "left atrium"},
                         "training": [{"image": "./imagesTr/la_003.nii.gz",
                                       "label": "./labelsTr/la_003.nii.gz"}, ...]}
    imagesTr/*.nii.gz   (X, Y, Z) volumes, or (X, Y, Z, modality) for multi-modal tasks
    labelsTr/*.nii.gz   (X, Y, Z) class values

Only the labelled ``training`` list is read (the decathlon's test labels are not
published); a fixed permutation holds out 15% to validate and 15% to test. Each item is
``(C, D, H, W)`` with ``D, H, W`` the file's ``Z, Y, X`` axes and ``C`` its modalities,
each channel scaled to [0, 1] between its 0.5 and 99.5 percentiles (CT's Hounsfield
units and MR's arbitrary units alike), then resampled to a cube of ``image_size`` voxels
(default 64; every axis scaled on its own: trilinear for the image, nearest neighbour for
the labels).

When the dataset is opened every file's header is read (no voxels): a file that is not
NIfTI, or a label volume whose shape differs from its image's, fails at once with one
line naming the file. Reading needs ``nibabel`` (``pip install nibabel``, or
``pip install 'convzoo[seg]'``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import (
    IGNORE_INDEX,
    JointTransform,
    SegmentationData,
    check_mask_values,
    check_same_size,
    convert_volume_channels,
    fixed_split,
    require_data_dir,
    resolve_in_chans,
    to_unit_interval,
)
from convzoo.errors import ConvzooError

__all__ = ["MSD_DEFAULT_SIDE", "MsdVolumes", "load_msd", "read_dataset_json", "read_nifti_header"]

MSD_DEFAULT_SIDE = 64
_LAYOUT = "dataset.json, imagesTr/ and labelsTr/ (Medical Segmentation Decathlon layout)"


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError:
        raise ConvzooError(
            "reading NIfTI volumes needs nibabel: pip install nibabel (or pip install 'convzoo[seg]')"
        ) from None
    return nibabel


def read_nifti_header(path: Path) -> Any:
    """The NIfTI image at ``path`` with its header read and its voxels not yet loaded."""
    if not path.is_file():
        raise ConvzooError(f"NIfTI file {path} does not exist")
    nibabel = _nibabel()
    try:
        image = nibabel.load(path)
    except Exception as error:  # nibabel raises several kinds for a file that is not NIfTI
        raise ConvzooError(f"{path} is not a NIfTI volume ({type(error).__name__}: {error})") from None
    if not isinstance(image, (nibabel.Nifti1Image, nibabel.Nifti2Image)):
        raise ConvzooError(f"{path} is a {type(image).__name__}, not a NIfTI volume")
    return image


def _class_names(labels: dict[str, Any], path: Path) -> list[str]:
    """``labels`` as names by value: MSD's ``{"0": "background"}`` or nnU-Net's ``{"background": 0}``."""
    try:
        by_value = {int(key): str(name) for key, name in labels.items()}
    except ValueError:
        by_value = {int(value): str(name) for name, value in labels.items()}
    if sorted(by_value) != list(range(len(by_value))) or len(by_value) < 2:
        raise ConvzooError(f"{path} declares labels {sorted(by_value)}; expected the values 0..N-1, N >= 2")
    return [by_value[value] for value in range(len(by_value))]


def read_dataset_json(root: Path) -> tuple[list[str], int, list[tuple[Path, Path]]]:
    """Class names, modality count and ``(image, label)`` paths of the training list in ``root/dataset.json``."""
    path = root / "dataset.json"
    if not path.is_file():
        raise ConvzooError(f"{path} does not exist; expected {_LAYOUT} in {root}")
    try:
        description = json.loads(path.read_text())
        class_names = _class_names(description["labels"], path)
        modalities = len(description.get("modality") or description.get("channel_names") or {"0": "image"})
        pairs = [(root / entry["image"], root / entry["label"]) for entry in description["training"]]
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConvzooError(f"{path} is not valid JSON: {error}") from None
    except (KeyError, TypeError, AttributeError) as error:
        raise ConvzooError(
            f'{path} lacks {error} or has it in another form; expected "labels" and "training" as in the decathlon'
        ) from None
    return class_names, modalities, pairs


def _check_pair(image_path: Path, label_path: Path, modalities: int) -> None:
    image, label = read_nifti_header(image_path), read_nifti_header(label_path)
    check_same_size(tuple(image.shape[:3]), tuple(label.shape[:3]), image_path, label_path)
    channels = image.shape[3] if len(image.shape) == 4 else 1
    if len(image.shape) not in (3, 4) or channels != modalities:
        raise ConvzooError(
            f"{image_path} has shape {'x'.join(map(str, image.shape))}; expected (X, Y, Z) or (X, Y, Z, {modalities}) "
            f"for the {modalities} modalities of dataset.json"
        )


@dataclass
class MsdVolumes(Dataset):
    """NIfTI ``(image, label)`` pairs read per item as ``(C, D, H, W)`` float32 and ``(D, H, W)`` int64 cubes."""

    pairs: list[tuple[Path, Path]]
    num_classes: int
    in_chans: int
    side: int
    transform: JointTransform | None = field(default=None)

    def __len__(self) -> int:
        return len(self.pairs)

    def _read(self, image_path: Path, label_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        voxels = np.asarray(read_nifti_header(image_path).dataobj)
        voxels = voxels[..., None] if voxels.ndim == 3 else voxels  # (X, Y, Z, C)
        channels = [to_unit_interval(voxels[..., c]) for c in range(voxels.shape[-1])]
        image = torch.from_numpy(np.stack(channels)).permute(0, 3, 2, 1)  # (C, Z, Y, X) = (C, D, H, W)
        labels = np.rint(np.asarray(read_nifti_header(label_path).dataobj, dtype=np.float32)).astype(np.int64)
        mask = torch.from_numpy(labels).permute(2, 1, 0)  # (D, H, W)
        check_mask_values(mask, self.num_classes, IGNORE_INDEX, label_path)
        size = (self.side,) * 3
        image = F.interpolate(image[None].float(), size=size, mode="trilinear", align_corners=False)[0]
        mask = F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")[0, 0].long()
        return convert_volume_channels(image.clamp_(0.0, 1.0), self.in_chans), mask

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._read(*self.pairs[index])
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def load_msd(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """A decathlon task's labelled volumes, split 70 / 15 / 15 by a fixed permutation."""
    root = require_data_dir(data_dir, "msd", _LAYOUT)
    class_names, modalities, pairs = read_dataset_json(root)
    channels = resolve_in_chans(in_chans, modalities, "msd")
    for image_path, label_path in pairs:
        _check_pair(image_path, label_path, modalities)
    train, val, test = fixed_split(len(pairs), f"the training list of {root / 'dataset.json'}")
    side = MSD_DEFAULT_SIDE if image_size is None else image_size

    def volumes(indices: list[int], transform: JointTransform | None = None) -> MsdVolumes:
        return MsdVolumes([pairs[i] for i in indices], len(class_names), channels, side, transform)

    return SegmentationData(
        volumes(train, JointAugment() if augment else None),
        volumes(val),
        volumes(test),
        class_names=class_names,
        in_chans=channels,
        dims=3,
    )
