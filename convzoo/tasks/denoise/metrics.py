"""Denoising metrics: PSNR of a batch, and scikit-image's PSNR and SSIM of one image.

Pixels are in [0, 1] and the estimate is clipped to [0, 1] before it is compared with the
clean image. A run's training and validation scores use :func:`psnr`, on tensors; the test
report and the baselines use scikit-image's ``peak_signal_noise_ratio`` and
``structural_similarity`` (data range 1, per image, then averaged): :func:`image_metrics`.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["image_metrics", "psnr"]


def psnr(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B, C, H, W)`` images in [0, 1] (the estimate clipped first)."""
    mse = (estimate.clamp(0, 1) - clean).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def image_metrics(clean: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """scikit-image's PSNR (dB) and SSIM of ``estimate`` (clipped to [0, 1]) against ``clean``, ``(H, W, C)``."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    estimate = np.clip(estimate, 0.0, 1.0)
    value = peak_signal_noise_ratio(clean, estimate, data_range=1.0)
    if clean.shape[2] == 1:
        similarity = structural_similarity(clean[..., 0], estimate[..., 0], data_range=1.0)
    else:
        similarity = structural_similarity(clean, estimate, data_range=1.0, channel_axis=-1)
    return float(value), float(similarity)
