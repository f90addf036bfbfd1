"""EfficientNet B0-B7: one baseline scaled in depth, width and resolution together.

Paper: EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Mingxing Tan,
Quoc V. Le, ICML 2019) https://arxiv.org/abs/1905.11946

Networks are usually scaled up along one axis: deeper (ResNet-18 to 200), wider (Wide
ResNet) or at a higher resolution. Each axis alone saturates quickly (Fig. 3): a deeper
net needs more resolution to see fine detail, and a higher resolution needs more depth for
a larger receptive field and more width to hold the finer patterns. EfficientNet scales
all three with one compound coefficient ``phi`` (Eq. 3)::

    depth      d = alpha ** phi
    width      w = beta  ** phi
    resolution r = gamma ** phi        with  alpha * beta**2 * gamma**2 ~ 2,  alpha, beta, gamma >= 1

FLOPs grow as ``d w^2 r^2``, so each step of ``phi`` about doubles them. A small grid search
on the baseline at ``phi = 1`` found ``alpha = 1.2, beta = 1.1, gamma = 1.15``
(:func:`compound_scaling`).

The baseline, EfficientNet-B0 (Table 1), was itself found by a neural architecture search
in MnasNet's space (see :mod:`convzoo.models.mnasnet`), optimising accuracy times
``FLOPs^-0.07`` rather than latency. It is a 3x3 stem, seven stages of MBConv blocks
(:class:`convzoo.blocks.inverted_residual.InvertedResidual` with squeeze-and-excitation on a
quarter of the block's input width and SiLU activations), a 1x1 conv to 1280 channels,
pooling and a linear layer. A variant follows from B0 and its multipliers alone: every
width is ``w`` times B0's, rounded to a multiple of 8 (:func:`scale_width`), every stage's
repeats ``d`` times B0's, rounded up (:func:`scale_depth`). Training adds dropout before
the classifier, growing from 0.2 (B0) to 0.5 (B7), and stochastic depth whose drop rate
rises linearly with the block index up to 0.2.

The released B1-B7 do not use ``alpha ** phi`` and ``beta ** phi`` as printed: their
(width, depth, resolution) are hand-rounded, and depth grows more slowly than ``1.2 **
phi`` (B7: 3.1 against 3.58). The registered models use the released multipliers
(:data:`RELEASED`), which the checkpoints need; each model card shows them next to what
the rule gives at that variant's ``phi``.

Deviations:
    - The registered B1-B7 use the released multipliers, not ``compound_scaling(phi)``: the
      rule as a function is :func:`compound_scaling`, and ``EfficientNet.from_phi`` builds a
      network from it.
    - As in torchvision, B0-B4 use PyTorch's batch norm defaults (eps 1e-5, momentum 0.1),
      B5-B7 the paper's TensorFlow settings (eps 1e-3, momentum 0.01), matching their weights.
    - timm's ``efficientnet_b5``-``b7`` keep PyTorch's eps 1e-5: their weights load
      (the keys are remapped) into ``efficientnet_b5(norm_layer=nn.BatchNorm2d)``.
    - Stochastic depth on every block with a shortcut at rate ``0.2 * i / N`` for block
      ``i`` of ``N``, as torchvision; the paper states only a survival probability of 0.8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible, remap_timm_state_dict
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = [
    "EfficientNet", "MBConvStage", "TABLE_1", "RELEASED", "Scaling",
    "compound_scaling", "remap_timm_keys", "scale_width", "scale_depth", "scale_resolution", "scaled_stages",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    authors="Mingxing Tan, Quoc V. Le",
    venue="ICML",
    year=2019,
    url="https://arxiv.org/abs/1905.11946",
)

DEVIATIONS = (
    "B1-B7 are built from the released (width, depth, resolution) multipliers, which the checkpoints "
    "need; they are hand-rounded and do not follow alpha**phi, beta**phi, gamma**phi exactly (the card's "
    "notes show both). Batch norm eps/momentum per torchvision (PyTorch defaults for B0-B4, eps 1e-3 and "
    "momentum 0.01 for B5-B7); stochastic depth 0.2 * i / N per block, as torchvision."
)

# The compound scaling constants found by grid search on B0 (Sec. 3.3, step 1).
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15
BASE_RESOLUTION = 224


@dataclass(frozen=True)
class MBConvStage:
    """One row of Table 1: ``num_layers`` MBConv blocks, the first with ``stride``."""

    expand_ratio: int
    kernel_size: int
    stride: int
    out_channels: int
    num_layers: int


# Table 1 of the paper, EfficientNet-B0 (stages 2-8; stage 1 is the stem, stage 9 the head).
STEM_CHANNELS = 32
TABLE_1: tuple[MBConvStage, ...] = (
    #            t  k  s    c  n
    MBConvStage(1, 3, 1, 16, 1),  # MBConv1, k3x3, 112x112
    MBConvStage(6, 3, 2, 24, 2),  # MBConv6, k3x3, 112 -> 56
    MBConvStage(6, 5, 2, 40, 2),  # MBConv6, k5x5, 56 -> 28
    MBConvStage(6, 3, 2, 80, 3),  # MBConv6, k3x3, 28 -> 14
    MBConvStage(6, 5, 1, 112, 3),  # MBConv6, k5x5, 14
    MBConvStage(6, 5, 2, 192, 4),  # MBConv6, k5x5, 14 -> 7
    MBConvStage(6, 3, 1, 320, 1),  # MBConv6, k3x3, 7
)
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class Scaling:
    """Multipliers of a variant: depth ``d``, width ``w`` and input ``resolution`` (pixels)."""

    depth: float
    width: float
    resolution: int


def compound_scaling(phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA) -> Scaling:
    """Eq. (3): ``d = alpha^phi``, ``w = beta^phi``, ``r = gamma^phi`` (times B0's 224 pixels, rounded)."""
    return Scaling(depth=alpha**phi, width=beta**phi, resolution=scale_resolution(gamma**phi))


def remap_timm_keys(features: nn.Sequential, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's keys of an EfficientNet-style network (EfficientNet, MixNet) in ours.

    ``features`` is our stem unit, the stages of :class:`InvertedResidual` blocks and the
    head unit; timm's ``conv_stem``/``bn1``, ``blocks.<s>.<i>``, ``conv_head``/``bn2`` and
    ``classifier`` map onto them.
    """
    head = f"features.{len(features) - 1}"
    renames = {"conv_stem": "features.0.0", "bn1": "features.0.1", "conv_head": f"{head}.0", "bn2": f"{head}.1",
               "classifier": "classifier.1"}
    blocks = {
        f"blocks.{s}.{i}": (f"features.{s + 1}.{i}", block)
        for s, stage in enumerate(features[1:-1])
        for i, block in enumerate(stage)
    }
    return remap_timm_state_dict(state_dict, renames, blocks)


def scale_width(channels: int, width_mult: float) -> int:
    """A B0 width times ``w``, rounded to a multiple of 8 (never more than 10% down)."""
    return make_divisible(channels * width_mult, 8)


def scale_depth(num_layers: int, depth_mult: float) -> int:
    """A B0 stage's repeats times ``d``, rounded up."""
    return int(math.ceil(num_layers * depth_mult))


def scale_resolution(resolution_mult: float, base: int = BASE_RESOLUTION) -> int:
    """B0's input side times ``r``, rounded to a pixel."""
    return round(base * resolution_mult)


def scaled_stages(width_mult: float, depth_mult: float, stages: Sequence[MBConvStage] = TABLE_1) -> list[MBConvStage]:
    """The stages of a variant, derived from B0's table: widths by :func:`scale_width`, repeats by :func:`scale_depth`."""
    return [
        MBConvStage(s.expand_ratio, s.kernel_size, s.stride, scale_width(s.out_channels, width_mult),
                    scale_depth(s.num_layers, depth_mult))
        for s in stages
    ]


# The released variants: phi, (width, depth, resolution) multipliers and dropout. B0 is phi = 0.
@dataclass(frozen=True)
class Variant:
    phi: int
    width: float
    depth: float
    resolution: int
    dropout: float


RELEASED: dict[str, Variant] = {
    "efficientnet_b0": Variant(0, 1.0, 1.0, 224, 0.2),
    "efficientnet_b1": Variant(1, 1.0, 1.1, 240, 0.2),
    "efficientnet_b2": Variant(2, 1.1, 1.2, 260, 0.3),
    "efficientnet_b3": Variant(3, 1.2, 1.4, 300, 0.3),
    "efficientnet_b4": Variant(4, 1.4, 1.8, 380, 0.4),
    "efficientnet_b5": Variant(5, 1.6, 2.2, 456, 0.4),
    "efficientnet_b6": Variant(6, 1.8, 2.6, 528, 0.5),
    "efficientnet_b7": Variant(7, 2.0, 3.1, 600, 0.5),
}

# Table 2 of the paper: ImageNet top-1 accuracy (%), parameters and FLOPs.
PAPER_RESULTS = {
    "efficientnet_b0": (77.1, "5.3M", "0.39B"),
    "efficientnet_b1": (79.1, "7.8M", "0.70B"),
    "efficientnet_b2": (80.1, "9.2M", "1.0B"),
    "efficientnet_b3": (81.6, "12M", "1.8B"),
    "efficientnet_b4": (82.9, "19M", "4.2B"),
    "efficientnet_b5": (83.6, "30M", "9.9B"),
    "efficientnet_b6": (84.0, "43M", "19B"),
    "efficientnet_b7": (84.3, "66M", "37B"),
}

# The TensorFlow batch norm of the ported B5-B7 checkpoints (PyTorch momentum = 1 - TF's 0.99).
TF_BATCH_NORM = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)


class EfficientNet(ImageClassifier):
    """A 3x3 conv stem, seven stages of MBConv blocks with squeeze-and-excitation, a 1x1 conv, pooling, linear.

    Args:
        width_mult: the width multiplier ``w`` applied to B0's widths.
        depth_mult: the depth multiplier ``d`` applied to B0's repeats.
        stages: B0's stages (Table 1), scaled by the multipliers.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        dropout: dropout probability before the classifier.
        stochastic_depth_prob: drop rate of the last block; block ``i`` of ``N`` drops its
            residual branch with probability ``stochastic_depth_prob * i / N`` in training.
        se_ratio: squeeze-and-excitation width as a fraction of each block's input width.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments (SiLU, the paper's "swish").

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        stages: Sequence[MBConvStage] = TABLE_1,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        se_ratio: float = 0.25,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.SiLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.width_mult, self.depth_mult = width_mult, depth_mult
        scaled = scaled_stages(width_mult, depth_mult, stages)

        in_channels = scale_width(STEM_CHANNELS, width_mult)
        layers: list[nn.Module] = [
            ConvNormAct(in_chans, in_channels, 3, stride=2, norm_layer=norm_layer, act_layer=act_layer)
        ]
        self.feature_info: list[dict] = []
        reduction, index, total = 2, 0, sum(s.num_layers for s in scaled)
        for number, stage in enumerate(scaled):
            blocks = []
            for i in range(stage.num_layers):
                se = partial(SqueezeExcite, reduced_channels=max(1, int(in_channels * se_ratio)), act_layer=act_layer)
                blocks.append(InvertedResidual(
                    in_channels, stage.out_channels, stage.kernel_size, stage.stride if i == 0 else 1,
                    stage.expand_ratio, expanded_channels=make_divisible(in_channels * stage.expand_ratio, 8),
                    norm_layer=norm_layer, act_layer=act_layer, attn_layer=se,
                    drop_path_rate=stochastic_depth_prob * index / total, key_layout="efficientnet",
                ))
                in_channels, index = stage.out_channels, index + 1
            layers.append(nn.Sequential(*blocks))
            reduction *= stage.stride
            if number + 1 == len(scaled) or scaled[number + 1].stride > 1:
                self.feature_info.append(dict(num_chs=in_channels, reduction=reduction, module=f"features.{len(layers) - 1}"))

        self.num_features = scale_width(HEAD_CHANNELS, width_mult)
        layers.append(ConvNormAct(in_channels, self.num_features, 1, norm_layer=norm_layer, act_layer=act_layer))
        self.feature_info.append(dict(num_chs=self.num_features, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout, inplace=True), classifier_layer(self.num_features, num_classes))
        self._init_weights()

    @classmethod
    def from_phi(cls, phi: float, **kwargs: Any) -> "EfficientNet":
        """A network scaled from B0 by :func:`compound_scaling` at ``phi`` (not a released variant)."""
        scaling = compound_scaling(phi)
        return cls(scaling.width, scaling.depth, **kwargs)

    def _init_weights(self) -> None:
        # torchvision's: He normal (fan-out) convs, unit norms, U(-1/sqrt(n), 1/sqrt(n)) for the n logits.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.out_features)
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.zeros_(module.bias)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a timm EfficientNet state dict to ours; torchvision's keys already fit.

        timm's ``conv_stem``/``bn1`` are the stem unit ``features.0``, ``blocks.<s>.<i>``
        is ``features.<s + 1>.<i>``, ``conv_head``/``bn2`` the last unit and ``classifier``
        the linear layer; inside a block see :meth:`InvertedResidual.timm_key_map`.
        """
        return remap_timm_keys(self.features, state_dict)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 1280, 7, 7) for B0 at 224x224

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 1280)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


def _notes(name: str) -> dict[str, Any]:
    variant = RELEASED[name]
    rule = compound_scaling(variant.phi)
    top1, params, flops = PAPER_RESULTS[name]
    return {
        "phi": variant.phi,
        "released_multipliers": {"width": variant.width, "depth": variant.depth, "resolution": variant.resolution},
        "compound_rule_at_phi": {
            "width": round(rule.width, 4), "depth": round(rule.depth, 4), "resolution": rule.resolution,
        },
        "dropout": variant.dropout,
        "stochastic_depth": "0.2 * i / N for block i of N (per sample)",
        "paper_imagenet_top1": top1,
        "paper_params": params,
        "paper_flops": flops,
    }


def _efficientnet(name: str, **kwargs: Any) -> EfficientNet:
    """The released variant ``name``; ``width_mult``/``depth_mult`` override its multipliers (a scaled variant,
    e.g. ``create_model("efficientnet_b0", width_mult=1.1, depth_mult=1.2)`` for the compound-scaling search)."""
    variant = RELEASED[name]
    kwargs.setdefault("dropout", variant.dropout)
    if variant.phi >= 5:
        kwargs.setdefault("norm_layer", TF_BATCH_NORM)
    return EfficientNet(kwargs.pop("width_mult", variant.width), kwargs.pop("depth_mult", variant.depth), **kwargs)


def _register(name: str) -> Callable[[Callable[..., EfficientNet]], Callable[..., EfficientNet]]:
    # timm's efficientnet_b5-b7 keep PyTorch's batch norm eps, so only B0-B4 are the same network.
    timm = name if RELEASED[name].phi < 5 else None
    return register_model(
        family="efficientnet", paper=PAPER, input_size=(3, RELEASED[name].resolution, RELEASED[name].resolution),
        torchvision=name, timm=timm, deviations=DEVIATIONS, notes=_notes(name),
    )


@_register("efficientnet_b0")
def efficientnet_b0(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B0, the searched baseline (Table 1): 224x224, 5.3M parameters."""
    return _efficientnet("efficientnet_b0", **kwargs)


@_register("efficientnet_b1")
def efficientnet_b1(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B1: width 1.0, depth 1.1, 240x240, 7.8M parameters."""
    return _efficientnet("efficientnet_b1", **kwargs)


@_register("efficientnet_b2")
def efficientnet_b2(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B2: width 1.1, depth 1.2, 260x260, 9.1M parameters."""
    return _efficientnet("efficientnet_b2", **kwargs)


@_register("efficientnet_b3")
def efficientnet_b3(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B3: width 1.2, depth 1.4, 300x300, 12.2M parameters."""
    return _efficientnet("efficientnet_b3", **kwargs)


@_register("efficientnet_b4")
def efficientnet_b4(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B4: width 1.4, depth 1.8, 380x380, 19.3M parameters."""
    return _efficientnet("efficientnet_b4", **kwargs)


@_register("efficientnet_b5")
def efficientnet_b5(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B5: width 1.6, depth 2.2, 456x456, 30.4M parameters."""
    return _efficientnet("efficientnet_b5", **kwargs)


@_register("efficientnet_b6")
def efficientnet_b6(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B6: width 1.8, depth 2.6, 528x528, 43.0M parameters."""
    return _efficientnet("efficientnet_b6", **kwargs)


@_register("efficientnet_b7")
def efficientnet_b7(**kwargs: Any) -> EfficientNet:
    """EfficientNet-B7: width 2.0, depth 3.1, 600x600, 66.3M parameters."""
    return _efficientnet("efficientnet_b7", **kwargs)
