"""Gaussian noise for denoising: noise levels on the 0-255 scale, training noise, fixed noise.

Pixels are in [0, 1]; noise levels are given on the 0-255 scale, as papers state them:
``sigma = 25`` adds white Gaussian noise of standard deviation 25/255. The noisy image
is not clipped to [0, 1] (the paper's protocol: ``y = x + v``); the metrics clip the
estimate to [0, 1] before comparing it with the clean image.

Training noise is drawn per batch by :class:`NoiseAugment`, from the global torch
generator (saved in resume checkpoints, so a resumed run draws the same noise);
validation and test noise come from fixed seeds (:func:`add_fixed_noise`), so every
epoch and every run is scored on the same noisy images.
"""

from __future__ import annotations

import torch

__all__ = ["BLIND_SIGMA_MAX", "BLIND_TEST_SIGMAS", "NoiseAugment", "add_fixed_noise", "to_std"]

BLIND_SIGMA_MAX = 55.0  # DnCNN-B trains on noise levels drawn from [0, 55]
BLIND_TEST_SIGMAS = (15.0, 25.0, 50.0)  # the paper's test levels; a blind model is scored at each


def to_std(sigma: float) -> float:
    """A noise level on the 0-255 scale as a standard deviation on the [0, 1] scale."""
    return float(sigma) / 255.0


class NoiseAugment:
    """Adds white Gaussian noise to a batch of clean images: the training loop's ``augment`` hook.

    Args:
        sigma: noise level on the 0-255 scale; ``None`` draws one level per image,
            uniformly from ``[0, sigma_max]`` (blind training, DnCNN-B).
        sigma_max: the top of the blind range.

    Shape:
        (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, sigma: float | None, sigma_max: float = BLIND_SIGMA_MAX) -> None:
        self.sigma = sigma
        self.sigma_max = sigma_max

    def __call__(self, clean: torch.Tensor) -> torch.Tensor:
        noise = torch.randn_like(clean)  # the global generator: resumed runs draw the same
        if self.sigma is None:
            levels = torch.rand(clean.shape[0], 1, 1, 1, device=clean.device, dtype=clean.dtype) * self.sigma_max
            return clean + noise * levels / 255.0
        return clean + noise * to_std(self.sigma)


def add_fixed_noise(clean: torch.Tensor, sigma: float | torch.Tensor, seed: int) -> torch.Tensor:
    """``clean`` plus noise of level ``sigma`` (0-255 scale; one per image if a tensor) drawn from ``seed``.

    The noise is drawn on the CPU in float32, so it is the same on every machine.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=generator, dtype=torch.float32)
    if isinstance(sigma, torch.Tensor):
        sigma = sigma.view(-1, *([1] * (clean.dim() - 1)))
    return clean + (noise * sigma / 255.0).to(clean.device, clean.dtype)
