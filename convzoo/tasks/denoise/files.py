"""Denoising an image file with a checkpoint: the denoised image, and titled panels beside it.

What ``convzoo denoise CHECKPOINT IMAGE`` does (:func:`denoise_file`): the image is read
with the model's channel count, denoised tile by tile, and written with the panels of
:mod:`~convzoo.tasks.denoise.panels` as ``NAME_panels.png`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convzoo.data.natural_images import read_image, to_tensor
from convzoo.errors import ConvzooError
from convzoo.tasks.denoise.metrics import image_metrics
from convzoo.tasks.denoise.noise import add_fixed_noise
from convzoo.tasks.denoise.panels import write_sample
from convzoo.tasks.denoise.scoring import TEST_SEED
from convzoo.tasks.denoise.tiling import denoise_tiled
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint

__all__ = ["DenoisedFile", "denoise_file", "load_denoiser", "panels_path"]


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
