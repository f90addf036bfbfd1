"""ShuffleNet (V1): pointwise group convolutions and channel shuffle for mobile budgets.

Paper: ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices
(Xiangyu Zhang, Xinyu Zhou, Mengxiao Lin, Jian Sun, CVPR 2018) https://arxiv.org/abs/1707.01083

At 10-150 MFLOPs a network can afford few channels, and in a bottleneck block with a
depthwise 3x3 conv the dense 1x1 convs take most of the budget: a ResNeXt-style unit
spends 93% of its multiplications there. ShuffleNet groups the 1x1 convs as well (``g``
groups cost ``1/g``), which at a fixed budget buys ``g`` times wider feature maps, and
inserts a channel shuffle after the first grouped conv so that information still crosses
between the groups (:mod:`convzoo.ops.channel_shuffle`, :class:`~convzoo.blocks.shuffle.ShuffleV1Unit`).
For an input ``c x h x w`` and bottleneck width ``m``, a ShuffleNet unit costs
``hw(2cm/g + 9m)`` multiply-adds, a ResNet bottleneck ``hw(2cm + 9m^2)`` and a ResNeXt unit
``hw(2cm + 9m^2/g)`` (Sec. 3.2).

The network (Table 1): a 3x3 stride-2 conv with 24 filters and a 3x3 stride-2 max-pool,
three stages of 4, 8 and 4 units whose first unit has stride 2 and doubles the width, global
average pooling and a fully connected layer. The widths are chosen so that every ``g`` costs
about 140 MFLOPs; more groups give wider maps:

    g     stage2  stage3  stage4   complexity (Table 1)
    1     144     288     576      143M
    2     200     400     800      140M
    3     240     480     960      137M
    4     272     544     1088     133M
    8     384     768     1536     137M

"ShuffleNet s x" scales the number of filters by ``s``, the complexity by about ``s^2``
(``width_mult``). The paper's FLOPs are multiply-adds (MACs).

Deviations:
    - Scaled widths are rounded to the nearest multiple of ``4g`` (stages: the bottleneck,
      a quarter of the width, must split into ``g`` groups) and of ``g`` (stem), at least
      one multiple. At 1x this is Table 1; at 0.5x, 1.5x and 2x with g = 3 or 8 it gives
      the stage widths of the authors' released models (megvii ShuffleNet-Series), whose
      1.5x models keep a 24-channel stem where the rule gives 36 (g = 3) or 40 (g = 8);
      ``stem_channels=24`` builds theirs.
    - The fully connected layer has a bias (the released models' has none; the paper does
      not say).
    - The first unit's first pointwise conv is dense (as in the paper) and is followed by
      no shuffle, which would only reorder its filters. The released code shuffles after
      the depthwise conv instead of before it, which is equivalent: a depthwise conv
      commutes with a permutation of the channels.
    - An adaptive average pool instead of the 7x7 global pool, so any input size works.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import torch
from torch import nn

from convzoo.blocks.shuffle import ShuffleV1Unit
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = [
    "ShuffleNetV1", "STAGE_REPEATS", "STEM_CHANNELS", "TABLE_1", "scaled_channels",
    "shufflenet_v1_g1", "shufflenet_v1_g2", "shufflenet_v1_g3", "shufflenet_v1_g4", "shufflenet_v1_g8",
    "shufflenet_v1_x0_5_g3", "shufflenet_v1_x1_5_g3", "shufflenet_v1_x2_0_g3",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices",
    authors="Xiangyu Zhang, Xinyu Zhou, Mengxiao Lin, Jian Sun",
    venue="CVPR",
    year=2018,
    url="https://arxiv.org/abs/1707.01083",
)

DEVIATIONS = (
    "Scaled widths rounded to multiples of 4g (stages) and g (stem); the released 1.5x models keep a "
    "24-channel stem. FC with bias. No shuffle after the dense first pointwise conv of stage 2. "
    "Adaptive average pool instead of the 7x7 pool."
)

# Table 1 of the paper: output channels of stages 2, 3 and 4 for each number of groups g.
TABLE_1: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
STEM_CHANNELS = 24
# Units per stage (the first one of each with stride 2).
STAGE_REPEATS = (4, 8, 4)

# Table 1's complexity (MFLOPs, i.e. millions of multiply-adds) of the 1x network per g.
PAPER_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
# The megvii ShuffleNet-Series README (https://github.com/megvii-model/ShuffleNet-Series):
# FLOPs, parameters and top-1 error (%) of the released g = 3 models.
MEGVII_G3 = {
    0.5: dict(megvii_mflops=38, megvii_params="0.7M", megvii_top1_error=42.7),
    1.0: dict(megvii_mflops=138, megvii_params="1.9M", megvii_top1_error=32.2),
    1.5: dict(megvii_mflops=292, megvii_params="3.4M", megvii_top1_error=28.4, megvii_stem_channels=24),
    2.0: dict(megvii_mflops=524, megvii_params="5.4M", megvii_top1_error=25.9),
}


def _round_to_multiple(value: float, divisor: int) -> int:
    """The multiple of ``divisor`` nearest to ``value`` (halves round up), at least ``divisor``."""
    return max(divisor, int(value / divisor + 0.5) * divisor)


def scaled_channels(groups: int, width_mult: float = 1.0) -> tuple[int, tuple[int, int, int]]:
    """Stem and stage widths of ShuffleNet ``width_mult`` x with ``groups`` groups.

    Table 1's widths times ``width_mult``, the stages rounded to multiples of ``4 * groups``
    and the stem to multiples of ``groups``.
    """
    if groups not in TABLE_1:
        raise ValueError(f"groups must be one of {sorted(TABLE_1)} (Table 1), got {groups}")
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    stem = _round_to_multiple(STEM_CHANNELS * width_mult, groups)
    stages = tuple(_round_to_multiple(c * width_mult, 4 * groups) for c in TABLE_1[groups])
    return stem, stages


class ShuffleNetV1(ImageClassifier):
    """ShuffleNet: stem, three stages of ShuffleNet units, average pool, linear layer.

    Args:
        groups: groups of the pointwise convs (``g`` in 1, 2, 3, 4, 8).
        width_mult: the ``s`` of "ShuffleNet s x": scales every width (0.5, 1.0, 1.5, 2.0
            in the paper's experiments; 0.25 too).
        stage_repeats: units in stages 2, 3 and 4.
        stem_channels: filters of the stem conv, overriding the scaled 24 (the released
            1.5x models use 24).
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv and pool pads by half its kernel: a 1x1 image stays 1x1 to the end.
    min_input_size = 1

    def __init__(
        self,
        groups: int = 3,
        width_mult: float = 1.0,
        stage_repeats: Sequence[int] = STAGE_REPEATS,
        *,
        stem_channels: int | None = None,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if len(stage_repeats) != 3:
            raise ValueError(f"stage_repeats must give 3 stages, got {tuple(stage_repeats)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.groups = groups
        layers = dict(norm_layer=norm_layer, act_layer=act_layer)
        scaled_stem, widths = scaled_channels(groups, width_mult)
        stem_channels = stem_channels or scaled_stem

        self.conv1 = ConvNormAct(in_chans, stem_channels, 3, stride=2, **layers)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [dict(num_chs=stem_channels, reduction=2, module="conv1")]

        in_channels, reduction = stem_channels, 4
        for index, (repeats, width) in enumerate(zip(stage_repeats, widths)):
            # Stage 2's first unit reads the 24-channel stem: its first pointwise conv is dense.
            first_groups = 1 if index == 0 else groups
            units = [ShuffleV1Unit(in_channels, width, stride=2, groups=groups, first_groups=first_groups, **layers)]
            units += [ShuffleV1Unit(width, width, groups=groups, **layers) for _ in range(repeats - 1)]
            name, reduction = f"stage{index + 2}", reduction * 2
            self.add_module(name, nn.Sequential(*units))
            self.feature_info.append(dict(num_chs=width, reduction=reduction, module=name))
            in_channels = width

        self.num_features = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for ShuffleNet 1x, g = 3, at 224x224.
        x = self.maxpool(self.conv1(x))  # (B, 24, 56, 56)
        x = self.stage2(x)  # (B, 240, 28, 28)
        x = self.stage3(x)  # (B, 480, 14, 14)
        return self.stage4(x)  # (B, 960, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 960)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)


def _register(groups: int, width_mult: float = 1.0) -> Callable[[Callable[..., ShuffleNetV1]], Callable[..., ShuffleNetV1]]:
    stem, stages = scaled_channels(groups, width_mult)
    notes: dict[str, Any] = {"groups": groups, "width_mult": width_mult, "stem_channels": stem, "stage_channels": stages}
    if width_mult == 1.0:
        notes["paper_mflops"] = PAPER_MFLOPS[groups]
    if groups == 3:
        notes.update(MEGVII_G3[width_mult])
    return register_model(family="shufflenet", paper=PAPER, deviations=DEVIATIONS, notes=notes)


@_register(groups=1)
def shufflenet_v1_g1(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1x, g = 1 (dense pointwise convs, no shuffle): stages of 144, 288, 576 channels."""
    return ShuffleNetV1(groups=1, **kwargs)


@_register(groups=2)
def shufflenet_v1_g2(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1x, g = 2: stages of 200, 400, 800 channels."""
    return ShuffleNetV1(groups=2, **kwargs)


@_register(groups=3)
def shufflenet_v1_g3(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1x, g = 3: stages of 240, 480, 960 channels, 1.9M parameters."""
    return ShuffleNetV1(groups=3, **kwargs)


@_register(groups=4)
def shufflenet_v1_g4(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1x, g = 4: stages of 272, 544, 1088 channels."""
    return ShuffleNetV1(groups=4, **kwargs)


@_register(groups=8)
def shufflenet_v1_g8(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1x, g = 8: stages of 384, 768, 1536 channels, 2.4M parameters."""
    return ShuffleNetV1(groups=8, **kwargs)


@_register(groups=3, width_mult=0.5)
def shufflenet_v1_x0_5_g3(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 0.5x, g = 3: stem 12, stages of 120, 240, 480 channels, 0.7M parameters."""
    return ShuffleNetV1(groups=3, width_mult=0.5, **kwargs)


@_register(groups=3, width_mult=1.5)
def shufflenet_v1_x1_5_g3(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 1.5x, g = 3: stem 36, stages of 360, 720, 1440 channels, 3.4M parameters."""
    return ShuffleNetV1(groups=3, width_mult=1.5, **kwargs)


@_register(groups=3, width_mult=2.0)
def shufflenet_v1_x2_0_g3(**kwargs: Any) -> ShuffleNetV1:
    """ShuffleNet 2x, g = 3: stem 48, stages of 480, 960, 1920 channels, 5.4M parameters."""
    return ShuffleNetV1(groups=3, width_mult=2.0, **kwargs)
