"""ShuffleNet V2: an efficient network designed by measured speed, not FLOPs.

Paper: ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (Ningning
Ma, Xiangyu Zhang, Hai-Tao Zheng, Jian Sun, ECCV 2018) https://arxiv.org/abs/1807.11164

FLOPs are an indirect measure of speed: memory access, parallelism and platform kernels
decide the rest. Timing building blocks on GPU and ARM, the paper derives four guidelines:
(G1) equal input and output widths minimise memory access for a given FLOP count;
(G2) grouped convolutions raise memory access; (G3) fragmented, multi-branch blocks lower
parallelism; (G4) element-wise operations (ReLU, additions) are not free. ShuffleNet V1
breaks G1 (bottlenecks), G2 (grouped 1x1 convs) and G4 (the residual addition).

The V2 unit (:class:`~convzoo.blocks.shuffle.ShuffleV2Unit`) follows all four: a *channel
split* sends half the channels through three convs of constant width (G1) with dense 1x1
convs (G2), the other half through unchanged; the halves are concatenated rather than
added (G4) and shuffled with 2 groups so that information crosses between them.

The network (Table 5): a 3x3 stride-2 conv (24 channels) and a 3x3 stride-2 max-pool, three
stages of 4, 8 and 4 units (the first of each strided), a 1x1 conv to 1024 channels (2048
at 2x), global average pooling and a fully connected layer. The width multiplier sets the
stage widths: 0.5x 48/96/192, 1x 116/232/464, 1.5x 176/352/704, 2x 244/488/976.

Deviations:
    An adaptive average pool instead of the 7x7 global pool, so any input size works.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import torch
from torch import nn

from convzoo.blocks.shuffle import ShuffleV2Unit
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = [
    "ShuffleNetV2", "STAGE_REPEATS", "TABLE_5",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
    authors="Ningning Ma, Xiangyu Zhang, Hai-Tao Zheng, Jian Sun",
    venue="ECCV",
    year=2018,
    url="https://arxiv.org/abs/1807.11164",
)

DEVIATIONS = "Adaptive average pool instead of the 7x7 global pool, so any input size works."

# Table 5 of the paper: output channels of Conv1, Stage2, Stage3, Stage4 and Conv5 per width.
TABLE_5: dict[str, tuple[int, int, int, int, int]] = {
    "0.5x": (24, 48, 96, 192, 1024),
    "1.0x": (24, 116, 232, 464, 1024),
    "1.5x": (24, 176, 352, 704, 1024),
    "2.0x": (24, 244, 488, 976, 2048),
}
# Units per stage (the first one of each with stride 2).
STAGE_REPEATS = (4, 8, 4)

# Table 5's complexity and the megvii ShuffleNet-Series README's parameters and top-1
# error (%) of the released models (https://github.com/megvii-model/ShuffleNet-Series).
PUBLISHED = {
    "0.5x": dict(paper_mflops=41, megvii_params="1.4M", megvii_top1_error=38.9),
    "1.0x": dict(paper_mflops=146, megvii_params="2.3M", megvii_top1_error=30.6),
    "1.5x": dict(paper_mflops=299, megvii_params="3.5M", megvii_top1_error=27.4),
    "2.0x": dict(paper_mflops=591, megvii_params="7.4M", megvii_top1_error=25.0),
}


class ShuffleNetV2(ImageClassifier):
    """ShuffleNet V2: stem, three stages of V2 units, 1x1 conv, average pool, linear layer.

    Args:
        stage_channels: output channels of conv1, stage2, stage3, stage4 and conv5 (a row
            of :data:`TABLE_5`).
        stage_repeats: units in stages 2, 3 and 4.
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
        stage_channels: Sequence[int],
        stage_repeats: Sequence[int] = STAGE_REPEATS,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if len(stage_channels) != 5 or len(stage_repeats) != 3:
            raise ValueError(
                f"expected 5 stage_channels and 3 stage_repeats, got {tuple(stage_channels)} and {tuple(stage_repeats)}"
            )
        self.in_chans = in_chans
        self.num_classes = num_classes
        layers = dict(norm_layer=norm_layer, act_layer=act_layer)

        stem_channels, *widths, head_channels = stage_channels
        self.conv1 = ConvNormAct(in_chans, stem_channels, 3, stride=2, **layers)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [dict(num_chs=stem_channels, reduction=2, module="conv1")]

        in_channels, reduction = stem_channels, 4
        for index, (repeats, width) in enumerate(zip(stage_repeats, widths)):
            units = [ShuffleV2Unit(in_channels, width, stride=2, **layers)]
            units += [ShuffleV2Unit(width, width, **layers) for _ in range(repeats - 1)]
            name, reduction = f"stage{index + 2}", reduction * 2
            self.add_module(name, nn.Sequential(*units))
            if index < 2:  # stage4 shares its resolution with conv5, which closes the features
                self.feature_info.append(dict(num_chs=width, reduction=reduction, module=name))
            in_channels = width

        self.conv5 = ConvNormAct(in_channels, head_channels, 1, **layers)
        self.feature_info.append(dict(num_chs=head_channels, reduction=reduction, module="conv5"))
        self.num_features = head_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = classifier_layer(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for ShuffleNet V2 1x at 224x224.
        x = self.maxpool(self.conv1(x))  # (B, 24, 56, 56)
        x = self.stage2(x)  # (B, 116, 28, 28)
        x = self.stage3(x)  # (B, 232, 14, 14)
        x = self.stage4(x)  # (B, 464, 7, 7)
        return self.conv5(x)  # (B, 1024, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1024)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)


def _register(width: str, torchvision_name: str) -> Callable[[Callable[..., ShuffleNetV2]], Callable[..., ShuffleNetV2]]:
    notes = {"width": width, "stage_channels": TABLE_5[width], **PUBLISHED[width]}
    return register_model(
        family="shufflenetv2", paper=PAPER, torchvision=torchvision_name, deviations=DEVIATIONS, notes=notes
    )


@_register("0.5x", "shufflenet_v2_x0_5")
def shufflenet_v2_x0_5(**kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 0.5x: stages of 48, 96, 192 channels, 1.4M parameters, 41 MFLOPs."""
    return ShuffleNetV2(TABLE_5["0.5x"], **kwargs)


@_register("1.0x", "shufflenet_v2_x1_0")
def shufflenet_v2_x1_0(**kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 1x: stages of 116, 232, 464 channels, 2.3M parameters, 146 MFLOPs."""
    return ShuffleNetV2(TABLE_5["1.0x"], **kwargs)


@_register("1.5x", "shufflenet_v2_x1_5")
def shufflenet_v2_x1_5(**kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 1.5x: stages of 176, 352, 704 channels, 3.5M parameters, 299 MFLOPs."""
    return ShuffleNetV2(TABLE_5["1.5x"], **kwargs)


@_register("2.0x", "shufflenet_v2_x2_0")
def shufflenet_v2_x2_0(**kwargs: Any) -> ShuffleNetV2:
    """ShuffleNet V2 2x: stages of 244, 488, 976 channels and a 2048-channel conv5, 7.4M parameters, 591 MFLOPs."""
    return ShuffleNetV2(TABLE_5["2.0x"], **kwargs)
