"""Koch's Siamese network for one-shot image recognition: a learned weighted L1 distance.

Paper: Siamese Neural Networks for One-shot Image Recognition (Gregory Koch, Richard
Zemel, Ruslan Salakhutdinov, ICML 2015 Deep Learning Workshop)
https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf

One-shot recognition: given one example of each of N new classes, label a new image.
Koch et al. train a network only to answer "same class or not?" for a pair of images
(a verification task, on Omniglot's background alphabets), then classify a test image
by the support example its pair scores highest with, on alphabets never seen in
training: 92.0% on 20-way one-shot (Table 2).

Both images go through one convolutional twin (Section 3.1), valid convolutions
with ReLU, on 105x105 Omniglot characters::

    input      1 @ 105x105
    conv 10x10 64  -> 64@96x96,  max-pool 2x2 -> 64@48x48
    conv 7x7  128  -> 128@42x42, max-pool 2x2 -> 128@21x21
    conv 4x4  128  -> 128@18x18, max-pool 2x2 -> 128@9x9
    conv 4x4  256  -> 256@6x6
    flatten 9216, fully connected 4096, sigmoid  -> the code h (in (0, 1)^4096)

The twins are joined by the component-wise L1 distance of their codes, weighted by
learned ``alpha_j`` (Section 3.1; written here as a logit)::

    p(same | x1, x2) = sigmoid( sum_j alpha_j |h1_j - h2_j| + b )

so the score is symmetric in the two images by construction, and training with the
cross-entropy of ``p`` against the pair's label (Section 3.2) learns which code units matter.

Parameters: 6,464 + 401,536 + 262,272 + 524,544 (convs) + 37,752,832 (the 9216 -> 4096
layer, 97% of the total) + 4,097 (the distance layer) = 38,951,745.

Initialisation (Section 3.2) is the paper's, the default: conv weights normal with mean 0
and standard deviation 1e-2; fully connected weights mean 0, standard deviation 2e-1;
every bias mean 0.5, standard deviation 1e-2.

Deviations:
    The paper's formula for ``p`` shows no bias; the output unit here has one (the
    ``+ b`` above, one parameter). The training recipe (per-layer learning rates and
    momentum, layer-wise L2 weight decay, affine distortions of the pairs) belongs to
    the metric task, not to the network. Inputs must be 105x105: the fully connected
    layer's width follows from the side.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.models._classifier import check_image_input
from convzoo.models.siamese import drop_num_classes
from convzoo.registry import Paper, register_model

__all__ = ["PAPER", "KochSiamese", "siamese_koch"]

PAPER = Paper(
    title="Siamese Neural Networks for One-shot Image Recognition",
    authors="Gregory Koch, Richard Zemel, Ruslan Salakhutdinov",
    venue="ICML Deep Learning Workshop",
    year=2015,
    url="https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf",
)

# The input check is one opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_image_input")

IMAGE_SIZE = 105
# The paper's convolutional layers as (filters, kernel side, followed by a 2x2 max-pool).
CONV_LAYERS: tuple[tuple[int, int, bool], ...] = ((64, 10, True), (128, 7, True), (128, 4, True), (256, 4, False))
CODE_FEATURES = 4096
CONV_WEIGHT_STD = 1e-2
FC_WEIGHT_STD = 2e-1
BIAS_MEAN, BIAS_STD = 0.5, 1e-2


def _conv_block(in_channels: int, out_channels: int, kernel_size: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class KochSiamese(nn.Module):
    """Koch et al.'s convolutional Siamese network with a weighted L1 output.

    Args:
        in_chans: channels of the input image (1 for Omniglot).

    Attributes:
        fixed_input_size: 105, the only side the network takes.
        feature_info: the four conv blocks (channels, reduction, module).

    Shape:
        - ``embed(x)``: (B, in_chans, 105, 105) -> (B, 4096) codes in (0, 1).
        - ``pair_logits(e1, e2)``: (N, 4096), (N, 4096) -> (N,); ``sigmoid`` of it is
          p(same).
        - ``forward(x)``: the codes; ``forward(x1, x2)``: the pair logits.
    """

    fixed_input_size = IMAGE_SIZE
    min_input_size = IMAGE_SIZE

    def __init__(self, in_chans: int = 1) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.embedding_dim = CODE_FEATURES
        self.feature_info = []
        channels, side = in_chans, IMAGE_SIZE
        for index, (filters, kernel, pool) in enumerate(CONV_LAYERS, start=1):
            setattr(self, f"conv{index}", _conv_block(channels, filters, kernel, pool))
            channels, side = filters, (side - kernel + 1) // (2 if pool else 1)
            self.feature_info.append(dict(num_chs=filters, reduction=IMAGE_SIZE / side, module=f"conv{index}"))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, CODE_FEATURES), nn.Sigmoid())
        self.output = nn.Linear(CODE_FEATURES, 1)  # the alpha_j, and a bias
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                std = CONV_WEIGHT_STD if isinstance(module, nn.Conv2d) else FC_WEIGHT_STD
                nn.init.normal_(module.weight, mean=0.0, std=std)
                nn.init.normal_(module.bias, mean=BIAS_MEAN, std=BIAS_STD)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The 4096 sigmoid code units of each image."""
        check_image_input(x, self.in_chans, IMAGE_SIZE, IMAGE_SIZE, type(self).__name__)
        x = self.conv1(x)  # (B, 64, 48, 48)
        x = self.conv2(x)  # (B, 128, 21, 21)
        x = self.conv3(x)  # (B, 128, 9, 9)
        x = self.conv4(x)  # (B, 256, 6, 6)
        return self.fc(x)  # (B, 4096)

    def pair_logits(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Logits of p(same) for matching rows of two code batches: the weighted L1 distance plus a bias."""
        return self.output((e1 - e2).abs()).squeeze(-1)  # (N,)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        if x2 is None:
            return self.embed(x1)  # (B, 4096)
        if x1.shape[1:] == x2.shape[1:]:
            e1, e2 = self.embed(torch.cat([x1, x2])).chunk(2)  # one batch through the shared twin
            return self.pair_logits(e1, e2)
        return self.pair_logits(self.embed(x1), self.embed(x2))


@register_model(
    family="siamese",
    task="metric",
    paper=PAPER,
    input_size=(1, IMAGE_SIZE, IMAGE_SIZE),
    num_classes=0,
    deviations="A bias in the weighted-L1 output unit (one parameter), which the paper's formula does not show.",
    notes={
        "20-way one-shot accuracy on Omniglot's evaluation alphabets, paper Table 2": "92.0%",
        "initialisation (paper, the default)": "conv weights N(0, std 1e-2), FC weights N(0, std 2e-1), "
        "biases N(0.5, std 1e-2)",
        "parameters": "6,464 + 401,536 + 262,272 + 524,544 + 37,752,832 + 4,097 = 38,951,745",
    },
)
def siamese_koch(**kwargs: Any) -> KochSiamese:
    """Koch et al.'s one-shot Siamese network on 1x105x105: 38,951,745 parameters."""
    return KochSiamese(**drop_num_classes("siamese_koch", kwargs))
