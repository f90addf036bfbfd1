"""What ``convzoo train`` and ``eval`` print for denoising, and the work of its own command, ``convzoo denoise
CHECKPOINT IMAGE`` (its flags and parser: :mod:`.flags`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

import torch

from convzoo.data.natural_images import load_denoise_images
from convzoo.errors import ConvzooError
from convzoo.tasks.denoise.files import denoise_file
from convzoo.tasks.denoise.scoring import test_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.runner import TrainResult

__all__ = ["evaluate", "predict", "train_summary"]


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
