"""Denoising on the command line: its ``convzoo train`` flags, what ``train`` and ``eval`` print,
and its own command, ``convzoo denoise CHECKPOINT IMAGE``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.arguments import positive_int, train_flag
from convzoo.data.natural_images import load_denoise_images
from convzoo.errors import ConvzooError
from convzoo.tasks.denoise.files import denoise_file
from convzoo.tasks.denoise.scoring import test_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.runner import TrainResult

__all__ = ["add_commands", "add_train_arguments", "evaluate", "predict", "train_summary"]


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


def _sigma_lines(report: dict) -> list[str]:
    """One line per noise level: the denoiser's average PSNR/SSIM beside the noisy input's."""
    return [
        f"test sigma {sigma:>3}: PSNR {row['dncnn_psnr']:.2f} dB  SSIM {row['dncnn_ssim']:.4f}  "
        f"(noisy input {row['noisy_psnr']:.2f} dB, {row['noisy_ssim']:.4f})"
        for sigma, row in report["by_sigma"].items()
    ]


def train_summary(result: TrainResult, out: Path) -> list[str]:
    return [
        *_sigma_lines(result.test_metrics),
        f"checkpoint    {result.checkpoint}",
        f"logs          {out / 'metrics.csv'}, {out / 'curves.png'}, {out / 'denoise_sample.png'}",
    ]


def evaluate(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> list[str]:
    """The test protocol on the checkpoint's dataset (or ``--dataset``), at its noise level (or ``--sigma``)."""
    dataset = args.dataset or meta.dataset
    images = load_denoise_images(dataset, meta.input_size[0], args.data_dir or meta.task_args.get("data_dir"))
    split = getattr(images, args.split)
    sigmas = tuple(args.sigma) if args.sigma else None
    report, _ = test_report(model, split, meta.task_args.get("sigma"), sigmas=sigmas)
    return [f"{meta.model} on {dataset} ({args.split}, {len(split)} images)", *_sigma_lines(report)]


def predict(args: argparse.Namespace, model: torch.nn.Module, meta: CheckpointMeta) -> NoReturn:
    raise ConvzooError(f"{args.checkpoint} is a denoise checkpoint; it denoises images: "
                       "use convzoo denoise CHECKPOINT IMAGE")


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
    denoise.set_defaults(run=cmd_denoise, outputs={"out": "file"})


def cmd_denoise(args: argparse.Namespace) -> None:
    result = denoise_file(args.checkpoint, args.image, args.out, sigma=args.sigma, tile=args.tile, seed=args.seed)
    if result.to_grayscale:
        print("note: colour image converted to grayscale for a 1-channel model")
    scores = result.scores
    if scores:
        print(f"noisy    PSNR {scores['noisy_psnr']:.2f} dB  SSIM {scores['noisy_ssim']:.4f}")
        print(f"denoised PSNR {scores['psnr']:.2f} dB  SSIM {scores['ssim']:.4f}")
    print(f"image    {result.image}")
    print(f"panels   {result.panels}")
