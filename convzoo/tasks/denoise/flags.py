"""Denoising on the command line: its ``convzoo train`` flags and its own command ``convzoo denoise``.

Imports no torch, so that ``convzoo --help`` and ``convzoo train --help`` build every task's flags
in a moment.
What the commands print and do for the task is in :mod:`convzoo.tasks.denoise.commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from convzoo.arguments import deferred, positive_int, train_flag
from convzoo.train.config import TrainConfig

__all__ = ["add_commands", "add_train_arguments"]

def add_train_arguments(train: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    noise = train.add_argument_group(
        "denoising (--task denoise)",
        "--dataset natural (the bundled photographs, default), photos (also pywavelets' and, when installed, "
        "opencv-doc's; a fixed test list with the cameraman) or folder (--data-dir D with train/ and test/ images)",
    )
    train_flag(noise, "sigma", type=float, help="noise std on the 0-255 scale, e.g. 25 (default: blind, one level per "
               "patch drawn from [0, 55], as DnCNN-B)")
    train_flag(noise, "patch_size", type=positive_int, help=f"training patch side (default: {defaults.patch_size})")
    train_flag(noise, "patch_stride", type=positive_int,
               help=f"grid step patches are cut at (default: {defaults.patch_stride})")
    train_flag(noise, "patches_per_epoch", type=positive_int,
               help=f"patches drawn once from the grid (default: {defaults.patches_per_epoch}; paper 204800)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    denoise = commands.add_parser("denoise", help="denoise an image with a denoising checkpoint: the denoised image "
                                  "and a PNG of titled panels beside it")
    denoise.add_argument("checkpoint", type=Path)
    denoise.add_argument("image", type=Path)
    denoise.add_argument("--sigma", type=float, help="treat the image as clean and add this noise level (0-255 "
                         "scale): clean/noisy/denoised/noise panels and PSNR/SSIM; without it the image is "
                         "denoised as it is")
    denoise.add_argument("--out", type=Path, default=Path("denoised.png"), help="the denoised image (default: "
                         "denoised.png); the titled panels go beside it as NAME_panels.png")
    denoise.add_argument("--tile", type=positive_int, default=512,
                         help="process larger images in tiles of this side (same result, bounded memory)")
    denoise.add_argument("--seed", type=int, default=0, help="seed of the added noise")
    denoise.set_defaults(run=deferred("convzoo.tasks.denoise.commands", "cmd_denoise"), outputs={"out": "file"})
