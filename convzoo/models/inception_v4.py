"""Inception-v4 and Inception-ResNet-v2: a uniform Inception, and Inception with residual connections.

Paper: Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning
(Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alexander Alemi, AAAI 2017)
https://arxiv.org/abs/1602.07261

Freed from the memory limits that had shaped Inception-v3's irregular layout, Inception-v4
is a uniform stack (Fig. 9): a stem of plain and branched convs (Fig. 3), four
Inception-A modules at 35x35 (Fig. 4), a reduction (Fig. 7), seven Inception-B modules at
17x17 with factorised 1x7/7x1 convs (Fig. 5), a second reduction (Fig. 8), three
Inception-C modules at 8x8 whose branches end in a 1x3 and a 3x1 conv side by side (Fig. 6),
average pooling, dropout and a linear layer.

Residual connections had just made very deep ResNets trainable; the paper asks whether they
help Inception too. Inception-ResNet-v2 (Figs. 15, 16, 17, 18, 19) keeps the Inception
branches but ends each block in a 1x1 conv back to the input's width, whose output is
*scaled* and added to the input (:class:`~convzoo.blocks.inception.InceptionResidual`):
10 blocks at 35x35 (scale 0.17), 20 at 17x17 (0.1), 10 at 8x8 (0.2, the last one without
its ReLU). The residual version trained markedly faster and ended slightly better than an
Inception network of similar cost; with more than about 1000 filters the residual networks
"died" early in training unless the residuals were scaled down by 0.1 to 0.3 (Sec. 3.3).

Deviations:
    - Both networks follow timm's ports (themselves from the TF-slim checkpoints), so that
      timm's weights load with identical outputs: batch norm with eps 1e-3 after every
      conv, and Inception-ResNet-v2 uses TF-slim's stem and block widths (its 35x35 stage
      starts from a "mixed_5b" inception module as in TF-slim, which differ in places from
      the paper's Figs. 3 and 16-19; the paper's widths do not add up everywhere either).
    - No dropout before the classifier by default (timm); the paper keeps 0.8 of the units.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Callable, Mapping

import torch
from torch import nn

from convzoo.blocks.inception import ConvBnAct, InceptionBlock, InceptionResidual
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["InceptionV4", "InceptionResNetV2", "inception_v4", "inception_resnet_v2"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    authors="Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alexander Alemi",
    venue="AAAI",
    year=2017,
    url="https://arxiv.org/abs/1602.07261",
)

DEVIATIONS = (
    "timm's (TF-slim) layout and widths, batch norm eps 1e-3; Inception-ResNet-v2's stem and 35x35 entry block "
    "follow TF-slim, not the paper's Fig. 3/16; no dropout by default."
)


def _avg_pool() -> nn.AvgPool2d:
    # The pool branches average the valid pixels only (TF's 'SAME' average pool).
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _split(conv: LayerFactory, in_channels: int, out_channels: int) -> InceptionBlock:
    """A 1x3 and a 3x1 conv side by side, concatenated: twice ``out_channels`` wide."""
    return InceptionBlock(in_channels, {
        "a": conv(in_channels, out_channels, kernel_size=(1, 3), padding=(0, 1)),
        "b": conv(in_channels, out_channels, kernel_size=(3, 1), padding=(1, 0)),
    })


# ------------------------------------------------------------------------------------------
# Inception-v4 (Fig. 9)


def v4_stem(in_chans: int, conv: LayerFactory) -> list[nn.Module]:
    """Fig. 3: three 3x3 convs, then three two-branch blocks that widen to 384 and shrink to 35x35."""
    return [
        conv(in_chans, 32, kernel_size=3, stride=2),  # (B, 32, 149, 149)
        conv(32, 32, kernel_size=3),  # (B, 32, 147, 147)
        conv(32, 64, kernel_size=3, padding=1),  # (B, 64, 147, 147)
        InceptionBlock(64, {"maxpool": nn.MaxPool2d(3, stride=2), "conv": conv(64, 96, kernel_size=3, stride=2)}),
        InceptionBlock(160, {  # (B, 192, 71, 71)
            "branch0": [conv(160, 64, kernel_size=1), conv(64, 96, kernel_size=3)],
            "branch1": [
                conv(160, 64, kernel_size=1),
                conv(64, 64, kernel_size=(1, 7), padding=(0, 3)),
                conv(64, 64, kernel_size=(7, 1), padding=(3, 0)),
                conv(64, 96, kernel_size=3),
            ],
        }),
        InceptionBlock(192, {"conv": conv(192, 192, kernel_size=3, stride=2), "maxpool": nn.MaxPool2d(3, stride=2)}),
    ]


def v4_inception_a(conv: LayerFactory) -> InceptionBlock:
    """Fig. 4, 35x35x384."""
    return InceptionBlock(384, {
        "branch0": conv(384, 96, kernel_size=1),
        "branch1": [conv(384, 64, kernel_size=1), conv(64, 96, kernel_size=3, padding=1)],
        "branch2": [
            conv(384, 64, kernel_size=1),
            conv(64, 96, kernel_size=3, padding=1),
            conv(96, 96, kernel_size=3, padding=1),
        ],
        "branch3": [_avg_pool(), conv(384, 96, kernel_size=1)],
    })


def v4_reduction_a(conv: LayerFactory) -> InceptionBlock:
    """Fig. 7 with (k, l, m, n) = (192, 224, 256, 384): 35 -> 17, 384 -> 1024 channels."""
    return InceptionBlock(384, {
        "branch0": conv(384, 384, kernel_size=3, stride=2),
        "branch1": [
            conv(384, 192, kernel_size=1),
            conv(192, 224, kernel_size=3, padding=1),
            conv(224, 256, kernel_size=3, stride=2),
        ],
        "branch2": nn.MaxPool2d(3, stride=2),
    })


def v4_inception_b(conv: LayerFactory) -> InceptionBlock:
    """Fig. 5, 17x17x1024: 7x7 convs factorised into 1x7 and 7x1."""
    return InceptionBlock(1024, {
        "branch0": conv(1024, 384, kernel_size=1),
        "branch1": [
            conv(1024, 192, kernel_size=1),
            conv(192, 224, kernel_size=(1, 7), padding=(0, 3)),
            conv(224, 256, kernel_size=(7, 1), padding=(3, 0)),
        ],
        "branch2": [
            conv(1024, 192, kernel_size=1),
            conv(192, 192, kernel_size=(7, 1), padding=(3, 0)),
            conv(192, 224, kernel_size=(1, 7), padding=(0, 3)),
            conv(224, 224, kernel_size=(7, 1), padding=(3, 0)),
            conv(224, 256, kernel_size=(1, 7), padding=(0, 3)),
        ],
        "branch3": [_avg_pool(), conv(1024, 128, kernel_size=1)],
    })


def v4_reduction_b(conv: LayerFactory) -> InceptionBlock:
    """Fig. 8: 17 -> 8, 1024 -> 1536 channels."""
    return InceptionBlock(1024, {
        "branch0": [conv(1024, 192, kernel_size=1), conv(192, 192, kernel_size=3, stride=2)],
        "branch1": [
            conv(1024, 256, kernel_size=1),
            conv(256, 256, kernel_size=(1, 7), padding=(0, 3)),
            conv(256, 320, kernel_size=(7, 1), padding=(3, 0)),
            conv(320, 320, kernel_size=3, stride=2),
        ],
        "branch2": nn.MaxPool2d(3, stride=2),
    })


def v4_inception_c(conv: LayerFactory) -> InceptionBlock:
    """Fig. 6, 8x8x1536: two branches end in a 1x3 and a 3x1 conv side by side."""
    return InceptionBlock(1536, {
        "branch0": conv(1536, 256, kernel_size=1),
        "branch1": [conv(1536, 384, kernel_size=1), _split(conv, 384, 256)],
        "branch2": [
            conv(1536, 384, kernel_size=1),
            conv(384, 448, kernel_size=(3, 1), padding=(1, 0)),
            conv(448, 512, kernel_size=(1, 3), padding=(0, 1)),
            _split(conv, 512, 256),
        ],
        "branch3": [_avg_pool(), conv(1536, 256, kernel_size=1)],
    })


# timm numbers the layers of Inception-C's branches as attributes (`branch2_3a`); ours are the
# branch Sequential's items (`branch2.3`) and the split's halves `a`/`b`.
_V4_NUMBERED_LAYER = re.compile(r"^(features\.\d+\.branch\d)_(\d)([ab]?)\.")


def _remap_v4_key(key: str) -> str:
    match = _V4_NUMBERED_LAYER.match(key)
    if match is None:
        return key
    prefix, number, half = match.groups()
    return f"{prefix}.{number}." + (f"{half}." if half else "") + key[match.end():]


class InceptionV4(ImageClassifier):
    """Inception-v4 (Fig. 9): stem, 4 x Inception-A, Reduction-A, 7 x Inception-B, Reduction-B, 3 x Inception-C.

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        drop_rate: dropout before the last layer.
        norm_layer: builds the norm of every conv unit from a channel count.
        act_layer: builds the activation of every conv unit.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 75``
        - Output: ``(B, num_classes)``
    """

    # Unpadded 3x3 convs and pools of stride 2 at five places: 75x75 leaves a 1x1 map.
    min_input_size = 75

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        norm_layer: LayerFactory = partial(nn.BatchNorm2d, eps=1e-3),
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        conv = partial(ConvBnAct, norm_layer=norm_layer, act_layer=act_layer)
        self.features = nn.Sequential(
            *v4_stem(in_chans, conv),  # 0-5: (B, 384, 35, 35) at 299x299
            *[v4_inception_a(conv) for _ in range(4)],  # 6-9
            v4_reduction_a(conv),  # 10: (B, 1024, 17, 17)
            *[v4_inception_b(conv) for _ in range(7)],  # 11-17
            v4_reduction_b(conv),  # 18: (B, 1536, 8, 8)
            *[v4_inception_c(conv) for _ in range(3)],  # 19-21
        )
        self.num_features = 1536
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="features.2"),
            dict(num_chs=160, reduction=4, module="features.3"),
            dict(num_chs=384, reduction=8, module="features.9"),
            dict(num_chs=1024, reduction=16, module="features.17"),
            dict(num_chs=1536, reduction=32, module="features.21"),
        ]
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.last_linear = classifier_layer(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 1536, 8, 8) at 299x299

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.global_pool(x), 1))  # (B, 1536)
        return x if pre_logits else self.last_linear(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.last_linear

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.last_linear = classifier_layer(self.num_features, num_classes)

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map timm's Inception-v4 keys to ours: in Inception-C, ``branch1_0`` -> ``branch1.0``,
        ``branch2_3a`` -> ``branch2.3.a``; every other key is the same."""
        return {_remap_v4_key(key): value for key, value in state_dict.items()}


# ------------------------------------------------------------------------------------------
# Inception-ResNet-v2 (Fig. 15)


def block35(conv: LayerFactory, scale: float) -> InceptionResidual:
    """Inception-ResNet-A (Fig. 16), 35x35x320."""
    return InceptionResidual(320, {
        "branch0": conv(320, 32, kernel_size=1),
        "branch1": [conv(320, 32, kernel_size=1), conv(32, 32, kernel_size=3, padding=1)],
        "branch2": [
            conv(320, 32, kernel_size=1),
            conv(32, 48, kernel_size=3, padding=1),
            conv(48, 64, kernel_size=3, padding=1),
        ],
    }, scale=scale)


def block17(conv: LayerFactory, scale: float) -> InceptionResidual:
    """Inception-ResNet-B (Fig. 17), 17x17x1088."""
    return InceptionResidual(1088, {
        "branch0": conv(1088, 192, kernel_size=1),
        "branch1": [
            conv(1088, 128, kernel_size=1),
            conv(128, 160, kernel_size=(1, 7), padding=(0, 3)),
            conv(160, 192, kernel_size=(7, 1), padding=(3, 0)),
        ],
    }, scale=scale)


def block8(conv: LayerFactory, scale: float, activate: bool = True) -> InceptionResidual:
    """Inception-ResNet-C (Fig. 19), 8x8x2080."""
    return InceptionResidual(2080, {
        "branch0": conv(2080, 192, kernel_size=1),
        "branch1": [
            conv(2080, 192, kernel_size=1),
            conv(192, 224, kernel_size=(1, 3), padding=(0, 1)),
            conv(224, 256, kernel_size=(3, 1), padding=(1, 0)),
        ],
    }, scale=scale, act_layer=nn.ReLU if activate else None)


class InceptionResNetV2(ImageClassifier):
    """Inception-ResNet-v2 (Fig. 15): stem, 10 x block35, reduction, 20 x block17, reduction, 10 x block8.

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        drop_rate: dropout before the last layer.
        norm_layer: builds the norm of every conv unit from a channel count.
        act_layer: builds the activation of every conv unit.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 75``
        - Output: ``(B, num_classes)``
    """

    # Unpadded 3x3 convs and pools of stride 2 at five places: 75x75 leaves a 1x1 map.
    min_input_size = 75

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        norm_layer: LayerFactory = partial(nn.BatchNorm2d, eps=1e-3),
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        conv = partial(ConvBnAct, norm_layer=norm_layer, act_layer=act_layer)

        # Stem (TF-slim's, as timm's): plain convs and max-pools.
        self.conv2d_1a = conv(in_chans, 32, kernel_size=3, stride=2)
        self.conv2d_2a = conv(32, 32, kernel_size=3)
        self.conv2d_2b = conv(32, 64, kernel_size=3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = conv(64, 80, kernel_size=1)
        self.conv2d_4a = conv(80, 192, kernel_size=3)
        self.maxpool_5a = nn.MaxPool2d(3, stride=2)

        self.mixed_5b = InceptionBlock(192, {
            "branch0": conv(192, 96, kernel_size=1),
            "branch1": [conv(192, 48, kernel_size=1), conv(48, 64, kernel_size=5, padding=2)],
            "branch2": [
                conv(192, 64, kernel_size=1),
                conv(64, 96, kernel_size=3, padding=1),
                conv(96, 96, kernel_size=3, padding=1),
            ],
            "branch3": [_avg_pool(), conv(192, 64, kernel_size=1)],
        })
        self.repeat = nn.Sequential(*[block35(conv, scale=0.17) for _ in range(10)])
        # Reduction-A (Fig. 7) with (k, l, m, n) = (256, 256, 384, 384).
        self.mixed_6a = InceptionBlock(320, {
            "branch0": conv(320, 384, kernel_size=3, stride=2),
            "branch1": [
                conv(320, 256, kernel_size=1),
                conv(256, 256, kernel_size=3, padding=1),
                conv(256, 384, kernel_size=3, stride=2),
            ],
            "branch2": nn.MaxPool2d(3, stride=2),
        })
        self.repeat_1 = nn.Sequential(*[block17(conv, scale=0.10) for _ in range(20)])
        # Reduction-B (Fig. 18).
        self.mixed_7a = InceptionBlock(1088, {
            "branch0": [conv(1088, 256, kernel_size=1), conv(256, 384, kernel_size=3, stride=2)],
            "branch1": [conv(1088, 256, kernel_size=1), conv(256, 288, kernel_size=3, stride=2)],
            "branch2": [
                conv(1088, 256, kernel_size=1),
                conv(256, 288, kernel_size=3, padding=1),
                conv(288, 320, kernel_size=3, stride=2),
            ],
            "branch3": nn.MaxPool2d(3, stride=2),
        })
        self.repeat_2 = nn.Sequential(*[block8(conv, scale=0.20) for _ in range(9)])
        self.block8 = block8(conv, scale=1.0, activate=False)
        self.conv2d_7b = conv(2080, 1536, kernel_size=1)

        self.num_features = 1536
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="conv2d_2b"),
            dict(num_chs=192, reduction=4, module="conv2d_4a"),
            dict(num_chs=320, reduction=8, module="repeat"),
            dict(num_chs=1088, reduction=16, module="repeat_1"),
            dict(num_chs=1536, reduction=32, module="conv2d_7b"),
        ]
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.classif = classifier_layer(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes at 299x299.
        x = self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))  # (B, 64, 147, 147)
        x = self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(x)))  # (B, 192, 71, 71)
        x = self.mixed_5b(self.maxpool_5a(x))  # (B, 320, 35, 35)
        x = self.mixed_6a(self.repeat(x))  # (B, 1088, 17, 17)
        x = self.mixed_7a(self.repeat_1(x))  # (B, 2080, 8, 8)
        x = self.block8(self.repeat_2(x))  # (B, 2080, 8, 8)
        return self.conv2d_7b(x)  # (B, 1536, 8, 8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.global_pool(x), 1))  # (B, 1536)
        return x if pre_logits else self.classif(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classif

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classif = classifier_layer(self.num_features, num_classes)


@register_model(
    family="inception", paper=PAPER, input_size=(3, 299, 299), timm="inception_v4", deviations=DEVIATIONS,
    notes={"paper_top1_error": "20.0% / top-5 5.0% (single model, single crop, ILSVRC 2012 validation)"},
)
def inception_v4(**kwargs: Any) -> InceptionV4:
    """Inception-v4, 42.7M parameters."""
    return InceptionV4(**kwargs)


@register_model(
    family="inception", paper=PAPER, input_size=(3, 299, 299), timm="inception_resnet_v2", deviations=DEVIATIONS,
    notes={"paper_top1_error": "19.9% / top-5 4.9% (single model, single crop, ILSVRC 2012 validation)"},
)
def inception_resnet_v2(**kwargs: Any) -> InceptionResNetV2:
    """Inception-ResNet-v2, 55.8M parameters."""
    return InceptionResNetV2(**kwargs)
