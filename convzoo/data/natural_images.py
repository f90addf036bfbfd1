"""Natural images for denoising: the bundled default, folders of images, and patches cut on the fly.

A denoiser learns from clean images; the noise is added later, per batch (see
:mod:`convzoo.tasks.denoise.noise`). Three sources of clean images, by the name ``--dataset``
takes:

* ``natural`` (the embedded default, offline): the photographs that ship inside
  scikit-image (``skimage.data``) and scikit-learn (``load_sample_images``), none of
  which needs a download. The split is fixed by name: the cameraman (one of the Set12
  test images of the paper), the coffee cup and the flower are the test set, the cat
  (``chelsea``) validates, the other nine train::

      train  astronaut brick china coins grass gravel immunohistochemistry moon rocket
      val    chelsea
      test   camera coffee flower

* ``photos`` (offline, needs ``pywavelets``; ``pip install 'convzoo[data]'``): every
  photograph that installed packages ship, read by path. The bundled set of
  ``natural``, pywavelets' 512x512 gray ``aero`` and ``ascent`` (``pywt/data/*.npz``) and,
  when Debian's ``opencv-doc`` is installed, the photographs of
  ``/usr/share/doc/opencv-doc/examples/data/`` (:data:`OPENCV_DOC_FOLDER`; drawings,
  logos, renders, a cartoon, a painting, a disparity map and three photographs blurred on
  purpose there are left out, :data:`OPENCV_NOT_PHOTOS`).
  Names carry their source (``skimage:camera``, ``pywt:aero``, ``opencv:baboon.jpg``).
  The held-out lists are fixed (:data:`PHOTOS_TEST`, :data:`PHOTOS_VAL`); everything
  else trains. pywavelets' ``camera`` is the cameraman again, already a test image as
  ``skimage:camera``: it is left out, so it is never trained on::

      test   skimage:camera skimage:coffee sklearn:flower pywt:aero opencv:aero1.jpg
             opencv:aero3.jpg opencv:baboon.jpg opencv:butterfly.jpg opencv:fruits.jpg
      val    skimage:chelsea
      left out  pywt:camera

* ``folder``: ``DATA_DIR/train/`` and ``DATA_DIR/test/`` (and optionally ``DATA_DIR/val/``,
  else the test images validate) holding image files, e.g. BSD400 for training and
  BSD68 or Set12 for testing, as the paper does. Subfolders are searched too.

Every image becomes ``uint8`` ``(H, W, C)`` with the model's channel count: luminance
(ITU-R 601, PIL's ``convert("L")``) for a 1-channel model, RGB for a 3-channel one (a
gray image then has three equal channels).

:class:`PatchDataset` cuts the training patches the way the paper's code does: each
image at the scales 1, 0.9, 0.8 and 0.7 (bicubic), a grid of ``patch_size`` squares
every ``stride`` pixels, and each square in one of the 8 flips and rotations. The grid
is an index, never a materialised copy of the patches: item ``i`` of an epoch is decoded
into (scaled image, row, column, orientation) and cut when it is asked for.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from convzoo.data.images import IMAGE_SUFFIXES
from convzoo.data.package_files import package_file
from convzoo.errors import ConvzooError

logger = logging.getLogger(__name__)

__all__ = [
    "DENOISE_DATASETS",
    "NATURAL_SPLIT",
    "OPENCV_DOC_FOLDER",
    "OPENCV_NOT_PHOTOS",
    "PATCH_SCALES",
    "PHOTOS_TEST",
    "PHOTOS_VAL",
    "DenoiseImages",
    "NamedImage",
    "PatchDataset",
    "fixed_crops",
    "load_denoise_images",
    "read_image",
    "read_image_folder",
    "to_tensor",
]

PATCH_SCALES = (1.0, 0.9, 0.8, 0.7)
DENOISE_DATASETS = ("natural", "photos", "folder")

# Bundled images by split; "china" and "flower" are scikit-learn's, the rest skimage.data's.
NATURAL_SPLIT: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "brick", "china", "coins", "grass", "gravel", "immunohistochemistry", "moon", "rocket"),
    "val": ("chelsea",),
    "test": ("camera", "coffee", "flower"),
}

# The "photos" set: held-out images by name, pywavelets' photographs, and opencv-doc's folder.
PHOTOS_TEST = (
    "skimage:camera", "skimage:coffee", "sklearn:flower", "pywt:aero",
    "opencv:aero1.jpg", "opencv:aero3.jpg", "opencv:baboon.jpg", "opencv:butterfly.jpg", "opencv:fruits.jpg",
)
PHOTOS_VAL = ("skimage:chelsea",)
PYWT_PHOTOS = ("aero", "ascent")  # pywt's "camera" is the cameraman, a test image already: left out
OPENCV_DOC_FOLDER = Path("/usr/share/doc/opencv-doc/examples/data")
# Checked by eye (opencv-doc 4.6): drawings, logos, renders, a cartoon, a painting, a disparity
# map, and three photographs blurred on purpose for the deblurring demos (their "clean" is not).
OPENCV_NOT_PHOTOS = frozenset({
    "Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg", "HappyFish.jpg", "LinuxLogo.jpg", "WindowsLogo.jpg", "aloeGT.png", "cards.png",
    "chessboard.png", "chicky_512.png", "detect_blob.png", "digits.png", "ellipses.jpg", "gradient.png",
    "imageTextN.png", "imageTextR.png", "mask.png", "ml.png", "notes.png", "opencv-logo-white.png",
    "opencv-logo.png", "pic1.png", "pic2.png", "pic3.png", "pic4.png", "pic5.png", "pic6.png",
    "starry_night.jpg", "templ.png", "text_defocus.jpg", "text_motion.jpg", "licenseplate_motion.jpg", "tmpl.png",
})


@dataclass
class NamedImage:
    """One clean image: its name and its ``uint8`` pixels ``(H, W, C)``."""

    name: str
    pixels: np.ndarray


@dataclass
class DenoiseImages:
    """The clean images of a denoising dataset, split."""

    name: str
    in_chans: int
    train: list[NamedImage]
    val: list[NamedImage]
    test: list[NamedImage]


def _convert(image: Image.Image, in_chans: int) -> np.ndarray:
    """``(H, W, in_chans)`` ``uint8``: luminance for 1 channel, RGB for 3."""
    mode = "L" if in_chans == 1 else "RGB"
    if image.mode in ("RGBA", "LA", "P") and mode == "L":
        image = image.convert("RGB")
    pixels = np.array(image.convert(mode), dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _check_in_chans(in_chans: int) -> None:
    if in_chans not in (1, 3):
        raise ConvzooError(f"denoising images are grayscale (in_chans=1) or RGB (in_chans=3), not in_chans={in_chans}")


def read_image(path: str | os.PathLike, in_chans: int) -> np.ndarray:
    """The image file ``path`` as ``uint8`` ``(H, W, in_chans)``; one-line errors for missing or corrupt files."""
    _check_in_chans(in_chans)
    try:
        with Image.open(path) as image:
            return _convert(image, in_chans)
    except FileNotFoundError:
        raise ConvzooError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ConvzooError(f"cannot read image {path}: {error}") from None


def read_image_folder(folder: str | os.PathLike, in_chans: int) -> list[NamedImage]:
    """Every image file under ``folder`` (sorted by path), converted to ``in_chans`` channels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConvzooError(f"image folder {folder} does not exist")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ConvzooError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [NamedImage(str(p.relative_to(folder)), read_image(p, in_chans)) for p in paths]


def _bundled(name: str) -> Image.Image:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg"))
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def load_natural_images(in_chans: int) -> DenoiseImages:
    """The bundled photographs of scikit-image and scikit-learn, split by :data:`NATURAL_SPLIT`."""
    _check_in_chans(in_chans)
    splits = {
        split: [NamedImage(name, _convert(_bundled(name), in_chans)) for name in names]
        for split, names in NATURAL_SPLIT.items()
    }
    return DenoiseImages("natural", in_chans, **splits)


def _pywt_photos(in_chans: int) -> list[NamedImage]:
    """pywavelets' gray photographs (``pywt/data/NAME.npz``, array ``data``), read by path."""
    images = []
    for name in PYWT_PHOTOS:
        path = package_file("pywt", f"data/{name}.npz", "denoising dataset 'photos'",
                            "pip install pywavelets (or pip install 'convzoo[data]')")
        try:
            with np.load(path, allow_pickle=False) as content:
                pixels = np.asarray(content["data"])
        except (OSError, ValueError, KeyError) as error:
            raise ConvzooError(f"{path} is not a readable .npz file with an array 'data': {error}") from None
        if pixels.ndim != 2:
            raise ConvzooError(f"{path} holds an array of shape {pixels.shape}; expected a gray image (H, W)")
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        images.append(NamedImage(f"pywt:{name}", _convert(image, in_chans)))
    return images


def _opencv_photos(in_chans: int) -> list[NamedImage]:
    """The photographs of opencv-doc's example data, or none (logged) when the package is not installed."""
    folder = OPENCV_DOC_FOLDER
    if not folder.is_dir():
        logger.info("opencv-doc's %s is absent (apt-get install opencv-doc adds its photographs)", folder)
        return []
    paths = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name not in OPENCV_NOT_PHOTOS)
    return [NamedImage(f"opencv:{p.name}", read_image(p, in_chans)) for p in paths]


def load_photos(in_chans: int) -> DenoiseImages:
    """The ``photos`` set: packaged photographs, split by :data:`PHOTOS_TEST` and :data:`PHOTOS_VAL`."""
    _check_in_chans(in_chans)
    pywt_images = _pywt_photos(in_chans)
    bundled = load_natural_images(in_chans)
    prefix = {"china": "sklearn", "flower": "sklearn"}
    images = [NamedImage(f"{prefix.get(image.name, 'skimage')}:{image.name}", image.pixels)
              for image in bundled.train + bundled.val + bundled.test]
    images += pywt_images + _opencv_photos(in_chans)
    return DenoiseImages(
        "photos", in_chans,
        train=[image for image in images if image.name not in PHOTOS_TEST + PHOTOS_VAL],
        val=[image for image in images if image.name in PHOTOS_VAL],
        test=[image for image in images if image.name in PHOTOS_TEST],
    )


def load_denoise_folder(data_dir: str | os.PathLike | None, in_chans: int) -> DenoiseImages:
    """``data_dir/train/``, ``data_dir/test/`` and the optional ``data_dir/val/`` (else test validates)."""
    if data_dir is None:
        raise ConvzooError("dataset 'folder' needs --data-dir D with train/ and test/ subfolders of images")
    root = Path(data_dir)
    if not root.is_dir():
        raise ConvzooError(f"data folder {root} does not exist")
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise ConvzooError(f"data folder {root} has no {split}/ subfolder of images")
    train = read_image_folder(root / "train", in_chans)
    test = read_image_folder(root / "test", in_chans)
    val = read_image_folder(root / "val", in_chans) if (root / "val").is_dir() else test
    return DenoiseImages("folder", in_chans, train=train, val=val, test=test)


def load_denoise_images(name: str, in_chans: int, data_dir: str | os.PathLike | None = None) -> DenoiseImages:
    """The clean images of dataset ``name`` (one of :data:`DENOISE_DATASETS`)."""
    if name == "natural":
        return load_natural_images(in_chans)
    if name == "photos":
        return load_photos(in_chans)
    if name == "folder":
        return load_denoise_folder(data_dir, in_chans)
    raise ConvzooError(f"unknown denoising dataset {name!r}; available: {', '.join(DENOISE_DATASETS)}")


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(H, W, C)`` -> float32 ``(C, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float().div_(255.0)


def _rescale(pixels: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return pixels
    height, width = pixels.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    resized = np.asarray(image.resize(size, Image.BICUBIC), dtype=np.uint8)
    return resized[..., None] if resized.ndim == 2 else resized


def orient(patch: torch.Tensor, mode: int) -> torch.Tensor:
    """One of the 8 flips and rotations of a ``(C, H, W)`` patch: rotate ``mode % 4`` quarter turns, flip if ``mode >= 4``."""
    patch = torch.rot90(patch, mode % 4, dims=(1, 2))
    return torch.flip(patch, dims=(2,)) if mode >= 4 else patch


class PatchDataset(Dataset):
    """``count`` training patches drawn once (seeded) from the grid of every image, scale and orientation.

    Each item is ``(patch, patch)``: the clean patch as input and as target (the noise is
    added to the input batch by the training loop). The paper trains on one fixed set of
    patches for every epoch; so does this dataset (a different ``seed`` draws a different set).

    Args:
        images: the clean training images.
        patch_size: side of the square patches (40 for DnCNN-S, 50 for DnCNN-B).
        stride: pixels between neighbouring grid positions.
        count: patches per epoch; ``None`` for the whole grid. More than the grid repeats it.
        seed: seed of the draw.
        scales: the image scales the grid covers.
        orientations: 8 for every flip and rotation, 1 for none.

    Shape:
        each item: ``(C, patch_size, patch_size)`` twice, float32 in [0, 1].
    """

    def __init__(
        self,
        images: list[NamedImage],
        patch_size: int = 40,
        stride: int = 10,
        count: int | None = None,
        seed: int = 0,
        scales: tuple[float, ...] = PATCH_SCALES,
        orientations: int = 8,
    ) -> None:
        if patch_size < 1 or stride < 1:
            raise ConvzooError(f"patch size and stride must be positive, got {patch_size} and {stride}")
        self.patch_size = patch_size
        self.stride = stride
        self.orientations = orientations
        self.images: list[torch.Tensor] = []  # uint8 (C, H, W), one per (image, scale)
        columns: list[int] = []
        counts: list[int] = []
        for image in images:
            for scale in scales:
                pixels = _rescale(image.pixels, scale)
                height, width = pixels.shape[:2]
                if height < patch_size or width < patch_size:
                    continue
                self.images.append(torch.from_numpy(np.array(pixels)).permute(2, 0, 1))
                columns.append((width - patch_size) // stride + 1)
                counts.append(((height - patch_size) // stride + 1) * columns[-1])
        if not self.images:
            raise ConvzooError(f"no training image is at least {patch_size}x{patch_size} pixels")
        self.columns = np.asarray(columns)
        self.ends = np.cumsum(counts)  # grid positions before the end of each scaled image
        self.grid_size = int(self.ends[-1]) * orientations
        rng = np.random.default_rng(seed)
        if count is None:
            self.indices = np.arange(self.grid_size)
        else:
            repeats = -(-count // self.grid_size)
            self.indices = np.concatenate([rng.permutation(self.grid_size) for _ in range(repeats)])[:count]

    def __len__(self) -> int:
        return len(self.indices)

    def locate(self, index: int) -> tuple[int, int, int, int]:
        """Item ``index`` as (scaled image, top row, left column, orientation)."""
        grid_index = int(self.indices[index])
        position, mode = divmod(grid_index, self.orientations)
        image = int(np.searchsorted(self.ends, position, side="right"))
        local = position - (int(self.ends[image - 1]) if image else 0)
        row, column = divmod(local, int(self.columns[image]))
        return image, row * self.stride, column * self.stride, mode

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, top, left, mode = self.locate(index)
        size = self.patch_size
        patch = self.images[image][:, top:top + size, left:left + size]  # (C, P, P) uint8
        patch = orient(patch, mode).float().div_(255.0)
        return patch, patch


def fixed_crops(images: list[NamedImage], size: int, limit: int = 256) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` crops of every image (at most ``limit``, evenly chosen): ``(N, C, size, size)``.

    Images smaller than ``size`` give one crop of their own smaller side, so ``size`` is
    first reduced to the smallest side among the images.
    """
    size = min([size] + [min(image.pixels.shape[:2]) for image in images])
    crops = []
    for image in images:
        tensor = to_tensor(image.pixels)  # (C, H, W)
        height, width = tensor.shape[1:]
        for top in range(0, height - size + 1, size):
            for left in range(0, width - size + 1, size):
                crops.append(tensor[:, top:top + size, left:left + size])
    if len(crops) > limit:
        crops = [crops[int(i)] for i in np.linspace(0, len(crops) - 1, limit).round()]
    return torch.stack(crops)
