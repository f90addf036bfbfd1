"""DnCNN: a plain deep CNN that removes Gaussian noise by predicting it.

Paper: Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising
(K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, IEEE TIP 2017) https://arxiv.org/abs/1608.03981

A noisy observation is ``y = x + v``: the clean image ``x`` plus white Gaussian noise
``v`` of standard deviation sigma. DnCNN does not learn the map ``y -> x`` directly.
It learns the *residual* ``R(y) ~ v`` and returns ``x_hat = y - R(y)`` (Section III-B),
trained with the mean squared error between the predicted and the true noise (Eq. 1)::

    l(Theta) = 1 / (2N) sum_i || R(y_i; Theta) - (y_i - x_i) ||^2

Residual learning and batch normalisation help each other here: the noise is close to
zero-mean Gaussian, a far simpler target than a natural image, and batch norm keeps the
intermediate distributions steady while the 17-20 layers learn it; together they train
faster and end better than either alone (Fig. 2). A network that predicts the noise
also generalises: trained on noise levels over [0, 55] it denoises blindly (DnCNN-B).

The architecture (Section III-A) is a VGG-like stack without pooling, every conv 3x3
with 64 filters and zero padding of 1, so the output has the input's size::

    layer 1          Conv(c -> 64) + ReLU
    layers 2..D-1    Conv(64 -> 64) + BN + ReLU
    layer D          Conv(64 -> c)                 -> the noise estimate R(y)

Depth D gives a receptive field of ``2 D + 1`` pixels: 35x35 for D = 17 (DnCNN-S, one
known noise level, trained on 40x40 patches) and 41x41 for D = 20 (DnCNN-B, blind over
sigma in [0, 55], trained on 50x50 patches). ``c`` is 1 for grayscale and 3 for colour
(CDnCNN-B). The paper pads with zeros rather than shrinking the map, and reports that
this causes no boundary artifacts.

Deviations:
    The first conv has a bias and the others none (the middle convs are followed by
    batch norm, whose shift replaces a bias; the last predicts zero-mean noise), as in
    the authors' PyTorch re-implementation; the paper does not say. Weights are
    initialised with He et al.'s normal initialisation, as the paper says, except the
    last conv, which starts at zero (``zero_init_last=True``, the default): the network
    starts as the identity, ``x_hat = y``, with the residual growing from nothing. With
    He initialisation everywhere the first noise estimates have a standard deviation
    near 1 (ten times the noise at sigma 25) and a short CPU training stalls near the
    noisy input's PSNR: measured here on the bundled images at sigma 25 (batch 16, Adam
    1e-3, bf16), train PSNR after 125 steps was 21.0 dB with He initialisation and 27.2
    dB with the zero-initialised last layer. The default PyTorch batch norm (eps 1e-5,
    momentum 0.1) is used. CDnCNN-B is the 20-layer network with 3 input and output
    channels; the paper's DnCNN-3 (one model for denoising, super-resolution and JPEG
    deblocking) is the same network trained on other data and is not registered.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.models._classifier import check_image_input
from convzoo.ops.conv_norm_act import ConvNormAct, LayerFactory
from convzoo.registry import Paper, register_model

__all__ = ["DnCNN", "dncnn_s", "dncnn_b", "cdncnn_b"]

PAPER = Paper(
    title="Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising",
    authors="K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang",
    venue="IEEE Transactions on Image Processing",
    year=2017,
    url="https://arxiv.org/abs/1608.03981",
)

# The input check is one opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_image_input")

DEVIATIONS = (
    "Bias only in the first conv; He-normal init except the last conv, which starts at zero (the identity; "
    "trains much faster on a CPU budget); default PyTorch batch norm settings."
)

# Table II of the paper: average PSNR (dB) on the 68 BSD68 test images, grayscale. DnCNN-S
# is one model per sigma; DnCNN-B one blind model for all three.
BSD68_PSNR = {
    "sigma 15": {"BM3D": 31.07, "DnCNN-S": 31.73, "DnCNN-B": 31.61},
    "sigma 25": {"BM3D": 28.57, "DnCNN-S": 29.23, "DnCNN-B": 29.16},
    "sigma 50": {"BM3D": 25.62, "DnCNN-S": 26.23, "DnCNN-B": 26.23},
}


class DnCNN(nn.Module):
    """DnCNN: ``depth`` 3x3 convs that predict the noise; the output is the input minus it.

    Args:
        in_chans: channels of the image (1 grayscale, 3 colour); the noise estimate has as many.
        depth: number of conv layers D (17 for DnCNN-S, 20 for DnCNN-B), at least 2.
        width: filters of every hidden layer (64 in the paper).
        norm_layer: norm of the middle layers; ``None`` for none (the convs then have biases).
        act_layer: activation after every conv but the last.
        zero_init_last: start the last conv at zero, so the untrained network is the identity.

    Shape:
        (B, in_chans, H, W) -> (B, in_chans, H, W), any H and W.
    """

    def __init__(
        self,
        in_chans: int = 1,
        depth: int = 17,
        width: int = 64,
        norm_layer: LayerFactory | None = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
        zero_init_last: bool = True,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN needs a depth of at least 2 conv layers, got {depth}")
        self.in_chans = in_chans
        self.depth = depth
        self.width = width
        self.head = ConvNormAct(in_chans, width, 3, norm_layer=None, act_layer=act_layer)  # Conv + ReLU
        self.body = nn.Sequential(
            *[ConvNormAct(width, width, 3, norm_layer=norm_layer, act_layer=act_layer) for _ in range(depth - 2)]
        )
        self.tail = nn.Conv2d(width, in_chans, 3, padding=1, bias=False)
        self._init_weights(zero_init_last)

    @property
    def receptive_field(self) -> int:
        """Side of the square of input pixels one output pixel depends on: ``2 * depth + 1``."""
        return 2 * self.depth + 1

    def _init_weights(self, zero_init_last: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if zero_init_last:
            nn.init.zeros_(self.tail.weight)

    def predict_noise(self, noisy: torch.Tensor) -> torch.Tensor:
        """The residual R(y): the network's estimate of the noise in ``noisy``."""
        check_image_input(noisy, self.in_chans, 1, None, type(self).__name__)
        x = self.head(noisy)  # (B, width, H, W)
        x = self.body(x)  # (B, width, H, W)
        return self.tail(x)  # (B, in_chans, H, W)

    def forward(self, noisy: torch.Tensor) -> torch.Tensor:
        """The denoised image ``y - R(y)``."""
        return noisy - self.predict_noise(noisy)


_NOTES_S = {
    "BSD68 PSNR (dB), paper Table II": BSD68_PSNR,
    "training (paper)": "400 BSD images 180x180, 128x1600 patches of 40x40, one sigma in {15, 25, 50}",
    "receptive field": "35x35 (2 x 17 + 1)",
}


# What every DnCNN's registry entry shares; each adds its input size and notes.
_ENTRY = dict(family="dncnn", task="denoise", paper=PAPER, num_classes=0, deviations=DEVIATIONS)


@register_model(**_ENTRY, input_size=(1, 40, 40), notes=_NOTES_S)
def dncnn_s(**kwargs: Any) -> DnCNN:
    """DnCNN-S: 17 layers, grayscale, trained for one known noise level: 556,096 parameters."""
    return DnCNN(**{"depth": 17, **kwargs})


@register_model(
    **_ENTRY,
    input_size=(1, 40, 40),
    notes={
        "BSD68 PSNR (dB), paper Table II": BSD68_PSNR,
        "training (paper)": "BSD images, 128x3000 patches of 50x50, sigma drawn from [0, 55] (blind)",
        "receptive field": "41x41 (2 x 20 + 1)",
    },
)
def dncnn_b(**kwargs: Any) -> DnCNN:
    """DnCNN-B: 20 layers, grayscale, blind over sigma in [0, 55]: 667,072 parameters."""
    return DnCNN(**{"depth": 20, **kwargs})


@register_model(
    **_ENTRY,
    input_size=(3, 40, 40),
    notes={
        "training (paper)": "432 colour BSD images, 128x3000 patches of 50x50, sigma drawn from [0, 55] (blind)",
        "receptive field": "41x41 (2 x 20 + 1)",
    },
)
def cdncnn_b(**kwargs: Any) -> DnCNN:
    """CDnCNN-B: the colour blind denoiser, 20 layers on RGB: 669,376 parameters."""
    return DnCNN(**{"in_chans": 3, "depth": 20, **kwargs})
