"""MixNet-S, -M and -L: mobile networks searched with mixed depthwise kernels (MixConv).

Paper: MixConv: Mixed Depthwise Convolutional Kernels (Mingxing Tan, Quoc V. Le, BMVC 2019)
https://arxiv.org/abs/1907.09595

A depthwise conv has one kernel size for all its channels. Larger kernels see more
context, and on MobileNets accuracy rises from 3x3 to about 7x7, then falls again (Fig. 1):
a layer needs both fine and coarse patterns, and one size cannot serve both. MixConv
(:class:`convzoo.ops.mixconv.MixConv2d`) splits the channels into ``g`` equal groups and
gives group ``i`` the kernel ``(2i + 3) x (2i + 3)`` - 3x3, 5x5, 7x7, ... - then
concatenates the outputs (Eq. 2-3). Its cost lies between that of its smallest and its
largest kernel, and swapped into MobileNetV1/V2 it beats any single kernel size (Sec. 4).

MixNet is what a MnasNet-style architecture search finds when MixConv is in its search
space (Sec. 5): the same inverted residual blocks (:mod:`convzoo.blocks.inverted_residual`,
as in EfficientNet) where each block chooses

- its depthwise conv: MixConv with 1 to 5 groups of kernels 3x3, ..., 11x11;
- its expansion and projection 1x1 convs: one conv or two grouped halves (a 1x1 MixConv,
  which halves their cost);
- its expansion ratio (1, 3, 6), squeeze-and-excitation width (none, 1/4 or 1/2 of the
  block's input width) and activation (ReLU or swish).

The search maximised accuracy times ``(FLOPs / target)^w`` (MnasNet's reward with FLOPs in
place of latency). The networks it found use small kernels and ReLU early, large mixed
kernels and swish (SiLU) later, and grouped 1x1 convs in many blocks (the paper's figure
of the MixNet architectures). On ImageNet, MixNet-S reaches 75.8% top-1 at 256M FLOPs and
MixNet-M 77.0% at 360M (Table 2), above MobileNetV2, MnasNet, ProxylessNAS and FBNet at
similar cost. MixNet-L is MixNet-M widened 1.3 times (the paper's "depth multiplier", the
TensorFlow name for the width multiplier): 78.9% at 565M.

The tables below read like that figure: one row per run of identical blocks with its
expansion ``t``, kernels, groups of the expansion and projection 1x1 convs, stride ``s``,
output width ``c``, repeats ``n``, SE ratio (to the block's input width) and activation.
The first block has no expansion (a depthwise-separable block). A stem of a 3x3 stride-2
conv comes first; a 1x1 conv to 1536 channels, pooling and a linear layer come last.

Deviations:
    - Symmetric PyTorch padding (``k // 2``), as timm's ``mixnet_*``; the reference
      TensorFlow code pads stride-2 convs asymmetrically ("same"), as timm's ``tf_mixnet_*``,
      so its checkpoints give slightly different outputs here.
    - PyTorch's batch norm defaults (eps 1e-5, momentum 0.1), as timm's ``mixnet_*``.
    - Dropout before the classifier as the reference TensorFlow code (0.2 for S, 0.25 for
      M and L); stochastic depth is off by default (``drop_path_rate``), as in timm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Literal, Mapping, Sequence

import torch
from torch import nn

from convzoo.blocks.inverted_residual import InvertedResidual, depthwise_conv, make_divisible, pointwise_conv
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.models.efficientnet import remap_timm_keys, scale_width
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.ops.mixconv import MixConv2d
from convzoo.registry import Paper, register_model

__all__ = [
    "MixNet", "MixRow", "MIXNET_S", "MIXNET_M", "mixed_depthwise_conv", "grouped_pointwise_conv",
    "mixnet_s", "mixnet_m", "mixnet_l",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="MixConv: Mixed Depthwise Convolutional Kernels",
    authors="Mingxing Tan, Quoc V. Le",
    venue="BMVC",
    year=2019,
    url="https://arxiv.org/abs/1907.09595",
)

DEVIATIONS = (
    "Symmetric PyTorch padding as timm's mixnet_* (the TensorFlow reference and timm's tf_mixnet_* pad "
    "stride-2 convs asymmetrically, 'same'); PyTorch batch norm defaults; dropout 0.2 (S) / 0.25 (M, L) "
    "as the TensorFlow reference; stochastic depth off by default, as timm."
)

Act = Literal["relu", "swish"]


@dataclass(frozen=True)
class MixRow:
    """A run of ``num_layers`` identical blocks, the first with ``stride``.

    Attributes:
        expand_ratio: expansion ``t`` of the block's input width; 1 for no expansion conv.
        kernel_sizes: one kernel per channel group of the depthwise MixConv.
        expand_groups: groups of the expansion 1x1 conv.
        project_groups: groups of the projection 1x1 conv.
        stride: stride of the first block.
        out_channels: output width (before the width multiplier).
        num_layers: blocks in the run.
        se_ratio: squeeze-and-excitation width as a fraction of the block's input width; 0 for none.
        act: ``"relu"`` or ``"swish"``.
    """

    expand_ratio: int
    kernel_sizes: tuple[int, ...]
    expand_groups: int
    project_groups: int
    stride: int
    out_channels: int
    num_layers: int
    se_ratio: float
    act: Act


R = MixRow
Stages = tuple[tuple[MixRow, ...], ...]

# MixNet-S, stem 16 channels; each inner tuple is a stage (one nn.Sequential).
MIXNET_S: Stages = (
    #   t  kernels            a  p  s    c  n  se     act
    (R(1, (3,),              1, 1, 1,  16, 1, 0,    "relu"),),   # 112x112, depthwise-separable
    (R(6, (3,),              2, 2, 2,  24, 1, 0,    "relu"),     # 112 -> 56
     R(3, (3,),              2, 2, 1,  24, 1, 0,    "relu")),
    (R(6, (3, 5, 7),         1, 1, 2,  40, 1, 0.5,  "swish"),    # 56 -> 28
     R(6, (3, 5),            2, 2, 1,  40, 3, 0.5,  "swish")),
    (R(6, (3, 5, 7),         1, 2, 2,  80, 1, 0.25, "swish"),    # 28 -> 14
     R(6, (3, 5),            1, 2, 1,  80, 2, 0.25, "swish")),
    (R(6, (3, 5, 7),         2, 2, 1, 120, 1, 0.5,  "swish"),    # 14
     R(3, (3, 5, 7, 9),      2, 2, 1, 120, 2, 0.5,  "swish")),
    (R(6, (3, 5, 7, 9, 11),  1, 1, 2, 200, 1, 0.5,  "swish"),    # 14 -> 7
     R(6, (3, 5, 7, 9),      1, 2, 1, 200, 2, 0.5,  "swish")),
)

# MixNet-M, stem 24 channels; MixNet-L is this table 1.3 times wider.
MIXNET_M: Stages = (
    #   t  kernels            a  p  s    c  n  se     act
    (R(1, (3,),              1, 1, 1,  24, 1, 0,    "relu"),),   # 112x112, depthwise-separable
    (R(6, (3, 5, 7),         2, 2, 2,  32, 1, 0,    "relu"),     # 112 -> 56
     R(3, (3,),              2, 2, 1,  32, 1, 0,    "relu")),
    (R(6, (3, 5, 7, 9),      1, 1, 2,  40, 1, 0.5,  "swish"),    # 56 -> 28
     R(6, (3, 5),            2, 2, 1,  40, 3, 0.5,  "swish")),
    (R(6, (3, 5, 7),         1, 1, 2,  80, 1, 0.25, "swish"),    # 28 -> 14
     R(6, (3, 5, 7, 9),      2, 2, 1,  80, 3, 0.25, "swish")),
    (R(6, (3,),              1, 1, 1, 120, 1, 0.5,  "swish"),    # 14
     R(3, (3, 5, 7, 9),      2, 2, 1, 120, 3, 0.5,  "swish")),
    (R(6, (3, 5, 7, 9),      1, 1, 2, 200, 1, 0.5,  "swish"),    # 14 -> 7
     R(6, (3, 5, 7, 9),      1, 2, 1, 200, 3, 0.5,  "swish")),
)
HEAD_CHANNELS = 1536  # not scaled by the width multiplier


def mixed_depthwise_conv(in_channels: int, out_channels: int, kernel_sizes: Sequence[int], stride: int = 1) -> nn.Module:
    """The depthwise conv of a block: a plain one for a single kernel, else a depthwise MixConv."""
    if len(kernel_sizes) == 1:
        return depthwise_conv(in_channels, out_channels, kernel_sizes[0], stride)
    return MixConv2d(in_channels, out_channels, kernel_sizes, stride=stride, depthwise=True)


def grouped_pointwise_conv(in_channels: int, out_channels: int, groups: int = 1) -> nn.Module:
    """A 1x1 conv, or with ``groups > 1`` a 1x1 MixConv: dense 1x1 convs on equal channel slices."""
    if groups == 1:
        return pointwise_conv(in_channels, out_channels)
    return MixConv2d(in_channels, out_channels, (1,) * groups, depthwise=False)


class MixNet(ImageClassifier):
    """A 3x3 conv stem, stages of inverted residual blocks with mixed depthwise kernels, a 1x1 conv, pooling, linear.

    Args:
        stages: the architecture, stages of :class:`MixRow` (:data:`MIXNET_S`, :data:`MIXNET_M`).
        stem_channels: width of the stem (before the width multiplier).
        width_mult: multiplies every width but the head's, rounded to a multiple of 8.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        dropout: dropout probability before the classifier.
        drop_path_rate: drop rate of the last block's residual branch; block ``i`` of ``N``
            uses ``drop_path_rate * i / N`` (stochastic depth, in training only).
        norm_layer: builds a norm from a channel count.
        act_layer: builds the activation of the stem, the head and the rows marked ``"relu"``.
        swish_layer: builds the activation of the rows marked ``"swish"``.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        stages: Stages = MIXNET_S,
        stem_channels: int = 16,
        width_mult: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        drop_path_rate: float = 0.0,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        swish_layer: LayerFactory = partial(nn.SiLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_chans, self.num_classes, self.width_mult = in_chans, num_classes, width_mult
        acts = {"relu": act_layer, "swish": swish_layer}

        in_channels = scale_width(stem_channels, width_mult)
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, in_channels, 3, stride=2, norm_layer=norm_layer, act_layer=act_layer)
        ]  # (B, 16, 112, 112) for MixNet-S at 224x224
        self.feature_info: list[dict] = []
        reduction, index = 2, 0
        total = sum(row.num_layers for stage in stages for row in stage)
        for number, stage in enumerate(stages):
            blocks = []
            for row in stage:
                out_channels = scale_width(row.out_channels, width_mult)
                for i in range(row.num_layers):
                    stride = row.stride if i == 0 else 1
                    blocks.append(self._block(in_channels, out_channels, stride, row, acts[row.act], norm_layer,
                                              drop_path_rate * index / total))
                    in_channels, index, reduction = out_channels, index + 1, reduction * stride
            layers.append(nn.Sequential(*blocks))
            if number + 1 == len(stages) or stages[number + 1][0].stride > 1:
                self.feature_info.append(dict(num_chs=in_channels, reduction=reduction, module=f"features.{len(layers) - 1}"))

        self.num_features = HEAD_CHANNELS
        layers.append(ConvNormAct(in_channels, self.num_features, 1, norm_layer=norm_layer, act_layer=act_layer))
        self.feature_info.append(dict(num_chs=self.num_features, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), classifier_layer(self.num_features, num_classes))
        self._init_weights()

    @staticmethod
    def _block(
        in_channels: int, out_channels: int, stride: int, row: MixRow, act_layer: LayerFactory,
        norm_layer: LayerFactory, drop_path_rate: float,
    ) -> InvertedResidual:
        expanded = make_divisible(in_channels * row.expand_ratio, 8)
        attn = None
        if row.se_ratio > 0:  # the SE width counts from the block's input, not the expanded width
            attn = partial(SqueezeExcite, reduced_channels=round(in_channels * row.se_ratio), act_layer=act_layer)
        return InvertedResidual(
            in_channels, out_channels, row.kernel_sizes, stride, row.expand_ratio,  # type: ignore[arg-type]
            expanded_channels=expanded, norm_layer=norm_layer, act_layer=act_layer,
            dw_conv_layer=mixed_depthwise_conv,
            expand_conv_layer=partial(grouped_pointwise_conv, groups=row.expand_groups),
            project_conv_layer=partial(grouped_pointwise_conv, groups=row.project_groups),
            attn_layer=attn, drop_path_rate=drop_path_rate, key_layout="efficientnet",
        )

    def _init_weights(self) -> None:
        # timm's EfficientNet init: He normal (fan-out) convs, unit norms, U(-1/sqrt(n), 1/sqrt(n)) for n logits.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.zeros_(module.bias)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a timm MixNet state dict to ours.

        As for EfficientNet: ``conv_stem``/``bn1`` are the stem unit ``features.0``,
        ``blocks.<s>.<i>`` is ``features.<s + 1>.<i>``, ``conv_head``/``bn2`` the last unit,
        ``classifier`` the linear layer; inside a block :meth:`InvertedResidual.timm_key_map`,
        whose names carry the groups of the mixed convs (``conv_dw.1.weight``) along.
        """
        return remap_timm_keys(self.features, state_dict)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 1536, 7, 7) at 224x224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1536)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


# Table 2 of the paper: ImageNet top-1 / top-5 (%), parameters and multiply-adds.
PAPER_RESULTS = {
    "mixnet_s": {"paper_imagenet_top1": 75.8, "paper_imagenet_top5": 92.8, "paper_params": "4.1M", "paper_flops": "256M"},
    "mixnet_m": {"paper_imagenet_top1": 77.0, "paper_imagenet_top5": 93.3, "paper_params": "5.0M", "paper_flops": "360M"},
    "mixnet_l": {"paper_imagenet_top1": 78.9, "paper_imagenet_top5": 94.2, "paper_params": "7.3M", "paper_flops": "565M"},
}


def _register(name: str, width_mult: float, dropout: float) -> Callable[[Callable[..., MixNet]], Callable[..., MixNet]]:
    notes = {**PAPER_RESULTS[name], "width_mult": width_mult, "dropout": dropout}
    return register_model(family="mixnet", paper=PAPER, timm=name, deviations=DEVIATIONS, notes=notes)


@_register("mixnet_s", 1.0, 0.2)
def mixnet_s(**kwargs: Any) -> MixNet:
    """MixNet-S, the smaller searched network: 224x224, 4.1M parameters, 256M FLOPs."""
    kwargs.setdefault("dropout", 0.2)
    return MixNet(MIXNET_S, stem_channels=16, **kwargs)


@_register("mixnet_m", 1.0, 0.25)
def mixnet_m(**kwargs: Any) -> MixNet:
    """MixNet-M, the larger searched network: 224x224, 5.0M parameters, 360M FLOPs."""
    kwargs.setdefault("dropout", 0.25)
    return MixNet(MIXNET_M, stem_channels=24, **kwargs)


@_register("mixnet_l", 1.3, 0.25)
def mixnet_l(**kwargs: Any) -> MixNet:
    """MixNet-L: MixNet-M with every width but the head's times 1.3; 7.3M parameters, 565M FLOPs."""
    kwargs.setdefault("dropout", 0.25)
    return MixNet(MIXNET_M, stem_channels=24, width_mult=1.3, **kwargs)
