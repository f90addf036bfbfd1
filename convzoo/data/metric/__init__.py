"""Data for learning to compare: classes to train on, and classes never seen to test on.

:func:`load_metric_dataset` gives a :class:`MetricSplits` by the name the command line
uses:

===============  ==================================================  =====================
name             classes                                             standard augment
===============  ==================================================  =====================
digits           train on 0-4; val and test: the images of 5-9,      random affine
(default)        halved per class with a fixed seed
omniglot         train on the 30 background alphabets; val and       Koch's affine
                 test: 10 evaluation alphabets each                  distortions
mnist,           the first half of the classes train (or             the dataset's own
fashion-mnist,   ``train_classes``); the images of the others are
cifar10,         halved per class into val and test
cifar100, folder
===============  ==================================================  =====================

Any classification dataset :func:`convzoo.data.load_dataset` loads is taken by its own
name and split by class (:func:`~convzoo.data.metric.splits.class_split`): its train,
validation and test images are merged first. The default, scikit-learn's bundled digits,
is that same class split of the classification digits and runs offline.

Verification pairs and triplets of a split come from its labels
(:func:`sample_pairs`, :func:`sample_triplets`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from convzoo.data import AUGMENTATIONS, DATASETS, load_dataset
from convzoo.data.metric.distortions import KochAffine, affine_matrices, warp_affine
from convzoo.data.metric.omniglot import load_omniglot
from convzoo.data.metric.pairs import Pairs, Triplets, sample_pairs, sample_triplets
from convzoo.data.metric.splits import MetricSplits, class_split
from convzoo.errors import ConvzooError

__all__ = [
    "METRIC_DATASETS",
    "KochAffine",
    "MetricSplits",
    "Pairs",
    "Triplets",
    "affine_matrices",
    "class_split",
    "load_metric_dataset",
    "load_omniglot",
    "sample_pairs",
    "sample_triplets",
    "warp_affine",
]

METRIC_DATASETS = tuple(sorted({"omniglot", *DATASETS}))


def load_metric_dataset(
    name: str = "digits",
    *,
    image_size: int | None = None,
    in_chans: int,
    data_dir: str | os.PathLike | None = None,
    augment: str = "standard",
    train_classes: Sequence[int | str] | None = None,
) -> MetricSplits:
    """Load metric-learning dataset ``name`` at the model's input size and channel count.

    Args:
        name: one of :data:`METRIC_DATASETS`.
        image_size: side of the square images; ``None`` keeps the dataset's native size
            (``digits`` and ``folder`` have none and need one).
        in_chans: the model's channel count, 1 or 3.
        data_dir: the folder that holds the dataset's files (not used by ``digits``).
        augment: the training augmentation: the dataset's ``"standard"`` one or ``"none"``.
        train_classes: the classes seen in training, by label or name; by default the
            first half. Omniglot is split by alphabet and takes none.
    """
    if name not in METRIC_DATASETS:
        raise ConvzooError(f"unknown metric dataset {name!r}; available: {', '.join(METRIC_DATASETS)}")
    if augment not in AUGMENTATIONS:
        raise ConvzooError(f"unknown augmentation {augment!r}; expected one of {', '.join(AUGMENTATIONS)}")
    if name == "omniglot":
        if train_classes is not None:
            raise ConvzooError("omniglot is split by alphabet (background / evaluation); train_classes does not apply")
        return load_omniglot(data_dir=data_dir, image_size=image_size, in_chans=in_chans, augment=augment)
    splits = load_dataset(name, image_size=image_size, in_chans=in_chans, augment=augment, data_dir=data_dir)
    return class_split(splits, train_classes)
