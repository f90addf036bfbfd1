"""The names of the datasets in :mod:`convzoo.data`, importable without torch: ``convzoo train``'s flags
offer them (its ``--help`` imports no loader), and the loaders are keyed by them."""

from __future__ import annotations

__all__ = ["AUGMENTATIONS", "CROSSMODAL_DATASETS", "DSCMR_FEATURE_FILES", "GAIT_DATASETS", "IMAGE_DATASETS"]

# Classification's image datasets (convzoo.data.DATASETS holds their loaders).
IMAGE_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "folder")

AUGMENTATIONS = ("standard", "none")

GAIT_DATASETS = ("walkers", "casia-b")

# Feature datasets of cross-modal retrieval (the crossmodal task adds its image-text folders).
CROSSMODAL_DATASETS = ("paired-digits", "dscmr-features")

# The .mat files of DSCMR's release that the dscmr-features dataset reads.
DSCMR_FEATURE_FILES = ("train_img", "train_txt", "train_img_lab", "test_img", "test_txt", "test_img_lab")
