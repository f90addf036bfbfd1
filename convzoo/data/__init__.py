"""Datasets: bundled ones that run offline, and loaders for the real ones.

:func:`load_dataset` gives any of them by the name the command line uses:

==============  ==========================================  ======  ==================
name            files under ``data_dir``                    native  standard augment
==============  ==========================================  ======  ==================
digits          none (bundled with scikit-learn)            \\-      random affine
mnist           ``*-idx?-ubyte[.gz]``, or in                28      none
                ``MNIST/raw/``
fashion-mnist   ``*-idx?-ubyte[.gz]``, or in                28      none
                ``FashionMNIST/raw/``
cifar10         ``cifar-10-batches-py/``                    32      padded crop, flip
cifar100        ``cifar-100-python/``                       32      padded crop, flip
folder          ``train/<class>/``, ``val/<class>/``,       \\-      random resized
                optional ``test/<class>/``                          crop, flip
==============  ==========================================  ======  ==================

``docs/datasets.md`` describes each layout, and those of the denoising and hyperspectral
datasets.

MNIST, Fashion-MNIST and CIFAR are held in memory as normalised float32 tensors; an image
folder stays on disk and is decoded per image.

The package imports its loaders when one of their names is first asked for, so that the names of
:mod:`convzoo.data.names` (which the command line offers) come without torch.
"""

from __future__ import annotations

from convzoo.data.names import AUGMENTATIONS
from convzoo.lazy_exports import lazy_exports

__all__ = ["AUGMENTATIONS", "DATASETS", "NATIVE_SIZES", "ImageSplits", "load_dataset"]

__getattr__, __dir__ = lazy_exports(__name__, {"DATASETS": "loading", "NATIVE_SIZES": "loading",
                                               "load_dataset": "loading", "ImageSplits": "splits"})
