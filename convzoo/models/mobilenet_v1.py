"""MobileNet V1: a plain stack of depthwise separable convolutions, with two knobs for cost.

Paper: MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications
(Andrew G. Howard, Menglong Zhu, Bo Chen, Dmitry Kalenichenko, Weijun Wang, Tobias Weyand,
Marco Andreetto, Hartwig Adam, arXiv 2017) https://arxiv.org/abs/1704.04861

MobileNet replaces every convolution but the first by a depthwise separable one (see
:mod:`convzoo.ops.depthwise_separable`): a 3x3 depthwise conv, batch norm, ReLU, then a
1x1 pointwise conv, batch norm, ReLU (Fig. 3). A 3x3 separable layer costs ``1/N + 1/9``
of a standard one (Eq. 5), and 95% of the network's mult-adds end up in the 1x1 convs,
which run as plain matrix products (Table 2).

The body (Table 1) is a 3x3 stride-2 conv to 32 channels and 13 separable layers; the
width doubles whenever a layer strides, 224 -> 7 over five halvings; then a global
average pool and one fully connected layer. 28 layers counting depthwise and pointwise
separately, 569M mult-adds and 4.2M parameters.

Two hyper-parameters trade accuracy for cost (Sec. 3.3, 3.4):

- the *width multiplier* alpha thins every layer to ``alpha * channels``; cost and
  parameters fall roughly as alpha^2 (Table 6). Builders: ``mobilenetv1_100`` (alpha=1),
  ``mobilenetv1_075``, ``mobilenetv1_050``, ``mobilenetv1_025``, and timm's ``mobilenetv1_125``;
- the *resolution multiplier* rho shrinks the input image, and every feature map with
  it, to ``rho * 224`` pixels; cost falls as rho^2, the parameters stay (Table 7). It is
  no layer of the network: :func:`input_resolution` gives the side to feed.

``mobilenet_v1_cifar`` is the CIFAR-10 version taught in the CNN course: a stride-1
stem, only two 512-channel layers, and 32x32 inputs reduced to 2x2.

Deviations:
    - ReLU6 instead of ReLU in the ImageNet models, as in the authors' TensorFlow release
      (TF-slim ``mobilenet_v1``) and timm, whose ``mobilenetv1_100`` and
      ``mobilenetv1_125`` weights therefore load with identical outputs; pass
      ``act_layer=nn.ReLU`` for the paper's text. The CIFAR model uses ReLU.
    - Table 1 lists the last depthwise conv as stride 2, yet its input and output are
      both 7x7: it is a typo, and the layer has stride 1, as in every implementation.
    - Channel counts under a width multiplier are rounded to multiples of 8 (as in
      TF-slim and timm); for alpha in {1, 0.75, 0.5, 0.25} this changes nothing.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

import torch
from torch import nn

from convzoo.blocks.inverted_residual import make_divisible
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.registry import Paper, register_model

__all__ = [
    "MobileNetV1", "TABLE_1", "CIFAR_LAYERS", "input_resolution",
    "mobilenetv1_100", "mobilenetv1_125", "mobilenetv1_075", "mobilenetv1_050", "mobilenetv1_025",
    "mobilenet_v1_cifar",
]

LayerFactory = Callable[..., nn.Module]
Stage = Sequence[tuple[int, int]]

PAPER = Paper(
    title="MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    authors=(
        "Andrew G. Howard, Menglong Zhu, Bo Chen, Dmitry Kalenichenko, Weijun Wang, Tobias Weyand, "
        "Marco Andreetto, Hartwig Adam"
    ),
    venue="arXiv",
    year=2017,
    url="https://arxiv.org/abs/1704.04861",
)

DEVIATIONS = (
    "ReLU6 instead of ReLU, as in the authors' TF-slim release and timm (act_layer=nn.ReLU gives the paper's); "
    "the last depthwise conv has stride 1 (Table 1's 's2' there is a typo: the map stays 7x7); "
    "widths rounded to multiples of 8 under a width multiplier (exact for 1, 0.75, 0.5, 0.25)."
)

# Table 1 of the paper: the separable layers as (out_channels, stride) of the depthwise
# conv, grouped into stages that each start where the resolution halves (timm's grouping,
# so its keys blocks.<stage>.<layer> match). The stem, a 3x3 stride-2 conv to 32 channels,
# comes before them. Shapes at 224x224 on the right.
TABLE_1: tuple[Stage, ...] = (
    ((64, 1),),  # 112x112
    ((128, 2), (128, 1)),  # 56x56
    ((256, 2), (256, 1)),  # 28x28
    ((512, 2),) + ((512, 1),) * 5,  # 14x14
    ((1024, 2), (1024, 1)),  # 7x7; the paper's table has 's2' on the last layer, a typo
)

# The CNN course's CIFAR-10 MobileNet: a stride-1 stem, then (64,1), (128,2), (128,1), (256,2),
# (256,1), (512,2), (512,1), (1024,2), (1024,1): 32x32 inputs end at 2x2.
CIFAR_LAYERS: tuple[Stage, ...] = (
    ((64, 1),),  # 32x32
    ((128, 2), (128, 1)),  # 16x16
    ((256, 2), (256, 1)),  # 8x8
    ((512, 2), (512, 1)),  # 4x4
    ((1024, 2), (1024, 1)),  # 2x2
)

STEM_CHANNELS = 32
BASE_RESOLUTION = 224

# What the paper reports (ImageNet top-1, million mult-adds, million parameters).
TABLE_6 = {  # width multiplier alpha at 224x224
    1.0: (70.6, 569, 4.2),
    0.75: (68.4, 325, 2.6),
    0.5: (63.7, 149, 1.3),
    0.25: (50.6, 41, 0.5),
}
TABLE_7 = {  # input resolution of 1.0 MobileNet (rho = 1, 6/7, 5/7, 4/7)
    224: (70.6, 569, 4.2),
    192: (69.1, 418, 4.2),
    160: (67.2, 290, 4.2),
    128: (64.4, 186, 4.2),
}


def input_resolution(rho: float, base: int = BASE_RESOLUTION) -> int:
    """The input side for resolution multiplier ``rho`` (Sec. 3.4): ``round(rho * base)``.

    The paper sets rho implicitly by the input size: 224, 192, 160 and 128 pixels are
    rho = 1, 6/7, 5/7 and 4/7. Every feature map shrinks by rho too, so the mult-adds
    fall by about rho^2 (Eq. 7; Table 7) while the parameters stay the same.
    """
    if not 0 < rho <= 1:
        raise ValueError(f"the resolution multiplier rho must be in (0, 1], got {rho}")
    return round(rho * base)


def scale_width(channels: int, width_multiplier: float, divisor: int = 8) -> int:
    """``width_multiplier * channels`` (alpha M in Eq. 6), rounded to a multiple of ``divisor``.

    Rounded to nearest, never below ``divisor`` nor more than 10% below the exact width,
    as TF-slim and timm do (:func:`~convzoo.blocks.inverted_residual.make_divisible`).
    """
    return make_divisible(channels * width_multiplier, divisor)


class MobileNetV1(ImageClassifier):
    """MobileNet V1: a conv stem, stages of depthwise separable layers, average pool, linear layer.

    Args:
        stages: per stage, the separable layers as ``(out_channels, stride)`` at width 1
            (:data:`TABLE_1` or :data:`CIFAR_LAYERS`).
        width_multiplier: the paper's alpha, scaling every layer's channels (Sec. 3.3).
        stem_stride: stride of the 3x3 stem conv: 2 for ImageNet, 1 for CIFAR.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        norm_layer: builds a norm from a channel count, after every conv.
        act_layer: builds an activation from no arguments, after every norm.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        stages: Sequence[Stage] = TABLE_1,
        *,
        width_multiplier: float = 1.0,
        stem_stride: int = 2,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU6, inplace=True),
    ) -> None:
        super().__init__()
        if width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be positive, got {width_multiplier}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.width_multiplier = width_multiplier

        stem_channels = scale_width(STEM_CHANNELS, width_multiplier)
        self.conv_stem = nn.Conv2d(in_chans, stem_channels, kernel_size=3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = norm_layer(stem_channels)
        self.act1 = act_layer()

        self.feature_info = []
        in_channels, reduction = stem_channels, stem_stride
        blocks = []
        for index, stage in enumerate(stages):
            layers = []
            for out_channels, stride in stage:
                out_channels = scale_width(out_channels, width_multiplier)
                layers.append(DepthwiseSeparableConv2d(
                    in_channels, out_channels, kernel_size=3, stride=stride,
                    dw_norm_layer=norm_layer, dw_act_layer=act_layer,
                    pw_norm_layer=norm_layer, pw_act_layer=act_layer,
                ))
                in_channels, reduction = out_channels, reduction * stride
            blocks.append(nn.Sequential(*layers))
            self.feature_info.append(dict(num_chs=in_channels, reduction=reduction, module=f"blocks.{index}"))
        self.blocks = nn.Sequential(*blocks)

        self.num_features = in_channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for 1.0 MobileNet-224.
        x = self.act1(self.bn1(self.conv_stem(x)))  # (B, 32, 112, 112)
        return self.blocks(x)  # (B, 64, 112, 112) ... (B, 1024, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)  # (B, 1024)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier = classifier_layer(self.num_features, num_classes)


def _notes(alpha: float) -> dict[str, Any]:
    top1, macs, params = TABLE_6[alpha]
    notes: dict[str, Any] = {
        "width_multiplier": alpha,
        "imagenet_top1": top1,
        "paper_mult_adds_millions": macs,
        "paper_params_millions": params,
        "table_6_width_multiplier": {str(a): dict(top1=t, mult_adds_M=m, params_M=p) for a, (t, m, p) in TABLE_6.items()},
    }
    if alpha == 1.0:
        notes["table_7_resolution"] = {str(r): dict(top1=t, mult_adds_M=m, params_M=p) for r, (t, m, p) in TABLE_7.items()}
        notes["resolution_multiplier"] = "input_resolution(rho) = round(224 * rho): 224, 192, 160, 128 for rho = 1, 6/7, 5/7, 4/7"
    return notes


def _imagenet(alpha: float, **kwargs: Any) -> MobileNetV1:
    return MobileNetV1(TABLE_1, width_multiplier=alpha, **kwargs)


@register_model(family="mobilenet_v1", paper=PAPER, timm="mobilenetv1_100", deviations=DEVIATIONS, notes=_notes(1.0))
def mobilenetv1_100(**kwargs: Any) -> MobileNetV1:
    """1.0 MobileNet-224 (Table 1): 569M mult-adds, 4,231,976 parameters."""
    return _imagenet(1.0, **kwargs)


@register_model(
    family="mobilenet_v1", paper=PAPER, timm="mobilenetv1_125", deviations=DEVIATIONS,
    notes={"width_multiplier": 1.25, "source": "timm's wider variant; not in the paper"},
)
def mobilenetv1_125(**kwargs: Any) -> MobileNetV1:
    """1.25 MobileNet-224, timm's wider variant: 6,270,840 parameters."""
    return _imagenet(1.25, **kwargs)


@register_model(family="mobilenet_v1", paper=PAPER, deviations=DEVIATIONS, notes=_notes(0.75))
def mobilenetv1_075(**kwargs: Any) -> MobileNetV1:
    """0.75 MobileNet-224 (Table 6): 325M mult-adds, 2.6M parameters."""
    return _imagenet(0.75, **kwargs)


@register_model(family="mobilenet_v1", paper=PAPER, deviations=DEVIATIONS, notes=_notes(0.5))
def mobilenetv1_050(**kwargs: Any) -> MobileNetV1:
    """0.5 MobileNet-224 (Table 6): 149M mult-adds, 1.3M parameters."""
    return _imagenet(0.5, **kwargs)


@register_model(family="mobilenet_v1", paper=PAPER, deviations=DEVIATIONS, notes=_notes(0.25))
def mobilenetv1_025(**kwargs: Any) -> MobileNetV1:
    """0.25 MobileNet-224 (Table 6): 41M mult-adds, 0.5M parameters."""
    return _imagenet(0.25, **kwargs)


@register_model(
    family="mobilenet_v1",
    paper=PAPER,
    input_size=(3, 32, 32),
    num_classes=10,
    deviations=(
        "The CNN course's CIFAR-10 adaptation, not a model of the paper: stride-1 stem, two 512-channel "
        "layers instead of six, ReLU (not ReLU6), 32x32 inputs pooled from a 2x2 map."
    ),
    notes={
        "course_result": "77.85% CIFAR-10 test accuracy after 10 epochs of the mobilenet_cifar recipe "
                         "(Adam, lr 1e-3 constant, batch 128, random crop and flip)",
        "course_test_accuracy": 77.85,
        "course_evaluation_caveat": (
            "the course notebooks evaluated without switching to eval mode, so batch norm used the test "
            "batches' statistics; convzoo evaluates in eval mode (running statistics)"
        ),
        "reproduce": "convzoo train mobilenet_v1_cifar --dataset cifar10 --data-dir DIR --recipe mobilenet_cifar",
    },
)
def mobilenet_v1_cifar(**kwargs: Any) -> MobileNetV1:
    """MobileNet V1 for CIFAR-10 (the CNN course's): stride-1 stem and 9 separable layers, 2,142,026 parameters."""
    kwargs.setdefault("num_classes", 10)
    kwargs.setdefault("act_layer", partial(nn.ReLU, inplace=True))
    return MobileNetV1(CIFAR_LAYERS, stem_stride=1, **kwargs)
