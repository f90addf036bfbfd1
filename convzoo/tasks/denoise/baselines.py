"""Classical denoisers, measured on the very same noisy images as a model (:data:`BASELINES`).

* ``noisy``: the input itself;
* ``blur``: the best Gaussian blur, an oracle: for each image the blur width on a grid
  of 0.25 to 3 pixels that gives the highest PSNR against the clean image;
* ``nlmeans``: scikit-image's non-local means (fast mode, 5x5 patches, search distance 6,
  ``h = 0.8 sigma``, the settings scikit-image's documentation suggests), given the true
  sigma rather than an estimate;
* ``bm3d``: BM3D (the ``bm3d`` package of Makinen et al., both stages; the colour version
  for RGB) given the true sigma; skipped, with a note, where the package does not import.

Each takes one ``(H, W, C)`` numpy image in [0, 1] and its noise level on the 0-255 scale.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from convzoo.tasks.denoise.noise import to_std

__all__ = ["BASELINES", "baseline", "baseline_available"]

BLUR_WIDTHS = tuple(np.arange(0.25, 3.01, 0.25).round(2))


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
