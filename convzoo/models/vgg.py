"""VGG: very deep networks built from small 3x3 convolutions.

Paper: Very Deep Convolutional Networks for Large-Scale Image Recognition (Karen Simonyan,
Andrew Zisserman, ICLR 2015) https://arxiv.org/abs/1409.1556

VGG asks one question: what does depth alone buy, if everything else is kept simple? Every
conv is 3x3 with stride 1 and padding 1, so it keeps the resolution; a 2x2 max-pool of
stride 2 halves it after each of five stages, and the width doubles after each pool from 64
until it reaches 512. Three fully connected layers (4096, 4096, 1000 outputs, dropout 0.5
after the first two) classify the final 7x7x512 map.

Why 3x3 only: two stacked 3x3 convs see a 5x5 window and three see 7x7, yet three 3x3 convs
of C channels hold 3 * (3^2 C^2) = 27 C^2 weights against 49 C^2 for one 7x7 conv, and put
three non-linearities in place of one (Sec. 2.3). The configurations of Table 1 differ only
in how many convs each stage stacks: A (VGG-11) to E (VGG-19). Accuracy rose with depth up
to 16 layers and saturated at 19.

Deviations:
    - An adaptive average pool to 7x7 before the classifier, as in torchvision, so any
      input of at least 32x32 works; the paper trains on 224x224 crops and evaluates
      larger images by running the fully connected layers as convolutions.
    - The ``_bn`` variants put a batch norm after every conv; batch norm came after the
      paper, and these follow torchvision.
    - Initialisation follows torchvision (He normal for convs, N(0, 0.01) for linear
      layers); the paper initialised the deeper nets partly from the trained
      configuration A and otherwise from N(0, 0.01), and notes that Glorot's scheme
      works without that pre-training.
    - Configurations C (with 1x1 convs) and A-LRN are not provided, as in torchvision.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = [
    "VGG", "TABLE_1",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="Very Deep Convolutional Networks for Large-Scale Image Recognition",
    authors="Karen Simonyan, Andrew Zisserman",
    venue="ICLR",
    year=2015,
    url="https://arxiv.org/abs/1409.1556",
)

DEVIATIONS = (
    "Adaptive 7x7 average pool before the classifier (torchvision), so inputs from 32x32 work; "
    "torchvision's initialisation; the _bn variants add batch norm, which the paper predates."
)

# Table 1 of the paper: every configuration has five stages of 3x3 convs, of these widths,
# each closed by a 2x2 max-pool; they differ in how many convs each stage stacks.
STAGE_WIDTHS = (64, 128, 256, 512, 512)
TABLE_1: dict[str, tuple[int, int, int, int, int]] = {
    "A": (1, 1, 2, 2, 2),  # VGG-11
    "B": (2, 2, 2, 2, 2),  # VGG-13
    "D": (2, 2, 3, 3, 3),  # VGG-16
    "E": (2, 2, 4, 4, 4),  # VGG-19
}

# timm runs the first two fully connected layers as convs: fc1 a 7x7 conv over the 7x7
# map, fc2 a 1x1 conv. A conv whose kernel covers the whole map is the linear layer on
# the flattened (C, H, W) map, so its weight only needs reshaping to (out, C * 7 * 7).
_TIMM_TO_OURS = {"pre_logits.fc1": "classifier.0", "pre_logits.fc2": "classifier.3", "head.fc": "classifier.6"}


class VGG(ImageClassifier):
    """A VGG network: five stages of 3x3 convs and max-pools, then three fully connected layers.

    Args:
        convs_per_stage: how many 3x3 convs each of the five stages stacks (a row of
            :data:`TABLE_1`).
        num_classes: outputs of the last layer; 0 for none (the 4096 features).
        in_chans: channels of the input image.
        norm_layer: builds a norm from a channel count, placed after every conv;
            ``None`` for none, as in the paper.
        act_layer: builds an activation from no arguments.
        drop_rate: dropout probability before the second and third linear layers.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 32``
        - Output: ``(B, num_classes)``
    """

    # Five 2x2 max-pools of stride 2: a side under 32 leaves no pixel after the last one.
    min_input_size = 32

    def __init__(
        self,
        convs_per_stage: Sequence[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        if len(convs_per_stage) != len(STAGE_WIDTHS):
            raise ValueError(f"convs_per_stage must give 5 stages, got {tuple(convs_per_stage)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 4096

        # One flat Sequential, so the keys are torchvision's features.N.
        layers: list[nn.Module] = []
        self.feature_info = []
        in_channels = in_chans
        for stage, (num_convs, width) in enumerate(zip(convs_per_stage, STAGE_WIDTHS)):
            for _ in range(num_convs):
                layers.append(nn.Conv2d(in_channels, width, kernel_size=3, padding=1))
                if norm_layer is not None:
                    layers.append(norm_layer(width))
                layers.append(act_layer())
                in_channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            pool = f"features.{len(layers) - 1}"
            self.feature_info.append(dict(num_chs=width, reduction=2 ** (stage + 1), module=pool))
        self.features = nn.Sequential(*layers)

        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            act_layer(),
            nn.Dropout(drop_rate),
            nn.Linear(4096, 4096),
            act_layer(),
            nn.Dropout(drop_rate),
            classifier_layer(4096, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 512, H/32, W/32), (B, 512, 7, 7) at 224x224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x)  # (B, 512, 7, 7)
        x = torch.flatten(x, 1)  # (B, 25088)
        x = self.classifier[:-1](x)  # (B, 4096)
        return x if pre_logits else self.classifier[-1](x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a timm VGG state dict to ours; torchvision's keys already fit and pass unchanged.

        timm's ``pre_logits.fc1`` (a 7x7 conv), ``pre_logits.fc2`` (a 1x1 conv) and
        ``head.fc`` become ``classifier.0``, ``classifier.3`` and ``classifier.6``, the
        conv weights flattened to linear ones.
        """
        remapped = {}
        for key, value in state_dict.items():
            module, _, name = key.rpartition(".")
            if module in _TIMM_TO_OURS:
                key = f"{_TIMM_TO_OURS[module]}.{name}"
                value = value.flatten(1) if name == "weight" else value
            remapped[key] = value
        return remapped


def _vgg(config: str, batch_norm: bool, **kwargs: Any) -> VGG:
    return VGG(TABLE_1[config], norm_layer=nn.BatchNorm2d if batch_norm else None, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg11", timm="vgg11", deviations=DEVIATIONS)
def vgg11(**kwargs: Any) -> VGG:
    """VGG-11, configuration A of Table 1: 8 convs and 3 fully connected layers, 132.9M parameters."""
    return _vgg("A", batch_norm=False, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg11_bn", timm="vgg11_bn", deviations=DEVIATIONS)
def vgg11_bn(**kwargs: Any) -> VGG:
    """VGG-11 (configuration A) with batch norm after every conv, 132.9M parameters."""
    return _vgg("A", batch_norm=True, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg13", timm="vgg13", deviations=DEVIATIONS)
def vgg13(**kwargs: Any) -> VGG:
    """VGG-13, configuration B of Table 1: 10 convs and 3 fully connected layers, 133.0M parameters."""
    return _vgg("B", batch_norm=False, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg13_bn", timm="vgg13_bn", deviations=DEVIATIONS)
def vgg13_bn(**kwargs: Any) -> VGG:
    """VGG-13 (configuration B) with batch norm after every conv, 133.1M parameters."""
    return _vgg("B", batch_norm=True, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg16", timm="vgg16", deviations=DEVIATIONS)
def vgg16(**kwargs: Any) -> VGG:
    """VGG-16, configuration D of Table 1: 13 convs and 3 fully connected layers, 138.4M parameters."""
    return _vgg("D", batch_norm=False, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg16_bn", timm="vgg16_bn", deviations=DEVIATIONS)
def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 (configuration D) with batch norm after every conv, 138.4M parameters."""
    return _vgg("D", batch_norm=True, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg19", timm="vgg19", deviations=DEVIATIONS)
def vgg19(**kwargs: Any) -> VGG:
    """VGG-19, configuration E of Table 1: 16 convs and 3 fully connected layers, 143.7M parameters."""
    return _vgg("E", batch_norm=False, **kwargs)


@register_model(family="vgg", paper=PAPER, torchvision="vgg19_bn", timm="vgg19_bn", deviations=DEVIATIONS)
def vgg19_bn(**kwargs: Any) -> VGG:
    """VGG-19 (configuration E) with batch norm after every conv, 143.7M parameters."""
    return _vgg("E", batch_norm=True, **kwargs)
