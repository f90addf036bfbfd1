"""HybridSN: 3-D convolutions for spectral-spatial features, then a 2-D convolution, for hyperspectral pixels.

Paper: HybridSN: Exploring 3-D-2-D CNN Feature Hierarchy for Hyperspectral Image
Classification (Swalpa Kumar Roy, Gopal Krishna, Shiv Ram Dubey, Bidyut B. Chaudhuri,
IEEE GRSL 2020) https://arxiv.org/abs/1902.06701

A hyperspectral scene is a cube: every pixel is a spectrum of a hundred or more bands,
and the task is to label each pixel with its land-cover class. A pixel's spectrum alone
is ambiguous (crops in different growth stages, mixed pixels, noise), so the network
classifies a small spatial *patch* centred on the pixel, which brings in its
neighbours. The input is first reduced to a few principal components along the bands
(PCA over the scene's pixels; 30 components for Indian Pines), then cut into
``window x window`` patches (25 x 25).

Why 3-D then 2-D (Section II):

* a 2-D convolution over the bands treats them as unrelated channels: it sums over all
  bands at once and cannot learn a *spectral* pattern that may appear at any depth;
* a 3-D convolution slides its kernel along the bands too, so one kernel learns a local
  spectral-spatial shape (here 3 x 3 pixels over 7, 5, then 3 components) wherever it
  occurs in the spectrum; but 3-D convolutions alone are costly and learn spatial
  texture slowly;
* HybridSN stacks three 3-D convolutions (8, 16, 32 filters), folds the remaining
  spectral depth into channels (32 filters x 18 depths = 576 channels) and lets one 2-D
  convolution (64 filters, 3 x 3) learn the spatial features on top.

Every convolution is *valid* (unpadded), so each removes two pixels from the window and
``k - 1`` components from the depth; then three fully connected layers classify::

    input   30 x 25 x 25   (components x window x window), a unit channel added: 1@30x25x25
    conv3d  8 @ 3x3x7  ->  8@24x23x23
    conv3d 16 @ 3x3x5  -> 16@20x21x21
    conv3d 32 @ 3x3x3  -> 32@18x19x19
    reshape            -> 576@19x19
    conv2d 64 @ 3x3    -> 64@17x17
    flatten            -> 18,496
    FC 256, dropout 0.4, FC 128, dropout 0.4, FC classes

With 16 classes that is 5,122,176 trainable parameters, the paper's Table I; the first
fully connected layer holds 4.7 million of them (18,496 x 256).

The patch side is fixed when the model is built (``window_size``): the first fully
connected layer's width follows it, so the model takes exactly that side
(``fixed_input_size``). The smallest window that fits the four valid 3 x 3 convolutions
is 9 (``min_input_size``).

Deviations:
    The paper's code is Keras, channels last: it reshapes ``(H, W, depth, filters)`` to
    ``(H, W, depth * filters)``; here ``(filters, depth, H, W)`` becomes
    ``(filters * depth, H, W)``, the same layer with its input channels in another order.
    Weights are initialised as Keras does (Glorot uniform, zero biases). With fewer than
    13 input components the valid spectral kernels would not fit, so each spectral kernel
    is shortened to the depth left (at least one component remains); at 13 or more
    components the network is the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["HybridSN", "hybridsn", "spectral_kernels"]

PAPER = Paper(
    title="HybridSN: Exploring 3-D-2-D CNN Feature Hierarchy for Hyperspectral Image Classification",
    authors="Swalpa Kumar Roy, Gopal Krishna, Shiv Ram Dubey, Bidyut B. Chaudhuri",
    venue="IEEE Geoscience and Remote Sensing Letters",
    year=2020,
    url="https://arxiv.org/abs/1902.06701",
)

# The paper's 3-D layers as (filters, spectral kernel depth); every spatial kernel is 3 x 3.
CONV3D_LAYERS: tuple[tuple[int, int], ...] = ((8, 7), (16, 5), (32, 3))
CONV2D_FILTERS = 64
HIDDEN_FEATURES = (256, 128)
MIN_WINDOW = 9  # four valid 3 x 3 convolutions take 8 pixels off the side


def spectral_kernels(bands: int, depths: Sequence[int] = tuple(d for _, d in CONV3D_LAYERS)) -> tuple[list[int], int]:
    """The spectral kernel depth of each 3-D layer for ``bands`` components, and the depth left after them.

    Each kernel is the paper's, shortened to the depth that remains where it would not fit.
    """
    kernels = []
    for depth in depths:
        kernel = min(depth, bands)
        kernels.append(kernel)
        bands = bands - kernel + 1  # valid convolution along the bands
    return kernels, bands


class HybridSN(ImageClassifier):
    """HybridSN for PCA-reduced hyperspectral patches.

    Args:
        num_classes: land-cover classes (16 for Indian Pines and Salinas, 9 for Pavia
            University); 0 gives the 128 pre-logit features.
        in_chans: spectral components of the input (the PCA's; 30 in the paper).
        window_size: side of the square patch centred on the pixel (25 in the paper).
        drop_rate: dropout after each hidden fully connected layer (0.4 in the paper).
        act_layer: activation after every layer but the classifier.

    Shape:
        - Input: ``(B, in_chans, window_size, window_size)``
        - Output: ``(B, num_classes)``
    """

    min_input_size = MIN_WINDOW

    def __init__(
        self,
        num_classes: int = 16,
        in_chans: int = 30,
        window_size: int = 25,
        drop_rate: float = 0.4,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if window_size < MIN_WINDOW:
            raise ValueError(f"HybridSN needs a window of at least {MIN_WINDOW} pixels, got {window_size}")
        self.in_chans, self.num_classes = in_chans, num_classes
        self.fixed_input_size = window_size
        kernels, depth = spectral_kernels(in_chans)
        side = window_size
        channels = 1
        self.feature_info = []
        for index, ((filters, _), kernel) in enumerate(zip(CONV3D_LAYERS, kernels), start=1):
            conv = nn.Conv3d(channels, filters, kernel_size=(kernel, 3, 3))
            setattr(self, f"conv{index}", nn.Sequential(conv, act_layer(inplace=True)))
            self.feature_info.append(dict(num_chs=filters, reduction=1, module=f"conv{index}"))
            channels, side = filters, side - 2
        self.conv4 = nn.Sequential(
            nn.Conv2d(channels * depth, CONV2D_FILTERS, kernel_size=3), act_layer(inplace=True)
        )
        side -= 2
        self.feature_info.append(dict(num_chs=CONV2D_FILTERS, reduction=1, module="conv4"))
        self.flatten = nn.Flatten(1)
        width = CONV2D_FILTERS * side * side
        self.fc1 = nn.Sequential(nn.Linear(width, HIDDEN_FEATURES[0]), act_layer(inplace=True), nn.Dropout(drop_rate))
        self.fc2 = nn.Sequential(
            nn.Linear(*HIDDEN_FEATURES), act_layer(inplace=True), nn.Dropout(drop_rate)
        )
        self.num_features = HIDDEN_FEATURES[1]
        self.classifier = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """Keras's defaults, which the paper's code used: Glorot uniform weights, zero biases."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # (B, 1, bands, H, W): one input channel for the 3-D convolutions
        x = self.conv1(x)  # (B, 8, bands - 6, H - 2, W - 2)
        x = self.conv2(x)  # (B, 16, bands - 10, H - 4, W - 4)
        x = self.conv3(x)  # (B, 32, bands - 12, H - 6, W - 6)
        x = x.flatten(1, 2)  # (B, 32 * (bands - 12), H - 6, W - 6): the spectral depth becomes channels
        return self.conv4(x)  # (B, 64, H - 8, W - 8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.flatten(x)  # (B, 64 (H - 8) (W - 8))
        x = self.fc2(self.fc1(x))  # (B, 128)
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier = classifier_layer(self.num_features, num_classes)


@register_model(
    family="hybridsn",
    task="hyperspectral",
    paper=PAPER,
    input_size=(30, 25, 25),
    num_classes=16,
    deviations=(
        "Keras channels-last reshape order differs (same layer, permuted channels); fewer than 13 input "
        "components shorten the spectral kernels to fit"
    ),
    notes={
        "parameters (Indian Pines: 30 components, 25x25, 16 classes)": "5,122,176 (Table I)",
        "paper's recipe": "PCA to 30 components on Indian Pines (15 on Pavia University and Salinas), "
        "25x25 zero-padded patches, 30% of labelled pixels for training, Adam lr 1e-3, "
        "batch 256, 100 epochs",
        "paper's results, 30% training (OA / kappa / AA, %)": {
            "Indian Pines": "99.75 / 99.71 / 99.63",
            "Pavia University": "99.98 / 99.98 / 99.97",
            "Salinas": "100 / 100 / 100",
        },
        "train": "convzoo train hybridsn --task hyperspectral --dataset indian_pines --data-dir D",
    },
)
def hybridsn(**kwargs) -> HybridSN:
    """HybridSN as in the paper for Indian Pines: 30 components, 25 x 25 patches, 16 classes."""
    return HybridSN(**kwargs)
