"""The denoising pipeline of a training run: clean patches, per-batch noise, PSNR, a test report.

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task denoise``.
Training patches are cut on the fly from the dataset's training images
(:class:`~convzoo.data.natural_images.PatchDataset`) and the Trainer's ``augment`` hook
adds the noise to each batch: one level (``--sigma 25``), or without ``--sigma`` a level
per patch drawn from [0, 55] (blind, as DnCNN-B). Validation scores fixed crops of the
validation images with fixed noise (a blind run cycles the levels 15, 25, 50 over the
crops). The report denoises every whole test image (tiled where it is large) with noise
fixed by a seed, and writes per-image PSNR and SSIM, next to the noisy input's, into
``test_metrics.json``, and ``denoise_sample.png`` (clean, noisy, denoised, predicted
noise, titled with their PSNR/SSIM) for the first test image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from convzoo.data.natural_images import DenoiseImages, PatchDataset, fixed_crops, load_denoise_images
from convzoo.registry import get_entry
from convzoo.tasks.denoise.noise import BLIND_SIGMA_MAX, BLIND_TEST_SIGMAS, NoiseAugment, add_fixed_noise
from convzoo.tasks.denoise.objective import DenoiseTask
from convzoo.tasks.denoise.panels import write_sample
from convzoo.tasks.denoise.scoring import test_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model

__all__ = ["DEFAULT_DATASET", "SAMPLE_FILE", "VAL_SEED", "build"]

DEFAULT_DATASET = "natural"  # bundled with scikit-image and scikit-learn: runs offline
VAL_SEED = 1234  # validation noise: fixed, not the training seed
SAMPLE_FILE = "denoise_sample.png"


def _val_data(images: DenoiseImages, config: TrainConfig) -> TensorDataset:
    clean = fixed_crops(images.val, 2 * config.patch_size)  # (N, C, S, S)
    if config.sigma is not None:
        sigma: float | torch.Tensor = float(config.sigma)
    else:
        levels = torch.tensor(BLIND_TEST_SIGMAS)
        sigma = levels[torch.arange(len(clean)) % len(levels)]
    return TensorDataset(add_fixed_noise(clean, sigma, VAL_SEED), clean)


def _sample_scores(row: dict[str, Any]) -> dict[str, float]:
    """A test report row's scores under the names :func:`write_sample` takes."""
    return {"noisy_psnr": row["noisy_psnr"], "noisy_ssim": row["noisy_ssim"], "psnr": row["dncnn_psnr"],
            "ssim": row["dncnn_ssim"]}


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    # TrainConfig.validate has checked the settings: a denoising model, sigma and patch sizes in range.
    in_chans = int(config.model_kwargs.get("in_chans", get_entry(config.model).input_size[0]))
    dataset = config.dataset or DEFAULT_DATASET
    images = load_denoise_images(dataset, in_chans, config.data_dir)
    train = PatchDataset(
        images.train, config.patch_size, config.patch_stride, count=config.patches_per_epoch, seed=config.seed,
    )
    model, model_args = build_model(config, in_chans)
    trainer = Trainer(
        model, DenoiseTask(), train_data=train, val_data=_val_data(images, config), config=config, ctx=ctx,
        augment=NoiseAugment(config.sigma),
    )
    task_args: dict[str, Any] = {"sigma": config.sigma, "data_dir": config.data_dir}
    if config.sigma is None:
        task_args["blind_sigma_max"] = BLIND_SIGMA_MAX
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=dataset, class_names=[],
        mean=[0.0] * in_chans, std=[1.0] * in_chans, input_size=[in_chans, config.patch_size, config.patch_size],
        task="denoise", task_args=task_args,
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        result, kept = test_report(trainer.module, images.test, config.sigma, ctx.device)
        if is_main and kept:
            first = kept[0]  # the first image at the first level: the report's first row
            write_sample(out / SAMPLE_FILE, first.noisy, first.denoised, clean=first.clean, sigma=first.sigma,
                         scores=_sample_scores(result["images"][0]))
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)
