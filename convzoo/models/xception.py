"""Xception: Inception taken to the extreme, as residual stacks of depthwise separable convs.

Paper: Xception: Deep Learning with Depthwise Separable Convolutions (François Chollet,
CVPR 2017) https://arxiv.org/abs/1610.02357

An Inception module splits the work of a conv in two: 1x1 convs first map the input into
a few smaller channel groups, then 3x3 convs filter space within each group. Chollet asks
what happens at the extreme, one group per channel: a 1x1 conv followed by a separate
spatial filter for every channel (Fig. 4), which is a depthwise separable convolution up
to the order of the two steps. Xception ("extreme Inception") is then the hypothesis that
cross-channel and spatial correlations can be mapped *entirely* separately.

The network (Fig. 5) is 36 convolutional layers in 14 modules, all but the first and the
last with linear residual connections:

- entry flow: two plain 3x3 convs (32 with stride 2, then 64), then three modules of two
  separable convs and a stride-2 max-pool (128, 256, 728 channels), each with a strided
  1x1 conv on its shortcut;
- middle flow: eight identical modules of three ReLU-separable-conv-BN units at 728
  channels and 19x19, with identity shortcuts;
- exit flow: a module from 728 to 1024 channels that pools to 10x10, then separable convs
  to 1536 and 2048 channels, global average pooling and the logistic regression layer.

Every conv is followed by batch norm. The separable convs here have no norm or ReLU
between their depthwise and pointwise parts (:class:`~convzoo.ops.DepthwiseSeparableConv2d`
with both left out): Chollet found that an intermediate activation made training slower
and the result worse (Fig. 10), the opposite of what works for Inception modules.

The model is registered under timm's name ``legacy_xception``: timm's port of the Keras
reference implementation, whose weights load here with identical outputs (the module
names follow timm's, apart from the separable convs' ``conv_dw``/``conv_pw``, which
:meth:`Xception.remap_state_dict` renames from timm's ``conv1``/``pointwise``).
The ``feature_info`` taps are timm's too: the stem's last ReLU, then the ReLU that opens
the module after the last one at each resolution, so every stage's map is activated.

Deviations:
    - The two stem convs are unpadded ("valid"), as in the Keras reference and timm, which
      Fig. 5 leaves unstated: 299 -> 149 -> 147, so the map is 19x19 in the middle flow,
      as the figure says, and the smallest input is 7x7.
    - The optional fully connected layers of Fig. 5 are not provided; the paper adds them
      only for JFT. Dropout before the classifier is kept at the paper's ImageNet rate, 0.5
      (timm's default is 0; it changes nothing in eval mode).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, NamedTuple

import torch
from torch import nn

from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d
from convzoo.registry import Paper, register_model

__all__ = ["Xception", "XceptionBlock", "FlowModule", "FLOWS", "legacy_xception"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="Xception: Deep Learning with Depthwise Separable Convolutions",
    authors="François Chollet",
    venue="CVPR",
    year=2017,
    url="https://arxiv.org/abs/1610.02357",
)

DEVIATIONS = (
    "Unpadded stem convs as in the Keras reference and timm (Fig. 5 leaves it unstated; smallest input 7x7); "
    "no optional fully connected layers (the paper uses them on JFT only); dropout 0.5 before the classifier."
)


class FlowModule(NamedTuple):
    """One residual module of Fig. 5."""

    in_channels: int
    out_channels: int
    num_convs: int  # separable convs in the residual branch
    stride: int  # a 3x3 max-pool of this stride closes the branch; 1 for none
    start_with_relu: bool = True  # False only right after the stem, whose output is activated
    grow_first: bool = True  # widen in the first separable conv (True) or in the last


# Fig. 5: the entry, middle and exit flows' residual modules; shapes at 299x299 on the right.
FLOWS: dict[str, tuple[FlowModule, ...]] = {
    "entry": (
        FlowModule(64, 128, 2, 2, start_with_relu=False),  # (B, 128, 74, 74)
        FlowModule(128, 256, 2, 2),  # (B, 256, 37, 37)
        FlowModule(256, 728, 2, 2),  # (B, 728, 19, 19)
    ),
    "middle": (FlowModule(728, 728, 3, 1),) * 8,  # (B, 728, 19, 19), "repeated 8 times"
    "exit": (FlowModule(728, 1024, 2, 2, grow_first=False),),  # (B, 1024, 10, 10)
}

# timm's separable convs name their parts conv1 (depthwise) and pointwise.
_TIMM_SEPARABLE = re.compile(r"^(block\d+\.rep\.\d+|conv[34])\.(conv1|pointwise)\.")
_TIMM_PART = {"conv1": "conv_dw", "pointwise": "conv_pw"}


class XceptionBlock(nn.Module):
    """A residual module of Xception: (ReLU, separable conv, BN) units, a max-pool, and a shortcut.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        num_convs: separable 3x3 convs in the residual branch.
        stride: stride of the 3x3 max-pool that closes the branch, and of the 1x1 conv
            projecting the shortcut; 1 for no pool.
        start_with_relu: whether the branch opens with a ReLU (not after the stem, which
            already ends in one).
        grow_first: widen to ``out_channels`` in the first separable conv; otherwise in
            the last (the exit flow's module).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments. It must not work in place: the
            first one would overwrite the input the shortcut still needs.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, ceil(H / stride), ceil(W / stride))``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_convs: int,
        stride: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
    ) -> None:
        super().__init__()
        if grow_first:
            widths = [in_channels] + [out_channels] * num_convs
        else:
            widths = [in_channels] * num_convs + [out_channels]
        layers: list[nn.Module] = []
        for index, (conv_in, conv_out) in enumerate(zip(widths, widths[1:])):
            if index > 0 or start_with_relu:
                layers.append(act_layer())
            layers += [DepthwiseSeparableConv2d(conv_in, conv_out, kernel_size=3), norm_layer(conv_out)]
        if stride != 1:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=stride, padding=1))
        self.rep = nn.Sequential(*layers)

        # Registered after the branch, since it runs after it (feature taps rely on the order).
        projected = stride != 1 or in_channels != out_channels
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False) if projected else nn.Identity()
        self.skipbn = norm_layer(out_channels) if projected else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rep(x)  # (B, out_channels, H / stride, W / stride)
        out += self.skipbn(self.skip(x))  # linear residual connection
        return out


class Xception(ImageClassifier):
    """Xception: a two-conv stem, 12 residual modules of separable convs, two more separable convs, a linear layer.

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        drop_rate: dropout probability before the classifier (the paper's 0.5 on ImageNet).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments; not in place (see :class:`XceptionBlock`).

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 7``
        - Output: ``(B, num_classes)``
    """

    # Two unpadded 3x3 convs, the first with stride 2: 7 -> 3 -> 1; everything after is padded.
    min_input_size = 7

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 2048

        # Entry flow: the stem.
        self.conv1 = nn.Conv2d(in_chans, 32, kernel_size=3, stride=2, bias=False)
        self.bn1 = norm_layer(32)
        self.act1 = act_layer()
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, bias=False)
        self.bn2 = norm_layer(64)
        self.act2 = act_layer()

        # block1 .. block12: entry, middle and exit flows' residual modules.
        modules = [*FLOWS["entry"], *FLOWS["middle"], *FLOWS["exit"]]
        for index, spec in enumerate(modules, start=1):
            block = XceptionBlock(*spec, norm_layer=norm_layer, act_layer=act_layer)
            self.add_module(f"block{index}", block)

        # Exit flow: two separable convs, each followed by BN and ReLU.
        self.conv3 = DepthwiseSeparableConv2d(1024, 1536, kernel_size=3)
        self.bn3 = norm_layer(1536)
        self.act3 = act_layer()
        self.conv4 = DepthwiseSeparableConv2d(1536, self.num_features, kernel_size=3)
        self.bn4 = norm_layer(self.num_features)
        self.act4 = act_layer()

        # Stage taps as timm's: the activated stem, then the ReLU that opens the module after
        # the last one at each resolution.
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="act2"),
            dict(num_chs=128, reduction=4, module="block2.rep.0"),
            dict(num_chs=256, reduction=8, module="block3.rep.0"),
            dict(num_chs=728, reduction=16, module="block12.rep.0"),
            dict(num_chs=2048, reduction=32, module="act4"),
        ]

        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes at 299x299.
        x = self.act1(self.bn1(self.conv1(x)))  # (B, 32, 149, 149)
        x = self.act2(self.bn2(self.conv2(x)))  # (B, 64, 147, 147)
        x = self.block1(x)  # entry flow: (B, 128, 74, 74)
        x = self.block2(x)  # (B, 256, 37, 37)
        x = self.block3(x)  # (B, 728, 19, 19)
        x = self.block4(x)  # middle flow: (B, 728, 19, 19) through block11
        x = self.block5(x)
        x = self.block6(x)
        x = self.block7(x)
        x = self.block8(x)
        x = self.block9(x)
        x = self.block10(x)
        x = self.block11(x)
        x = self.block12(x)  # exit flow: (B, 1024, 10, 10)
        x = self.act3(self.bn3(self.conv3(x)))  # (B, 1536, 10, 10)
        return self.act4(self.bn4(self.conv4(x)))  # (B, 2048, 10, 10)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)  # (B, 2048)
        return x if pre_logits else self.fc(self.drop(x))  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map timm's ``legacy_xception`` keys to ours.

        Only the separable convs differ: timm's ``<sep>.conv1`` (depthwise) and
        ``<sep>.pointwise`` become ``<sep>.conv_dw`` and ``<sep>.conv_pw``, where ``<sep>``
        is ``blockN.rep.M``, ``conv3`` or ``conv4``. The stem's ``conv1`` stays.
        """
        return {
            _TIMM_SEPARABLE.sub(lambda m: f"{m.group(1)}.{_TIMM_PART[m.group(2)]}.", key): value
            for key, value in state_dict.items()
        }


@register_model(
    family="xception",
    paper=PAPER,
    input_size=(3, 299, 299),
    timm="legacy_xception",
    deviations=DEVIATIONS,
    notes={
        "imagenet_top1": 79.0,
        "imagenet_top5": 94.5,
        "paper_params": 22_855_952,
        "flows": "entry (stem + 3 modules), middle (8 modules at 728 channels), exit (1 module + 2 separable convs)",
    },
)
def legacy_xception(**kwargs: Any) -> Xception:
    """Xception (Fig. 5), timm's ``legacy_xception``: 36 conv layers, 22,855,952 parameters."""
    return Xception(**kwargs)

