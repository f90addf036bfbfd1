"""The denoising test protocol: every image at every noise level, beside the noisy input and baselines.

Each clean test image gets noise of each level from a fixed seed, the same in every run,
checkpoint and baseline (:data:`TEST_SEED`), is denoised whole (tiled where it is large),
and is scored with PSNR and SSIM (:func:`~convzoo.tasks.denoise.metrics.image_metrics`)
next to the noisy input and any baseline (:mod:`~convzoo.tasks.denoise.baselines`). A
model is scored at its own noise level, or a blind one at the paper's three.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from convzoo.data.natural_images import NamedImage, to_tensor
from convzoo.tasks.denoise.baselines import baseline, baseline_available
from convzoo.tasks.denoise.metrics import image_metrics
from convzoo.tasks.denoise.noise import BLIND_TEST_SIGMAS, add_fixed_noise
from convzoo.tasks.denoise.tiling import denoise_tiled

__all__ = ["TEST_SEED", "Scored", "score_images", "test_report", "test_sigmas"]

log = logging.getLogger(__name__)

TEST_SEED = 0  # test noise: fixed, the same for every run, checkpoint and baseline


def _numpy(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` tensor -> ``(H, W, C)`` float64 array."""
    return image.detach().cpu().double().permute(1, 2, 0).numpy()


@dataclass
class Scored:
    """One test image at one noise level: the arrays behind its metrics."""

    name: str
    sigma: float
    clean: np.ndarray
    noisy: np.ndarray
    denoised: np.ndarray


def score_images(
    model: nn.Module,
    images: Sequence[tuple[str, torch.Tensor]],
    sigmas: Sequence[float],
    *,
    seed: int = 0,
    baselines: Sequence[str] = ("noisy",),
    tile: int = 512,
    device: torch.device | str = "cpu",
    keep: bool = False,
) -> tuple[dict, list[Scored]]:
    """PSNR and SSIM of ``model`` and ``baselines`` on each clean ``(C, H, W)`` image at each sigma.

    The noise of image ``i`` at level ``s`` is drawn from seed ``seed + 1000 i + s``, the
    same in every run. Returns the report (per image and averaged per sigma; the top
    level holds the averages of the first sigma, and ``seconds`` the time per image of
    each method) and, with ``keep``, the arrays of each (image, sigma).
    """
    model = model.eval()
    skipped = {name: why for name in baselines if (why := baseline_available(name)) is not None}
    methods = ["dncnn", *[name for name in baselines if name not in skipped]]
    rows, kept = [], []
    for sigma in sigmas:
        for index, (name, clean) in enumerate(images):
            noisy = add_fixed_noise(clean.unsqueeze(0), sigma, seed + 1000 * index + int(round(sigma)))  # (1, C, H, W)
            start = time.perf_counter()
            denoised = denoise_tiled(model, noisy.to(device), tile=tile)[0].float().cpu()
            seconds = {"dncnn": time.perf_counter() - start}
            clean_np, noisy_np = _numpy(clean), _numpy(noisy[0])
            estimates = {"dncnn": _numpy(denoised)}
            for method in methods[1:]:
                start = time.perf_counter()
                estimates[method] = baseline(method, noisy_np, clean_np, sigma)
                seconds[method] = time.perf_counter() - start
            row = {"image": name, "sigma": sigma}
            for method, estimate in estimates.items():
                row[f"{method}_psnr"], row[f"{method}_ssim"] = image_metrics(clean_np, estimate)
                row[f"{method}_seconds"] = seconds[method]
            rows.append(row)
            log.info("%s sigma %g: %s", name, sigma, {k: round(v, 3) for k, v in row.items() if k.endswith("psnr")})
            if keep:
                kept.append(Scored(name, sigma, clean_np, noisy_np, estimates["dncnn"]))
    by_sigma = {}
    for sigma in sigmas:
        sigma_rows = [row for row in rows if row["sigma"] == sigma]
        by_sigma[f"{sigma:g}"] = {
            key: float(np.mean([row[key] for row in sigma_rows]))
            for key in sigma_rows[0] if key not in ("image", "sigma")
        }
    first = by_sigma[f"{sigmas[0]:g}"]
    report = {
        "sigma": sigmas[0],
        "psnr": first["dncnn_psnr"],
        "ssim": first["dncnn_ssim"],
        **{key: value for key, value in first.items() if not key.startswith("dncnn_")},
        "by_sigma": by_sigma,
        "images": rows,
        "skipped": skipped,
    }
    return report, kept


def test_sigmas(sigma: float | None) -> tuple[float, ...]:
    """The levels a model is scored at: its own, or the paper's three for a blind model."""
    return (float(sigma),) if sigma is not None else BLIND_TEST_SIGMAS


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
