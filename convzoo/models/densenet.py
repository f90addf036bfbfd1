"""DenseNet: densely connected convolutional networks.

Paper: Densely Connected Convolutional Networks (Gao Huang, Zhuang Liu, Laurens van der
Maaten, Kilian Q. Weinberger, CVPR 2017) https://arxiv.org/abs/1608.06993

A ResNet layer adds its output to its input; a DenseNet layer concatenates it. Within a
dense block every layer reads the feature maps of all the layers before it,
``x_l = H_l([x_0, ..., x_{l-1}])`` (Eq. 2), and contributes only ``k`` new maps, the
*growth rate* (see :mod:`convzoo.blocks.dense`). Because nothing is overwritten, features
are reused instead of relearned and the layers can be very narrow: on ImageNet a
DenseNet-201 with 20M parameters reaches the error of a ResNet-101 with more than 40M
(Fig. 3).

The ImageNet networks are DenseNet-BC (Table 1):

- a stem: 7x7 conv with ``2k`` filters, stride 2, and a 3x3 max-pool, stride 2 (224 -> 56);
- four dense blocks of bottleneck layers (BN-ReLU-1x1 conv to ``4k``, BN-ReLU-3x3 conv to
  ``k``), with ``k = 32``;
- between blocks, a transition (BN-ReLU-1x1 conv-2x2 average pool) that halves the
  resolution and, with compression ``theta = 0.5``, the channels;
- a final BN-ReLU, global average pooling and a fully connected layer.

The depth counts the conv and fully connected layers: DenseNet-121 has
``2 (6 + 12 + 24 + 16) + 3 transitions + stem + fc = 121``.

``memory_efficient=True`` checkpoints each layer's concatenation, BN, ReLU and 1x1 conv
(Pleiss et al. 2017, https://arxiv.org/abs/1707.06990): training memory grows linearly
instead of quadratically with the depth, at the price of recomputing those layers in the
backward pass; outputs, gradients and running statistics are unchanged.

Deviations:
    - DenseNet-161 (k = 48, 96 stem filters, blocks 6, 12, 36, 24) is not in the paper's
      Table 1; it is the authors' released model, also in torchvision.
    - An adaptive average pool replaces the paper's 7x7 pool, so inputs other than 224
      work (from 29x29, below which the third transition has nothing to pool).
    - The final BN-ReLU before the pool is a module pair (``features.norm5``,
      ``features.relu5``) inside ``forward_features``; torchvision applies the ReLU in its
      ``forward``. The keys and outputs are torchvision's.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from convzoo.blocks.dense import DenseBlock, Transition
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["CONFIGS", "DenseNet", "TABLE_1", "densenet121", "densenet161", "densenet169", "densenet201"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="Densely Connected Convolutional Networks",
    authors="Gao Huang, Zhuang Liu, Laurens van der Maaten, Kilian Q. Weinberger",
    venue="CVPR",
    year=2017,
    url="https://arxiv.org/abs/1608.06993",
)

DEVIATIONS = (
    "Adaptive average pool instead of the fixed 7x7 pool (inputs from 29x29); the final ReLU is "
    "module features.relu5 inside forward_features (torchvision applies it in forward)."
)
DEVIATIONS_161 = "DenseNet-161 (k=48) is the authors' released model, not in the paper's Table 1. " + DEVIATIONS

# Table 1 of the paper: dense layers in each of the four blocks (growth rate k = 32).
TABLE_1: dict[int, tuple[int, int, int, int]] = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
    264: (6, 12, 64, 48),
}

# torchvision's DenseNet checkpoints (the files it downloads) name the layers of a dense
# layer "norm.1", "conv.2" ...; torchvision renames them to "norm1", "conv2" when loading.
_LEGACY_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(.+)$")

# The authors' top-1 error (%) of their Torch models, 224x224 single crop, from
# https://github.com/liuzhuang13/DenseNet (README, "Results on ImageNet").
AUTHORS_TOP1_ERROR = {121: 25.0, 169: 23.6, 201: 22.5, 161: 22.2}


class DenseNet(ImageClassifier):
    """A DenseNet-BC: stem, dense blocks joined by compressing transitions, BN-ReLU, pool, linear.

    Args:
        block_config: dense layers in each block (a row of :data:`TABLE_1`).
        growth_rate: maps each dense layer adds (``k``).
        stem_channels: filters of the 7x7 stem conv; ``None`` for ``2 * growth_rate``,
            the paper's choice.
        bn_size: bottleneck width in multiples of ``growth_rate`` (4: DenseNet-B).
        compression: fraction of channels a transition keeps (``theta``; 0.5: DenseNet-C).
        drop_rate: dropout probability on each dense layer's new maps.
        memory_efficient: checkpoint the bottlenecks in training (Pleiss et al. 2017);
            same results, less memory, more compute.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 2 ** (len(block_config) + 1) - 3``
          (29 for four blocks)
        - Output: ``(B, num_classes)``
    """

    def __init__(
        self,
        block_config: Sequence[int],
        *,
        growth_rate: int = 32,
        stem_channels: int | None = None,
        bn_size: int = 4,
        compression: float = 0.5,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        num_classes: int = 1000,
        in_chans: int = 3,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        stem_channels = stem_channels or 2 * growth_rate
        # The stem divides the side by 4 (rounding up), each transition by 2 (rounding down):
        # the last transition needs a 2x2 map, so the stem must leave 2 ** transitions.
        num_transitions = len(block_config) - 1
        self.min_input_size = 4 * (2**num_transitions - 1) + 1

        # One Sequential with torchvision's names, so its checkpoints load as they are.
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(in_chans, stem_channels, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm0", norm_layer(stem_channels)),
            ("relu0", act_layer()),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))  # fmt: skip
        self.feature_info = [dict(num_chs=stem_channels, reduction=2, module="features.relu0")]

        layer_options = dict(
            growth_rate=growth_rate, bn_size=bn_size, drop_rate=drop_rate,
            memory_efficient=memory_efficient, norm_layer=norm_layer, act_layer=act_layer,
        )
        channels, reduction = stem_channels, 4
        for index, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, **layer_options)
            self.features.add_module(f"denseblock{index + 1}", block)
            channels = block.out_channels
            if index < num_transitions:
                self.feature_info.append(dict(num_chs=channels, reduction=reduction, module=f"features.denseblock{index + 1}"))
                compressed = int(compression * channels)
                self.features.add_module(f"transition{index + 1}", Transition(channels, compressed, norm_layer, act_layer))
                channels, reduction = compressed, reduction * 2
        self.features.add_module(f"norm{len(block_config) + 1}", norm_layer(channels))
        self.features.add_module(f"relu{len(block_config) + 1}", act_layer())
        self.feature_info.append(dict(num_chs=channels, reduction=reduction, module=f"features.relu{len(block_config) + 1}"))

        self.num_features = channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # He et al.'s initialisation for the convs (the paper follows fb.resnet.torch).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # DenseNet-121 at 224x224: stem (B, 64, 56, 56); denseblock1 (B, 256, 56, 56) and
        # transition1 (B, 128, 28, 28); denseblock2 (B, 512, 28, 28) -> (B, 256, 14, 14);
        # denseblock3 (B, 1024, 14, 14) -> (B, 512, 7, 7); denseblock4 and norm5/relu5 (B, 1024, 7, 7).
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, num_features), 1024 in DenseNet-121
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier = classifier_layer(self.num_features, num_classes)

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename the keys of torchvision's downloadable checkpoints (``denselayer1.norm.1.weight``).

        torchvision's and timm's models already have our keys (``denselayer1.norm1.weight``)
        and pass unchanged.
        """
        remapped = {}
        for key, value in state_dict.items():
            match = _LEGACY_KEY.match(key)
            remapped[f"{match[1]}{match[2]}.{match[3]}" if match else key] = value
        return remapped


# Growth rate and layers per block of each registered depth: Table 1, and the authors' DenseNet-161.
CONFIGS: dict[int, tuple[int, tuple[int, ...]]] = {
    121: (32, TABLE_1[121]),
    161: (48, (6, 12, 36, 24)),
    169: (32, TABLE_1[169]),
    201: (32, TABLE_1[201]),
}


def _densenet(depth: int, **kwargs: Any) -> DenseNet:
    growth_rate, block_config = CONFIGS[depth]
    return DenseNet(block_config, growth_rate=growth_rate, **kwargs)


def _notes(depth: int) -> dict[str, Any]:
    growth_rate, block_config = CONFIGS[depth]
    return {
        "growth_rate": growth_rate,
        "block_config": block_config,
        "authors_top1_error_224": AUTHORS_TOP1_ERROR[depth],
    }


@register_model(family="densenet", paper=PAPER, torchvision="densenet121", timm="densenet121",
                deviations=DEVIATIONS, notes=_notes(121))  # fmt: skip
def densenet121(**kwargs: Any) -> DenseNet:
    """DenseNet-121 (BC, k = 32): blocks of 6, 12, 24, 16 layers, 8.0M parameters."""
    return _densenet(121, **kwargs)


@register_model(family="densenet", paper=PAPER, torchvision="densenet161", timm="densenet161",
                deviations=DEVIATIONS_161, notes=_notes(161))  # fmt: skip
def densenet161(**kwargs: Any) -> DenseNet:
    """DenseNet-161 (BC, k = 48): blocks of 6, 12, 36, 24 layers, 28.7M parameters."""
    return _densenet(161, **kwargs)


@register_model(family="densenet", paper=PAPER, torchvision="densenet169", timm="densenet169",
                deviations=DEVIATIONS, notes=_notes(169))  # fmt: skip
def densenet169(**kwargs: Any) -> DenseNet:
    """DenseNet-169 (BC, k = 32): blocks of 6, 12, 32, 32 layers, 14.1M parameters."""
    return _densenet(169, **kwargs)


@register_model(family="densenet", paper=PAPER, torchvision="densenet201", timm="densenet201",
                deviations=DEVIATIONS, notes=_notes(201))  # fmt: skip
def densenet201(**kwargs: Any) -> DenseNet:
    """DenseNet-201 (BC, k = 32): blocks of 6, 12, 48, 32 layers, 20.0M parameters."""
    return _densenet(201, **kwargs)
