"""MobileNetV2: inverted residuals and linear bottlenecks.

Paper: MobileNetV2: Inverted Residuals and Linear Bottlenecks (Mark Sandler, Andrew Howard,
Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen, CVPR 2018) https://arxiv.org/abs/1801.04381

MobileNetV1 replaced each conv by a depthwise and a pointwise conv. MobileNetV2 keeps the
depthwise conv but builds the network from *inverted residual* blocks
(:mod:`convzoo.blocks.inverted_residual`): a 1x1 conv expands a narrow input ``t = 6``
times, a 3x3 depthwise conv filters the wide tensor, and a *linear* 1x1 conv projects it
back to a narrow output; shortcuts join the narrow ends. The narrow tensors between
blocks are the bottlenecks, and they carry no ReLU, which would destroy information in a
low-dimensional space (Sec. 3.2). ReLU6 is used elsewhere for its robustness in
low-precision arithmetic.

The body is Table 2 of the paper, rows ``(t, c, n, s)``: expansion ``t``, output channels
``c``, ``n`` repeated blocks of which the first has stride ``s``. A 3x3 stride-2 conv of 32
channels comes first; a 1x1 conv to 1280 channels, global average pooling and a linear
layer come last. The width multiplier ``alpha`` scales every width, rounded to a multiple
of 8, except that the last conv never shrinks below 1280 (the paper applies the multiplier
to every layer but the last conv when it is below one).

``mobilenet_v2_cifar`` is the CIFAR-10 version of the CNN course (32x32 inputs): a stride-1
stem and a stride-1 second row, so the network downsamples 8 times instead of 32 and ends
on a 4x4 map.

Deviations:
    - Dropout 0.2 before the classifier (the reference TensorFlow implementation's; the
      paper does not mention dropout) and torchvision's initialisation, as in torchvision.
    - ``mobilenet_v2_cifar`` is not in the paper; it is the course's adaptation to 32x32
      inputs (stride 1 in the stem and in the second row), with no dropout.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible, remap_timm_state_dict
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = ["MobileNetV2", "TABLE_2", "CIFAR_TABLE", "init_mobilenet_v2_weights", "mobilenet_v2", "mobilenet_v2_cifar"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    authors="Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen",
    venue="CVPR",
    year=2018,
    url="https://arxiv.org/abs/1801.04381",
)

DEVIATIONS = "Dropout 0.2 before the classifier (not stated in the paper) and torchvision's initialisation, as in torchvision."
CIFAR_DEVIATIONS = (
    "Not in the paper: the CNN course's CIFAR-10 adaptation, with stride 1 in the stem and in the "
    "second row of Table 2 (8x downsampling, 32x32 -> 4x4) and no dropout."
)

# Table 2 of the paper: expansion t, output channels c, repeats n, stride s of the first block.
TABLE_2: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

# The course's CIFAR-10 table: the second row keeps the resolution of a 32x32 input.
CIFAR_TABLE: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def init_mobilenet_v2_weights(model: nn.Module) -> None:
    """torchvision's MobileNetV2 initialisation: He normal (fan-out) convs, unit norms, N(0, 0.01) linear layers."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


class MobileNetV2(ImageClassifier):
    """A 3x3 conv stem, inverted residual blocks by ``(t, c, n, s)`` rows, a 1x1 conv, pooling, linear.

    Args:
        width_mult: the width multiplier ``alpha``; every width is scaled and rounded to a
            multiple of ``round_nearest``; the last conv only grows.
        setting: the rows ``(t, c, n, s)`` of the body.
        stem_stride: stride of the first conv (1 for 32x32 inputs).
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        dropout: dropout probability before the classifier.
        round_nearest: the multiple channel counts are rounded to.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments (ReLU6).

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        width_mult: float = 1.0,
        setting: Sequence[tuple[int, int, int, int]] = TABLE_2,
        *,
        stem_stride: int = 2,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        round_nearest: int = 8,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU6, inplace=True),
    ) -> None:
        super().__init__()
        if not setting or any(len(row) != 4 for row in setting):
            raise ValueError(f"setting must be a non-empty list of (t, c, n, s) rows, got {setting}")
        self.in_chans = in_chans
        self.num_classes = num_classes

        in_channels = make_divisible(STEM_CHANNELS * width_mult, round_nearest)
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, in_channels, 3, stride=stem_stride, norm_layer=norm_layer, act_layer=act_layer)
        ]
        self.feature_info: list[dict] = []
        self._timm_blocks: dict[str, str] = {}  # timm's block names -> ours, for remap_state_dict
        reduction = stem_stride
        for row, (t, c, n, s) in enumerate(setting):
            out_channels = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                self._timm_blocks[f"blocks.{row}.{i}"] = f"features.{len(layers)}"
                layers.append(InvertedResidual(
                    in_channels, out_channels, 3, s if i == 0 else 1, t,
                    norm_layer=norm_layer, act_layer=act_layer, key_layout="mobilenet_v2",
                ))
                in_channels = out_channels
            reduction *= s
            # A stage ends where the next row downsamples, or at the last row.
            if row + 1 == len(setting) or setting[row + 1][3] > 1:
                self.feature_info.append(dict(num_chs=out_channels, reduction=reduction, module=f"features.{len(layers) - 1}"))

        self.num_features = make_divisible(LAST_CHANNELS * max(1.0, width_mult), round_nearest)
        layers.append(ConvNormAct(in_channels, self.num_features, 1, norm_layer=norm_layer, act_layer=act_layer))
        self.feature_info.append(dict(num_chs=self.num_features, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), classifier_layer(self.num_features, num_classes))
        init_mobilenet_v2_weights(self)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a timm MobileNetV2 state dict (``mobilenetv2_100``) to ours; torchvision's keys already fit.

        timm's ``conv_stem``/``bn1`` are the stem unit ``features.0``, ``blocks.<row>.<i>``
        the blocks in order, ``conv_head``/``bn2`` the last unit and ``classifier`` the
        linear layer; inside a block see :meth:`InvertedResidual.timm_key_map`.
        """
        head = f"features.{len(self.features) - 1}"
        renames = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": f"{head}.0", "bn2": f"{head}.1",
                   "classifier": "classifier.1"}
        blocks = {timm: (path, self.get_submodule(path)) for timm, path in self._timm_blocks.items()}
        return remap_timm_state_dict(state_dict, renames, blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 1280, 7, 7) at 224x224; (B, 1280, 4, 4) for the CIFAR net at 32x32

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1280)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


@register_model(family="mobilenet_v2", paper=PAPER, torchvision="mobilenet_v2", timm="mobilenetv2_100",
                deviations=DEVIATIONS, notes={"paper_imagenet_top1": 72.0, "paper_madds": "300M", "paper_params": "3.4M"})
def mobilenet_v2(width_mult: float = 1.0, **kwargs: Any) -> MobileNetV2:
    """MobileNetV2 (Table 2) with width multiplier ``width_mult``; 3.5M parameters at 1.0."""
    return MobileNetV2(width_mult, TABLE_2, **kwargs)


@register_model(
    family="mobilenet_v2", paper=PAPER, input_size=(3, 32, 32), num_classes=10, deviations=CIFAR_DEVIATIONS,
    notes={
        "reference_result": (
            "82.13% CIFAR-10 test accuracy after 10 epochs of the course's recipe "
            "(`--recipe mobilenet_cifar`: Adam 1e-3 constant, batch 128, crop and flip), the "
            "reference for a run on real CIFAR-10"
        ),
        "reference_caveat": (
            "the course notebooks evaluated without switching the model to eval mode, so batch norm "
            "used test-batch statistics; `convzoo eval` uses eval mode and running statistics"
        ),
    },
)
def mobilenet_v2_cifar(width_mult: float = 1.0, **kwargs: Any) -> MobileNetV2:
    """MobileNetV2 for 32x32 CIFAR-10 images: stride-1 stem and second row, 4x4 final map, 10 classes."""
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("dropout", 0.0)
    return MobileNetV2(width_mult, CIFAR_TABLE, stem_stride=1, **kwargs)
