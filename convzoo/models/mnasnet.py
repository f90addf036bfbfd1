"""MnasNet: a mobile network found by platform-aware neural architecture search.

Paper: MnasNet: Platform-Aware Neural Architecture Search for Mobile (Mingxing Tan, Bo Chen,
Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le, CVPR 2019)
https://arxiv.org/abs/1807.11626

How the architecture was found. Neural architecture search (NAS) lets a learnt controller
design the network. Zoph and Le (ICLR 2017) used a recurrent network that emits an
architecture token by token (filter sizes, strides, connections); each sampled network is
trained, its validation accuracy is the reward, and the controller is updated by
reinforcement learning (REINFORCE, later PPO). NASNet (Zoph et al., CVPR 2018) made this
affordable by searching a small *cell* on CIFAR-10 and stacking copies of it for ImageNet.
MnasNet changes both the space and the goal. Its space is *factorised hierarchical*: the
network is split into a sequence of blocks and the controller picks, per block, the conv type
(regular, depthwise, MBConv with expansion 3 or 6), kernel (3 or 5), squeeze-and-excitation
ratio, skip connection, output width and number of layers, so different stages can differ,
which a repeated cell forbids. Its goal multiplies accuracy by the latency measured on a
real phone (a Pixel 1), for a target latency ``T`` (Eq. 2)::

    reward(m) = ACC(m) x [LAT(m) / T] ** w,    w = -0.07 (soft constraint: alpha = beta = -0.07)

so a model twice as slow as the target must be about 5% more accurate (2 ** 0.07) to earn
the same reward, and the search finds Pareto-optimal trade-offs instead of only the most
accurate network. About 8K models were sampled, each trained for 5 epochs on ImageNet.

The result is a stem (a 3x3 conv and a depthwise separable conv to 16 channels), six
stages of inverted residual blocks (:mod:`convzoo.blocks.inverted_residual`) that mix
3x3 and 5x5 kernels and expansions 3 and 6, and a 1x1 conv to 1280 channels. This is
torchvision's "B1" variant, without the squeeze-and-excitation of the paper's MnasNet-A1.
The width multiplier ``alpha`` scales every width (rounded to a multiple of 8, preferring
to round up), as in MobileNetV2.

Deviations:
    - The paper's headline model is MnasNet-A1 (with squeeze-and-excitation in some stages);
      this is MnasNet-B1 from the authors' released code, as in torchvision, whose
      checkpoints it loads.
    - The stem is scaled with ``alpha`` (torchvision's version 2 of MnasNet); torchvision's
      older version-1 checkpoints for alpha != 1 with an unscaled stem do not fit.
    - Dropout 0.2 before the classifier and torchvision's initialisation.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping

import torch
from torch import nn

from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible, remap_timm_state_dict
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = ["MNASNet", "STAGES", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="MnasNet: Platform-Aware Neural Architecture Search for Mobile",
    authors="Mingxing Tan, Bo Chen, Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le",
    venue="CVPR",
    year=2019,
    url="https://arxiv.org/abs/1807.11626",
)

DEVIATIONS = (
    "MnasNet-B1 (no squeeze-and-excitation) from the authors' released code, as in torchvision; the paper's "
    "headline model is MnasNet-A1. Stem scaled with the width multiplier (torchvision's version 2)."
)

SEARCH = (
    "Found by platform-aware neural architecture search: an RNN controller (Zoph and Le 2017) samples "
    "a network from a factorised hierarchical space (per block: conv type, kernel 3/5, expansion 3/6, "
    "skip, width, number of layers), trains it for 5 epochs and is updated by reinforcement learning on "
    "the reward ACC(m) x [LAT(m)/T]^w with w = -0.07, LAT measured on a Pixel phone; NASNet (Zoph et al. "
    "2018) had searched one repeated cell, MnasNet lets stages differ and puts real latency in the goal."
)

# Widths of the stem, the separable conv and the six stages, before the multiplier.
WIDTHS = (32, 16, 24, 40, 80, 96, 192, 320)
# The six stages: expansion t, kernel k, stride of the first block s, repeats n (output widths: WIDTHS[2:]).
STAGES: tuple[tuple[int, int, int, int], ...] = (
    # t  k  s  n
    (3, 3, 2, 3),  # 112 -> 56, 24 channels
    (3, 5, 2, 3),  # 56 -> 28, 40
    (6, 5, 2, 3),  # 28 -> 14, 80
    (6, 3, 1, 2),  # 14, 96
    (6, 5, 2, 4),  # 14 -> 7, 192
    (6, 3, 1, 1),  # 7, 320
)
HEAD_CHANNELS = 1280
# The paper's TensorFlow batch norm momentum 0.9997, as PyTorch counts it.
BN_MOMENTUM = 1 - 0.9997


class MNASNet(ImageClassifier):
    """MnasNet-B1: a 3x3 conv, a depthwise separable conv, six stages of inverted residuals, 1x1 conv, linear.

    All layers sit in one ``nn.Sequential`` named ``layers``, as in torchvision's checkpoints.

    Args:
        alpha: the width multiplier.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        dropout: dropout probability before the classifier.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        norm_layer: LayerFactory = partial(nn.BatchNorm2d, momentum=BN_MOMENTUM),
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.alpha = alpha
        widths = [make_divisible(width * alpha, 8) for width in WIDTHS]
        unit = partial(ConvNormAct, norm_layer=norm_layer, act_layer=act_layer)

        # Stem: a 3x3 conv, then a depthwise separable conv (its 1x1 half linear), each layer one entry.
        layers: list[nn.Module] = [
            *unit(in_chans, widths[0], 3, stride=2),  # layers.0-2
            *unit(widths[0], widths[0], 3, groups=widths[0]),  # layers.3-5
            *unit(widths[0], widths[1], 1, act_layer=None),  # layers.6-7
        ]
        self.feature_info = [dict(num_chs=widths[1], reduction=2, module=f"layers.{len(layers) - 1}")]
        in_channels, reduction = widths[1], 2
        for number, ((t, k, s, n), out_channels) in enumerate(zip(STAGES, widths[2:])):
            blocks = [
                InvertedResidual(
                    in_channels if i == 0 else out_channels, out_channels, k, s if i == 0 else 1, t,
                    norm_layer=norm_layer, act_layer=act_layer, key_layout="mnasnet",
                )
                for i in range(n)
            ]
            layers.append(nn.Sequential(*blocks))
            in_channels, reduction = out_channels, reduction * s
            if number + 1 == len(STAGES) or STAGES[number + 1][2] > 1:
                self.feature_info.append(dict(num_chs=out_channels, reduction=reduction, module=f"layers.{len(layers) - 1}"))

        self.num_features = HEAD_CHANNELS
        layers.extend(unit(in_channels, HEAD_CHANNELS, 1))  # layers.14-16
        self.feature_info.append(dict(num_chs=HEAD_CHANNELS, reduction=reduction, module=f"layers.{len(layers) - 1}"))
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), classifier_layer(HEAD_CHANNELS, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's: He normal (fan-out) convs, unit norms, He uniform (fan-out) linear layer.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, mode="fan_out", nonlinearity="sigmoid")
                nn.init.zeros_(module.bias)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a timm MnasNet state dict (``mnasnet_050`` ...) to ours; torchvision's keys already fit.

        timm's ``conv_stem``/``bn1`` are ``layers.0``/``layers.1``; its first block, the
        separable conv, is ``layers.3``-``layers.7``; ``blocks.<s>.<i>`` is
        ``layers.<s + 7>.<i>``; ``conv_head``/``bn2`` are ``layers.14``/``layers.15``.
        """
        renames = {
            "conv_stem": "layers.0", "bn1": "layers.1",
            "blocks.0.0.conv_dw": "layers.3", "blocks.0.0.bn1": "layers.4",
            "blocks.0.0.conv_pw": "layers.6", "blocks.0.0.bn2": "layers.7",
            "conv_head": "layers.14", "bn2": "layers.15", "classifier": "classifier.1",
        }
        blocks = {
            f"blocks.{s}.{i}": (f"layers.{s + 7}.{i}", block)
            for s in range(1, len(STAGES) + 1)
            for i, block in enumerate(self.layers[s + 7])
        }
        return remap_timm_state_dict(state_dict, renames, blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, 1280, 7, 7) at 224x224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1280)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


def _register(name: str, timm: str | None, top1: float) -> Callable[[Callable[..., MNASNet]], Callable[..., MNASNet]]:
    notes = {"search": SEARCH, "torchvision_imagenet_top1": top1}
    return register_model(family="mnasnet", paper=PAPER, torchvision=name, timm=timm, deviations=DEVIATIONS, notes=notes)


@_register("mnasnet0_5", "mnasnet_050", 67.734)
def mnasnet0_5(**kwargs: Any) -> MNASNet:
    """MnasNet-B1 at width 0.5: 2.2M parameters."""
    return MNASNet(0.5, **kwargs)


@_register("mnasnet0_75", "mnasnet_075", 71.180)
def mnasnet0_75(**kwargs: Any) -> MNASNet:
    """MnasNet-B1 at width 0.75: 3.2M parameters."""
    return MNASNet(0.75, **kwargs)


@_register("mnasnet1_0", "mnasnet_100", 73.456)
def mnasnet1_0(**kwargs: Any) -> MNASNet:
    """MnasNet-B1 at width 1.0: 4.4M parameters."""
    return MNASNet(1.0, **kwargs)


@_register("mnasnet1_3", None, 76.506)
def mnasnet1_3(**kwargs: Any) -> MNASNet:
    """MnasNet-B1 at width 1.3: 6.3M parameters."""
    return MNASNet(1.3, **kwargs)
