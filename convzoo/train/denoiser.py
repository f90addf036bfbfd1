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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import TensorDataset

from convzoo.data.natural_images import (
    DenoiseImages,
    NamedImage,
    PatchDataset,
    fixed_crops,
    load_denoise_images,
    read_image,
    to_tensor,
)
from convzoo.errors import ConvzooError
from convzoo.registry import get_entry, list_models
from convzoo.tasks.denoise import (
    BLIND_SIGMA_MAX,
    BLIND_TEST_SIGMAS,
    DenoiseTask,
    NoiseAugment,
    add_fixed_noise,
    denoise_figure,
    denoise_tiled,
    image_metrics,
    score_images,
)
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.runner import Pipeline, build_model

__all__ = [
    "DEFAULT_DATASET", "VAL_SEED", "TEST_SEED", "DenoisedFile", "build", "denoise_file", "load_denoiser", "panels_path",
    "test_report", "test_sigmas", "write_sample",
]

DEFAULT_DATASET = "natural"  # bundled with scikit-image and scikit-learn: runs offline
VAL_SEED = 1234  # validation noise: fixed, not the training seed
TEST_SEED = 0  # test noise: fixed, the same for every run, checkpoint and baseline
SAMPLE_FILE = "denoise_sample.png"


def test_sigmas(sigma: float | None) -> tuple[float, ...]:
    """The levels a model is scored at: its own, or the paper's three for a blind model."""
    return (float(sigma),) if sigma is not None else BLIND_TEST_SIGMAS


def _check(config: TrainConfig) -> int:
    """The model's channel count, after checking the run's denoising settings."""
    entry = get_entry(config.model)
    if entry.task != "denoise":
        raise ConvzooError(
            f"{config.model} is a {entry.task} model; --task denoise trains a denoiser: "
            f"{', '.join(list_models(task='denoise'))}"
        )
    if config.sigma is not None and not 0 <= config.sigma <= 255:
        raise ConvzooError(f"--sigma is a noise level on the 0-255 scale, got {config.sigma}")
    if config.patch_size < 1 or config.patch_stride < 1 or config.patches_per_epoch < 1:
        raise ConvzooError("--patch-size, --patch-stride and --patches-per-epoch must be at least 1")
    return int(config.model_kwargs.get("in_chans", entry.input_size[0]))


def _val_data(images: DenoiseImages, config: TrainConfig) -> TensorDataset:
    clean = fixed_crops(images.val, 2 * config.patch_size)  # (N, C, S, S)
    if config.sigma is not None:
        sigma: float | torch.Tensor = float(config.sigma)
    else:
        levels = torch.tensor(BLIND_TEST_SIGMAS)
        sigma = levels[torch.arange(len(clean)) % len(levels)]
    return TensorDataset(add_fixed_noise(clean, sigma, VAL_SEED), clean)


def test_report(
    model: torch.nn.Module, images: list[NamedImage], sigma: float | None, device: torch.device | str = "cpu",
    baselines: tuple[str, ...] = ("noisy",), sigmas: tuple[float, ...] | None = None,
) -> tuple[dict[str, Any], list]:
    """Per-image and averaged PSNR/SSIM of ``model`` and ``baselines`` on ``images``, and each image's arrays.

    The levels are ``sigmas``, else the model's own (a blind model: 15, 25 and 50).
    """
    tests = [(image.name, to_tensor(image.pixels)) for image in images]
    return score_images(
        model, tests, sigmas or test_sigmas(sigma), seed=TEST_SEED, baselines=baselines, device=device, keep=True
    )


def write_sample(
    path: Path, noisy: np.ndarray, denoised: np.ndarray, *, clean: np.ndarray | None = None,
    sigma: float | None = None, scores: dict[str, float] | None = None,
) -> None:
    """A PNG of :func:`~convzoo.tasks.denoise.denoise_figure`'s titled panels (same arguments)."""
    denoise_figure(noisy, denoised, clean=clean, sigma=sigma, scores=scores).savefig(path)


def _sample_scores(row: dict[str, Any]) -> dict[str, float]:
    """A test report row's scores under the names :func:`write_sample` takes."""
    return {"noisy_psnr": row["noisy_psnr"], "noisy_ssim": row["noisy_ssim"], "psnr": row["dncnn_psnr"],
            "ssim": row["dncnn_ssim"]}


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    in_chans = _check(config)
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


def load_denoiser(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, CheckpointMeta]:
    """A checkpoint written by ``convzoo train --task denoise``; an error for any other."""
    model, meta = load_checkpoint(checkpoint, device)
    if meta.task != "denoise":
        raise ConvzooError(f"checkpoint {checkpoint} is a {meta.task} model, not a denoiser (train one with --task denoise)")
    return model, meta


def panels_path(out: str | Path) -> Path:
    """Where :func:`denoise_file` writes the panels for the denoised image ``out``: ``NAME_panels.png`` beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}_panels.png")


@dataclass
class DenoisedFile:
    """What :func:`denoise_file` wrote and measured.

    Attributes:
        image: the denoised image file.
        panels: the titled panels beside it (:func:`panels_path`).
        scores: ``noisy_psnr``, ``noisy_ssim``, ``psnr``, ``ssim`` with a ``sigma``; empty without
            one (nothing is known clean).
        to_grayscale: the image had colour, and a 1-channel model saw its luminance only.
    """

    image: Path
    panels: Path
    scores: dict[str, float]
    to_grayscale: bool


def _read_for_model(image: str | Path, in_chans: int) -> tuple[np.ndarray, bool]:
    """``uint8`` ``(H, W, in_chans)`` pixels, and whether colour was dropped to fit a 1-channel model."""
    pixels = read_image(image, in_chans)
    if in_chans != 1:
        return pixels, False
    rgb = read_image(image, 3)  # a colour file of gray content (R = G = B) loses nothing
    return pixels, bool((rgb != rgb[..., :1]).any())


def _save_image(path: Path, image: np.ndarray) -> None:
    """An ``(H, W, C)`` image in [0, 1] as an 8-bit file, the format following the suffix."""
    pixels = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    try:
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)
    except ValueError as error:  # PIL's word for a suffix it cannot write
        raise ConvzooError(f"cannot write {path}: {error}") from None


def denoise_file(
    checkpoint: str | Path, image: str | Path, out: str | Path, *, sigma: float | None = None, tile: int = 512,
    seed: int = TEST_SEED,
) -> DenoisedFile:
    """Denoise the image file ``image`` with a checkpoint; write the denoised image to ``out``, the panels beside it.

    With ``sigma`` the image is taken as clean: noise of that level (seeded) is added, the
    panels show clean, noisy, denoised and predicted noise, and the PSNR/SSIM of the noisy
    and the denoised image are returned. Without it the image is taken as noisy and
    denoised as it is (input, denoised, predicted noise; no scores, nothing is known clean).
    """
    model, meta = load_denoiser(checkpoint)
    if sigma is not None and not 0 <= sigma <= 255:
        raise ConvzooError(f"--sigma is a noise level on the 0-255 scale, got {sigma}")
    if tile < 1:
        raise ConvzooError(f"--tile must be a positive number of pixels, got {tile}")
    read, to_grayscale = _read_for_model(image, meta.input_size[0])
    pixels = to_tensor(read).unsqueeze(0)  # (1, C, H, W)
    noisy = add_fixed_noise(pixels, sigma, seed) if sigma is not None else pixels
    denoised = denoise_tiled(model, noisy, tile=tile)[0]
    noisy_np = noisy[0].double().permute(1, 2, 0).numpy()
    denoised_np = denoised.double().permute(1, 2, 0).numpy()
    clean_np = pixels[0].double().permute(1, 2, 0).numpy() if sigma is not None else None
    scores = {}
    if clean_np is not None:
        scores["noisy_psnr"], scores["noisy_ssim"] = image_metrics(clean_np, noisy_np)
        scores["psnr"], scores["ssim"] = image_metrics(clean_np, denoised_np)
    result = DenoisedFile(Path(out), panels_path(out), scores, to_grayscale)
    _save_image(result.image, denoised_np)
    write_sample(result.panels, noisy_np, denoised_np, clean=clean_np, sigma=sigma, scores=scores)
    return result
