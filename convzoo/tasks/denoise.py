"""Gaussian denoising: noise, the residual loss, PSNR/SSIM, classical baselines, tiled inference.

Pixels are in [0, 1]; noise levels are given on the 0-255 scale, as papers state them:
``sigma = 25`` adds white Gaussian noise of standard deviation 25/255. The noisy image
is not clipped to [0, 1] (the paper's protocol: ``y = x + v``); the metrics clip the
estimate to [0, 1] before comparing it with the clean image.

The loss. The model returns the denoised image ``x_hat = y - R(y)``, and the dataset
gives the clean image ``x`` as the target; then ``x_hat - x = v - R(y)``, so the mean
squared error of the denoised image *is* the paper's residual loss, the error of the
predicted noise against the true noise (Eq. 1). The paper's ``1 / (2N)`` sum over patches
of squared Frobenius norms differs from the per-pixel mean only by a constant factor.

Training noise is drawn per batch by :class:`NoiseAugment`, from the global torch
generator (saved in resume checkpoints, so a resumed run draws the same noise);
validation and test noise come from fixed seeds, so every epoch and every run is scored
on the same noisy images.

Baselines, measured on the very same noisy images (:data:`BASELINES`):

* ``noisy``: the input itself;
* ``blur``: the best Gaussian blur, an oracle: for each image the blur width on a grid
  of 0.25 to 3 pixels that gives the highest PSNR against the clean image;
* ``nlmeans``: scikit-image's non-local means (fast mode, 5x5 patches, search distance 6,
  ``h = 0.8 sigma``, the settings scikit-image's documentation suggests), given the true
  sigma rather than an estimate;
* ``bm3d``: BM3D (the ``bm3d`` package of Makinen et al., both stages; the colour version
  for RGB) given the true sigma; skipped, with a note, where the package does not import.

Metrics are scikit-image's ``peak_signal_noise_ratio`` and ``structural_similarity``
(data range 1, per image, then averaged).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "BASELINES",
    "BLIND_SIGMA_MAX",
    "BLIND_TEST_SIGMAS",
    "DenoiseTask",
    "NoiseAugment",
    "Scored",
    "add_fixed_noise",
    "baseline",
    "baseline_available",
    "denoise_figure",
    "denoise_tiled",
    "image_metrics",
    "noise_panel",
    "psnr",
    "score_images",
    "to_std",
]

log = logging.getLogger(__name__)

BLIND_SIGMA_MAX = 55.0  # DnCNN-B trains on noise levels drawn from [0, 55]
BLIND_TEST_SIGMAS = (15.0, 25.0, 50.0)  # the paper's test levels; a blind model is scored at each
BLUR_WIDTHS = tuple(np.arange(0.25, 3.01, 0.25).round(2))


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


def psnr(estimate: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B, C, H, W)`` images in [0, 1] (the estimate clipped first)."""
    mse = (estimate.clamp(0, 1) - clean).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


class DenoiseTask:
    """What the training engine needs to know about denoising.

    The model's output is the denoised image and the target the clean one; see the
    module docstring for why their MSE is the paper's residual loss.
    """

    name = "denoise"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.float(), target)

    def batch_sums(self, output: torch.Tensor, target: torch.Tensor, detailed: bool = False) -> dict[str, torch.Tensor]:
        """The summed per-image PSNR."""
        return {"psnr": psnr(output.detach().float(), target).sum()}

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        return {"psnr": sums["psnr"].item() / max(count, 1)}


# ---- metrics and baselines on single images (numpy, (H, W, C) float in [0, 1]) -----------


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


def _best_blur(noisy: np.ndarray, clean: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    from skimage.metrics import peak_signal_noise_ratio

    candidates = [gaussian_filter(noisy, sigma=(width, width, 0)) for width in BLUR_WIDTHS]
    scores = [peak_signal_noise_ratio(clean, np.clip(c, 0, 1), data_range=1.0) for c in candidates]
    return candidates[int(np.argmax(scores))]


def _nl_means(noisy: np.ndarray, clean: np.ndarray, sigma: float) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    std = to_std(sigma)
    channel_axis = -1 if noisy.shape[2] == 3 else None
    image = noisy if channel_axis is not None else noisy[..., 0]
    out = denoise_nl_means(image, patch_size=5, patch_distance=6, h=0.8 * std, sigma=std, fast_mode=True,
                           channel_axis=channel_axis)
    return out.reshape(noisy.shape)


def _bm3d(noisy: np.ndarray, clean: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    std = to_std(sigma)
    if noisy.shape[2] == 3:
        return np.asarray(bm3d.bm3d_rgb(noisy, std))
    return np.asarray(bm3d.bm3d(noisy[..., 0], std)).reshape(noisy.shape)


# name -> fn(noisy, clean, sigma) -> estimate; the blur is an oracle (it looks at the clean image).
BASELINES: dict[str, Callable[[np.ndarray, np.ndarray, float], np.ndarray]] = {
    "noisy": lambda noisy, clean, sigma: noisy,
    "blur": _best_blur,
    "nlmeans": _nl_means,
    "bm3d": _bm3d,
}


def baseline_available(name: str) -> str | None:
    """``None`` if baseline ``name`` can run here, else why not."""
    if name == "bm3d":
        try:
            import bm3d  # noqa: F401
        except Exception as error:  # an import of a compiled package can fail in many ways
            return f"the bm3d package does not import: {error}"
    return None


def baseline(name: str, noisy: np.ndarray, clean: np.ndarray, sigma: float) -> np.ndarray:
    """Baseline ``name`` of :data:`BASELINES` applied to one ``(H, W, C)`` noisy image."""
    return BASELINES[name](noisy.astype(np.float64), clean.astype(np.float64), sigma)


# ---- inference --------------------------------------------------------------------------


@torch.no_grad()
def denoise_tiled(model: nn.Module, image: torch.Tensor, tile: int = 256, overlap: int | None = None) -> torch.Tensor:
    """Denoise ``(B, C, H, W)`` ``image`` tile by tile, with ``overlap`` pixels of context around each tile.

    Each ``tile`` x ``tile`` block of the output is taken from the model's output on the
    block widened by ``overlap`` pixels on every side (clipped at the image border), so
    the memory stays bounded by a ``(tile + 2 overlap)``-sided window. The result equals
    a whole-image pass when ``overlap`` is at least the receptive field's radius (17 for
    DnCNN's 17 layers, ``depth`` in general): an output pixel depends only on the inputs
    within that radius, and both passes see exactly those inputs; the zero padding of
    every layer falls at the same places at the image border, and at a window's inner
    edge its effect creeps inward by one pixel per layer, so it never reaches the kept
    block. Bit for bit where the conv kernel's sums do not depend on the image size
    (PyTorch's native CPU conv in float32, with oneDNN off, as the tests check);
    otherwise equal up to float rounding (oneDNN blocks the sums by size: ~4e-7 here).

    Args:
        model: a fully convolutional image-to-image network, in eval mode.
        image: the noisy batch.
        tile: side of the output blocks.
        overlap: context on each side; default the model's receptive-field radius
            (``receptive_field // 2``), else 32.
    """
    if overlap is None:
        overlap = getattr(model, "receptive_field", 65) // 2
    height, width = image.shape[-2:]
    if height <= tile and width <= tile:
        return model(image)
    out = torch.empty_like(image)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(top - overlap, 0), max(left - overlap, 0)
            y1, x1 = min(bottom + overlap, height), min(right + overlap, width)
            window = model(image[..., y0:y1, x0:x1])  # (B, C, y1 - y0, x1 - x0)
            out[..., top:bottom, left:right] = window[..., top - y0:bottom - y0, left - x0:right - x0]
    return out


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
