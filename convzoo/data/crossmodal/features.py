"""The feature files of DSCMR's release (penghu-cs/DSCMR): image and text features with one-hot labels, in .mat files.

The release gives, for Pascal Sentence and Wikipedia, six MATLAB files in one folder::

    train_img.mat   (N, 4096) VGG-19 fc7 features of the training images
    train_txt.mat   (N, 300)  Doc2Vec features of their texts
    train_img_lab.mat (N, C)  one-hot labels of the pairs
    test_img.mat, test_txt.mat, test_img_lab.mat   the same for the test pairs

each holding one array named as the file (``train_img`` in ``train_img.mat``; a file
holding a single other array is read too). Labels may also be class indices ``(N,)``
(made one-hot) or multi-hot rows. The release has no validation split: the test pairs
serve as the per-epoch validation, as the released code scores its test set every epoch
(nothing is chosen on them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from convzoo.data.crossmodal.splits import CrossModalSplit, CrossModalSplits
from convzoo.data.names import DSCMR_FEATURE_FILES as FEATURE_FILES
from convzoo.errors import ConvzooError

__all__ = ["FEATURE_FILES", "load_feature_files", "read_mat_array"]


def read_mat_array(path: Path) -> np.ndarray:
    """The array of a .mat file: the variable named as the file, else its only variable."""
    from scipy.io import loadmat

    if not path.is_file():
        raise ConvzooError(f"{path} is missing; a DSCMR feature folder holds {', '.join(f + '.mat' for f in FEATURE_FILES)}")
    try:
        contents = loadmat(str(path))
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise ConvzooError(f"{path} cannot be read as a MATLAB .mat file: {error}") from None
    if path.stem in contents:
        return np.asarray(contents[path.stem])
    arrays = [key for key in contents if not key.startswith("__")]
    if len(arrays) != 1:
        raise ConvzooError(f"{path} has no variable {path.stem!r} and {len(arrays)} others ({', '.join(arrays)}); "
                           "expected one array")
    return np.asarray(contents[arrays[0]])


def _features(path: Path) -> torch.Tensor:
    array = read_mat_array(path)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise ConvzooError(f"{path} must hold a numeric (samples, features) matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ConvzooError(f"{path} holds NaN or infinite features")
    return torch.from_numpy(array.astype(np.float32))


def _labels(path: Path) -> torch.Tensor:
    array = read_mat_array(path)
    if array.ndim == 2 and 1 in array.shape and array.size > 1 and not np.isin(array, (0, 1)).all():
        array = array.reshape(-1)  # a column of class indices
    if array.ndim == 1:
        if not np.issubdtype(array.dtype, np.number) or (array < 0).any() or (array != np.round(array)).any():
            raise ConvzooError(f"{path}: labels must be one-hot rows or non-negative class indices")
        return torch.nn.functional.one_hot(torch.from_numpy(array.astype(np.int64))).float()
    if array.ndim != 2 or not np.isin(array, (0, 1)).all():
        raise ConvzooError(f"{path}: labels must be one-hot (samples, classes) rows of 0 and 1, got "
                           f"{'values other than 0 and 1' if array.ndim == 2 else f'shape {array.shape}'}")
    empty = np.flatnonzero(array.sum(axis=1) == 0)
    if len(empty):
        raise ConvzooError(f"{path}: labels must be one-hot, but row {int(empty[0])} has no class")
    return torch.from_numpy(array.astype(np.float32))


def _split(folder: Path, prefix: str) -> CrossModalSplit:
    images = _features(folder / f"{prefix}_img.mat")
    texts = _features(folder / f"{prefix}_txt.mat")
    labels = _labels(folder / f"{prefix}_img_lab.mat")
    counts = {f"{prefix}_img.mat": len(images), f"{prefix}_txt.mat": len(texts), f"{prefix}_img_lab.mat": len(labels)}
    if len(set(counts.values())) != 1:
        raise ConvzooError(f"{folder}: the sample counts disagree: "
                           + ", ".join(f"{name} {count}" for name, count in counts.items()))
    return CrossModalSplit(images, texts, labels)


def load_feature_files(data_dir: str | Path) -> CrossModalSplits:
    """The train and test pairs of a folder of the release's six .mat files (validation: the test pairs)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise ConvzooError(f"--data-dir {folder} is not a folder; expected one holding "
                           f"{', '.join(f + '.mat' for f in FEATURE_FILES)}")
    train, test = _split(folder, "train"), _split(folder, "test")
    for what, a, b in (("image", train.images, test.images), ("text", train.texts, test.texts)):
        if a.shape[1] != b.shape[1]:
            raise ConvzooError(f"{folder}: train and test {what} features differ in width ({a.shape[1]} and "
                               f"{b.shape[1]})")
    classes = max(train.labels.shape[1], test.labels.shape[1])
    for split in (train, test):
        split.labels = torch.nn.functional.pad(split.labels, (0, classes - split.labels.shape[1]))
    return CrossModalSplits(train=train, val=test, test=test, class_names=[f"class_{i}" for i in range(classes)])
