"""ResNet: deep residual networks for image classification.

Paper: Deep Residual Learning for Image Recognition (Kaiming He, Xiangyu Zhang, Shaoqing
Ren, Jian Sun, CVPR 2016) https://arxiv.org/abs/1512.03385

Stacking more layers on a plain network made it worse, and not from overfitting: a
56-layer plain net had a higher *training* error than a 20-layer one. The degradation is an
optimisation problem, since a deeper net could copy the shallower one and add identities.
ResNet makes that solution easy to find: each block learns a residual F(x) and outputs
F(x) + x (Eq. 1; see :mod:`convzoo.blocks.residual`), so identity is the default and depth
stops hurting; the paper trains 152 layers on ImageNet and over 1000 on CIFAR-10.

The network (Table 1) is a stem, four stages and a head:

- conv1: a 7x7 stride-2 conv and a 3x3 stride-2 max-pool, 224 -> 56;
- conv2_x .. conv5_x: stages of residual blocks at 64, 128, 256, 512 bottleneck channels;
  each stage after the first halves the resolution in its first block and doubles the
  width, keeping the cost per layer about even. The first block of a stage projects its
  shortcut with a strided 1x1 conv (option B of Sec. 3.3);
- global average pooling and one fully connected layer.

Depths 18 and 34 stack basic blocks (two 3x3 convs), depths 50, 101 and 152 bottleneck
blocks (1x1, 3x3, 1x1 with four times wider outputs).

The :class:`ResNet` class also takes the options of later architectures, which are
builders on it rather than copies: ``groups`` and ``width_per_group`` (ResNeXt, Wide
ResNet), ``attn_layer`` (SE-ResNet and other attention variants),
``replace_stride_with_dilation`` (dilated backbones for segmentation).

Deviations:
    - Bottleneck stride on the 3x3 conv ("ResNet v1.5"), as in torchvision and timm; the
      paper strides the first 1x1 conv. We follow torchvision so that its weights (and
      timm's, which use the same keys) load with identical outputs.
    - ResNet-18/34 project their shortcuts where the shape changes (option B), as
      torchvision does; the paper's ResNet-18/34 of Table 2 pad them with zeros (option A).
    - ``zero_init_residual`` (off by default) zeroes the last norm of each block, from
      Goyal et al. 2017 (https://arxiv.org/abs/1706.02677), not from the paper.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import torch
from torch import nn

from convzoo.blocks.attention import get_attn
from convzoo.blocks.residual import BasicBlock, Bottleneck, conv1x1
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["ResNet", "ResNetLayout", "TABLE_1", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

LayerFactory = Callable[..., nn.Module]
Block = type[BasicBlock] | type[Bottleneck]

PAPER = Paper(
    title="Deep Residual Learning for Image Recognition",
    authors="Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun",
    venue="CVPR",
    year=2016,
    url="https://arxiv.org/abs/1512.03385",
)

DEVIATIONS = (
    "Bottleneck stride on the 3x3 conv (ResNet v1.5, as torchvision and timm), not on the first 1x1; "
    "projection shortcuts (option B) also in ResNet-18/34; optional zero_init_residual (Goyal et al. 2017)."
)

# Table 1 of the paper: the block and how many of them each stage, conv2_x to conv5_x, stacks.
TABLE_1: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}

# Bottleneck channels of the four stages; a block outputs `expansion` times as many.
STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)


class ResNetLayout(ImageClassifier):
    """What every network of the ResNet layout shares (ResNet, ResNeXt, ResNeSt): the forward
    pass through ``conv1``, ``bn1``, ``act1``, ``maxpool``, ``layer1``..``layer4``, and the
    head of ``avgpool`` and ``fc``. Subclasses build those submodules, then call
    :meth:`_add_head`.
    """

    def _add_head(self, in_channels: int, num_classes: int, zero_init_residual: bool) -> None:
        self.num_features = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # He et al.'s initialisation for the convs (the paper's ref. [13]), in torchvision's fan-out mode.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if hasattr(module, "zero_init_last"):
                    module.zero_init_last()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for ResNet-50 (and ResNeSt-50) at 224x224.
        x = self.act1(self.bn1(self.conv1(x)))  # (B, 64, 112, 112)
        x = self.maxpool(x)  # (B, 64, 56, 56)
        x = self.layer1(x)  # (B, 256, 56, 56)
        x = self.layer2(x)  # (B, 512, 28, 28)
        x = self.layer3(x)  # (B, 1024, 14, 14)
        return self.layer4(x)  # (B, 2048, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 2048)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)



class ResNet(ResNetLayout):
    """A residual network: stem, four stages of residual blocks, average pool, linear layer.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck` (or a block with their signature).
        layers: number of blocks in each of the four stages.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        groups: groups of the blocks' 3x3 convs (ResNeXt's cardinality).
        width_per_group: channels per group per 64 bottleneck channels (ResNeXt's ``d``).
        replace_stride_with_dilation: for stages 2, 3 and 4, whether to keep the
            resolution and dilate the 3x3 convs instead of striding.
        zero_init_residual: zero the last norm of every block, so each starts as identity.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module from a channel count, applied in every
            block to the residual branch before the addition, or the name of one
            (:func:`convzoo.blocks.attention.get_attn`: ``"se"``, ``"cbam"``, ...); ``None`` for none.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv and pool pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        block: Block,
        layers: Sequence[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] = (False, False, False),
        zero_init_residual: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | str | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of 4 stages, got {tuple(layers)}")
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                "replace_stride_with_dilation must hold 3 flags (stages 2, 3, 4), "
                f"got {tuple(replace_stride_with_dilation)}"
            )
        self.in_chans = in_chans
        self.num_classes = num_classes

        # Stem (conv1 of Table 1).
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.act1 = act_layer()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [dict(num_chs=64, reduction=2, module="act1")]

        if isinstance(attn_layer, str):
            attn_layer = get_attn(attn_layer)
        block_options = dict(
            groups=groups, base_width=width_per_group, norm_layer=norm_layer,
            act_layer=act_layer, attn_layer=attn_layer,
        )
        in_channels, reduction, dilation = 64, 4, 1
        dilate = (False, *replace_stride_with_dilation)
        for index, (num_blocks, width, stride) in enumerate(zip(layers, STAGE_WIDTHS, STAGE_STRIDES)):
            first_dilation = dilation
            if dilate[index]:
                dilation, stride = dilation * stride, 1
            reduction *= stride
            out_channels = width * block.expansion
            stage = _make_stage(
                block, in_channels, out_channels, num_blocks, stride, first_dilation, dilation, **block_options
            )
            self.add_module(f"layer{index + 1}", stage)
            self.feature_info.append(dict(num_chs=out_channels, reduction=reduction, module=f"layer{index + 1}"))
            in_channels = out_channels

        self._add_head(in_channels, num_classes, zero_init_residual)


def _make_stage(
    block: Block,
    in_channels: int,
    out_channels: int,
    num_blocks: int,
    stride: int,
    first_dilation: int,
    dilation: int,
    **block_options: Any,
) -> nn.Sequential:
    """A stage: a first block that may stride and project its shortcut, then ``num_blocks - 1`` identity blocks.

    Like torchvision, the first block of a dilated stage keeps the previous stage's dilation.
    """
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            conv1x1(in_channels, out_channels, stride), block_options["norm_layer"](out_channels)
        )
    blocks = [block(in_channels, out_channels, stride, downsample, dilation=first_dilation, **block_options)]
    for _ in range(num_blocks - 1):
        blocks.append(block(out_channels, out_channels, dilation=dilation, **block_options))
    return nn.Sequential(*blocks)


def _resnet(depth: int, **kwargs: Any) -> ResNet:
    block, layers = TABLE_1[depth]
    return ResNet(block, layers, **kwargs)


@register_model(family="resnet", paper=PAPER, torchvision="resnet18", timm="resnet18", deviations=DEVIATIONS)
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2), 11.7M parameters."""
    return _resnet(18, **kwargs)


@register_model(family="resnet", paper=PAPER, torchvision="resnet34", timm="resnet34", deviations=DEVIATIONS)
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3), 21.8M parameters."""
    return _resnet(34, **kwargs)


@register_model(family="resnet", paper=PAPER, torchvision="resnet50", timm="resnet50", deviations=DEVIATIONS)
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3), 25.6M parameters."""
    return _resnet(50, **kwargs)


@register_model(family="resnet", paper=PAPER, torchvision="resnet101", timm="resnet101", deviations=DEVIATIONS)
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: bottleneck blocks (3, 4, 23, 3), 44.5M parameters."""
    return _resnet(101, **kwargs)


@register_model(family="resnet", paper=PAPER, torchvision="resnet152", timm="resnet152", deviations=DEVIATIONS)
def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: bottleneck blocks (3, 8, 36, 3), 60.2M parameters."""
    return _resnet(152, **kwargs)
