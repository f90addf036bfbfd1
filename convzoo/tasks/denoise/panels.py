"""Denoising as a picture: titled panels of the clean, noisy and denoised image and the predicted noise."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["denoise_figure", "noise_panel", "write_sample"]


def noise_panel(noise: np.ndarray) -> np.ndarray:
    """A noise image made visible: zero is mid-gray and the largest magnitude reaches black or white."""
    scale = max(float(np.abs(noise).max()), 1e-8)
    return 0.5 + 0.5 * noise / scale


def _scores_line(psnr_db: float | None, ssim: float | None) -> str:
    return "" if psnr_db is None else f"\nPSNR {psnr_db:.2f} dB, SSIM {ssim:.3f}"


def denoise_figure(
    noisy: np.ndarray,
    denoised: np.ndarray,
    *,
    clean: np.ndarray | None = None,
    sigma: float | None = None,
    scores: dict[str, float] | None = None,
) -> Figure:
    """Titled panels: clean (when known), noisy, denoised, and the residual ``noisy - denoised``.

    The residual is the noise the model predicts (DnCNN's output layer); it is stretched so
    that zero is mid-grey and its largest magnitude black or white, and its title gives
    that magnitude on the 0-255 scale. Where the clean image is known, the noisy and the
    denoised panels carry their PSNR and SSIM against it.

    Args:
        noisy, denoised, clean: ``(H, W, C)`` images in [0, 1].
        sigma: the noise level added to ``clean`` (0-255 scale); ``None`` when the input
            was taken as noisy as it is.
        scores: ``noisy_psnr``, ``noisy_ssim``, ``psnr`` and ``ssim`` (the denoised image's), when known.
    """
    from matplotlib.figure import Figure

    scores = scores or {}
    residual = noisy - denoised
    magnitude = float(np.abs(residual).max()) * 255.0
    given = "noisy" if sigma is not None else "input"
    panels = [] if clean is None else [("clean", clean)]
    panels += [
        ((f"noisy, sigma={sigma:g}" if sigma is not None else "input (taken as noisy)")
         + _scores_line(scores.get("noisy_psnr"), scores.get("noisy_ssim")), noisy),
        ("denoised" + _scores_line(scores.get("psnr"), scores.get("ssim")), denoised),
        (f"predicted noise: {given} - denoised\n(mid-grey 0, black -{magnitude:.0f}, white +{magnitude:.0f} of 255)",
         noise_panel(residual)),
    ]
    height, width = noisy.shape[:2]
    side = 3.2  # inches per panel; the dpi below shows an image of up to 640 px at its own size
    figure = Figure(figsize=(side * len(panels), side * height / width + 0.55), dpi=min(max(width / side, 100), 200),
                    layout="constrained")
    for axis, (name, image) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels):
        shown = np.clip(image, 0.0, 1.0)
        axis.imshow(shown[..., 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(name, fontsize=9)
        axis.set_axis_off()
    return figure


def write_sample(
    path: Path, noisy: np.ndarray, denoised: np.ndarray, *, clean: np.ndarray | None = None,
    sigma: float | None = None, scores: dict[str, float] | None = None,
) -> None:
    """A PNG of :func:`denoise_figure`'s titled panels (same arguments)."""
    denoise_figure(noisy, denoised, clean=clean, sigma=sigma, scores=scores).savefig(path)
