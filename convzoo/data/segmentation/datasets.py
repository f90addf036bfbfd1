"""Every segmentation dataset by the name ``--dataset`` takes, and :func:`load_segmentation_data`.

Each loader takes ``(data_dir, *, in_chans, image_size, augment, seed)`` and returns a
:class:`~convzoo.data.segmentation.base.SegmentationData`.
"""

from __future__ import annotations

import os
from typing import Protocol

from convzoo.data.segmentation.base import SegmentationData
from convzoo.data.segmentation.folder import load_mask_folder
from convzoo.data.segmentation.nifti import load_msd
from convzoo.data.segmentation.pet import load_pet
from convzoo.data.segmentation.samples import load_napari_nuclei, load_ndev, load_stardist
from convzoo.data.segmentation.scenes import load_scenes
from convzoo.data.segmentation.tiff import load_isbi_tiff
from convzoo.data.segmentation.volumes import load_volumes
from convzoo.data.segmentation.voc import load_voc
from convzoo.errors import ConvzooError

__all__ = [
    "EMBEDDED_DATASETS",
    "SEGMENTATION_DATASETS",
    "VOLUME_DATASETS",
    "SegmentationLoader",
    "load_segmentation_data",
]


class SegmentationLoader(Protocol):
    def __call__(
        self,
        data_dir: str | os.PathLike | None = None,
        *,
        in_chans: int | None = None,
        image_size: int | None = None,
        augment: bool = True,
        seed: int = 0,
    ) -> SegmentationData: ...


SEGMENTATION_DATASETS: dict[str, SegmentationLoader] = {
    "scenes": load_scenes,
    "volumes": load_volumes,
    "voc": load_voc,
    "folder": load_mask_folder,
    "pet": load_pet,
    "tiff": load_isbi_tiff,
    "msd": load_msd,
    "stardist": load_stardist,
    "ndev": load_ndev,
    "napari_nuclei": load_napari_nuclei,
}

# The datasets whose items are volumes (C, D, H, W), known before loading.
VOLUME_DATASETS = ("volumes", "msd", "napari_nuclei")
# The datasets that need no --data-dir.
EMBEDDED_DATASETS = ("scenes", "volumes", "stardist", "ndev", "napari_nuclei")


def load_segmentation_data(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """Load segmentation dataset ``name`` (one of :data:`SEGMENTATION_DATASETS`).

    Args:
        name: the dataset's name.
        data_dir: the folder holding its files (not used by the generated ``scenes`` and
            ``volumes``, nor by the package-shipped samples).
        in_chans: the model's channel count: gray repeated for 3, RGB to luminance for 1;
            ``None`` keeps the dataset's own.
        image_size: the side every item is brought to (a volume's cube side); ``None``
            keeps the dataset's default.
        augment: the training split applies the joint augmentation per item (random
            numbers from PyTorch's global generator); validation and test never do.
        seed: the seed of the generated training data (validation and test are fixed).
    """
    if name not in SEGMENTATION_DATASETS:
        raise ConvzooError(f"unknown segmentation dataset {name!r}; available: {', '.join(SEGMENTATION_DATASETS)}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ConvzooError(f"image size must be a positive integer, not {image_size!r}")
    return SEGMENTATION_DATASETS[name](data_dir, in_chans=in_chans, image_size=image_size, augment=augment, seed=seed)
