"""Denoising for the training engine: the residual loss and PSNR.

The model returns the denoised image ``x_hat = y - R(y)``, and the dataset gives the
clean image ``x`` as the target; then ``x_hat - x = v - R(y)``, so the mean squared
error of the denoised image *is* the paper's residual loss, the error of the predicted
noise against the true noise (Eq. 1). The paper's ``1 / (2N)`` sum over patches of
squared Frobenius norms differs from the per-pixel mean only by a constant factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convzoo.tasks.denoise.metrics import psnr

__all__ = ["DenoiseTask"]


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
