"""Cross-modal retrieval on the command line: its ``convzoo train`` flags.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment; the names the flags offer are defined here, for the task's other modules too.
What the commands print and do for the task is in :mod:`convzoo.tasks.crossmodal.commands`.
"""

from __future__ import annotations

import argparse

from convzoo.arguments import train_flag
from convzoo.data.names import CROSSMODAL_DATASETS, DSCMR_FEATURE_FILES
from convzoo.train.config import TrainConfig

__all__ = ["ABLATIONS", "IMAGE_TEXT", "TASK_DATASETS", "add_train_arguments"]

ABLATIONS = ("none", "label", "common", "invariance")  # the loss left out: none, J1, J2 or J3
IMAGE_TEXT = "image-text"  # images and raw texts, encoded by convzoo.tasks.crossmodal.encoders
TASK_DATASETS = (*CROSSMODAL_DATASETS, IMAGE_TEXT)


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    crossmodal = train.add_argument_group(
        "cross-modal retrieval (--task crossmodal)",
        f"--dataset {' | '.join(TASK_DATASETS)}: paired-digits (generated, the default: scikit-learn's digits with "
        "generated sentences as bags of words), dscmr-features (--data-dir: DSCMR's release, "
        f"{', '.join(name + '.mat' for name in DSCMR_FEATURE_FILES)}), image-text (--data-dir: train/, test/, optional "
        "val/, each <class>/<name>.<image> with <name>.txt beside it; the images through a zoo CNN, frozen or "
        "fine-tuned, the texts as bags of words)",
    )
    train_flag(crossmodal, "crossmodal_alpha", type=float,
               help=f"weight of the common-space loss J2 (default: {defaults.crossmodal_alpha})")
    train_flag(crossmodal, "crossmodal_beta", type=float,
               help=f"weight of the modality-invariance loss J3 (default: {defaults.crossmodal_beta})")
    train_flag(crossmodal, "image_encoder", metavar="MODEL",
               help=f"image-text: the zoo CNN whose pooled features the images become (default: "
                    f"{defaults.image_encoder})")
    train_flag(crossmodal, "image_encoder_weights", metavar="CHECKPOINT",
               help="image-text: the encoder's weights (torchvision, timm or convzoo; default: random, for tests only)")
    train_flag(crossmodal, "image_encoder_finetune", action="store_const", const=True,
               help="image-text: train the encoder with DSCMR's losses on the pixels (held in memory, 602,112 bytes "
                    "an image at 3x224x224) instead of computing its features once, frozen")
    train_flag(crossmodal, "crossmodal_ablate", choices=ABLATIONS,
               help="leave one loss out: label (J1), common (J2), invariance (J3) (default: none)")
