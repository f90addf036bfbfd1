"""BN-Inception (Inception-v2) and Inception-v3: batch norm, and the factorised inception modules.

Papers:
    Paper: Batch Normalization: Accelerating Deep Network Training by Reducing Internal
    Covariate Shift (Sergey Ioffe, Christian Szegedy, ICML 2015) https://arxiv.org/abs/1502.03167

    Paper: Rethinking the Inception Architecture for Computer Vision (Christian Szegedy, Vincent
    Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna, CVPR 2016) https://arxiv.org/abs/1512.00567

BN-Inception is the network on which Ioffe and Szegedy showed batch normalisation: a
normalisation after every conv lets GoogLeNet train with a 30 times higher learning rate and
reach its accuracy in 14 times fewer steps. Its inception modules (the paper's Figure 5,
Appendix) differ from GoogLeNet's: the 5x5 conv becomes two stacked 3x3 convs ("double
3x3"), with up to 128 filters; there are three 28x28 modules; the pool branch averages in
some modules and takes the maximum in others; and instead of a max-pool between module
groups, modules 3c and 4e stride their 3x3 convs and pass the (max-)pooled input through
unchanged, growing the width as they shrink the grid.

Inception-v3 states the design rules behind this (Sec. 2) and takes factorisation further:
an n x n conv is replaced by a 1 x n conv followed by an n x 1 conv (Sec. 3.2, Fig. 6),
which sees the same window at 2/n of the cost; the coarsest modules split a branch into a
1x3 and a 3x1 conv side by side to widen the output (Fig. 7); and the grid shrinks inside
reduction modules whose strided conv branches run in parallel with a pool (Fig. 10), so
neither a representational bottleneck nor a wasteful expansion is needed. The network is
(Table 1): a stem of plain 3x3 convs, three 35x35 modules (Fig. 5, "A"), a reduction, four
17x17 modules with factorised 7x7 convs ("C" in torchvision), a reduction, two 8x8 modules
with split branches ("E"), average pooling, dropout and a linear layer, at 299x299 input.
One auxiliary classifier on the 17x17 grid adds its loss with weight 0.4 in training
(torchvision's reference recipe); the paper found it to act as a regulariser rather than to
speed up early training (Sec. 4).

Both networks are stacks of :class:`~convzoo.blocks.inception.InceptionBlock`. The keys of
:func:`inception_v3` follow torchvision's, except inside the mixed blocks, where a branch's
layers are one ``nn.Sequential`` (``branch7x7.0``) instead of numbered attributes
(``branch7x7_1``): :meth:`Inception3.remap_state_dict` maps torchvision's and timm's keys.

Deviations:
    BN-Inception:
    - A plain 7x7 first conv; the paper used a separable conv with depth multiplier 8
      there. The plain conv is what the widely used PyTorch port (Cadene's
      ``pretrainedmodels.bninception``, from the Caffe model of Xiong et al.) has.
    - Convs without bias (the batch norm's shift makes a bias redundant); that port has
      both, 10,016 parameters more (11,295,240 in all).
    - The pass-through max-pools of modules 3c and 4e pad by 1, so that they line up with
      the strided 3x3 convs beside them at any input size; that port rounds up instead
      (ceil mode, no padding), which agrees in size only on even grids.
    - Global average pooling adapts to the input size (the port pools 7x7 windows); no
      dropout (the paper removed it, Sec. 4.2.1).
    Inception-v3:
    - torchvision's structure: batch norm eps 1e-3, the auxiliary head pools 5x5 with
      stride 3 and needs a 17x17 grid, i.e. an input of at least 299x299 in training mode
      (:attr:`Inception3.aux_min_input_size`); the paper's head also has batch norm in its
      fully connected layer.
    - ``transform_input`` (off by default) maps ImageNet-normalised inputs to the [-1, 1]
      scaling of the ported Google weights, as torchvision does for its pretrained model.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any, Callable, Literal, Mapping, NamedTuple

import torch
import torch.fx
from torch import nn

from convzoo.blocks.inception import ConvBnAct, InceptionBlock
from convzoo.models._classifier import AuxLogits, ImageClassifier, check_image_input, classifier_layer
from convzoo.models.googlenet import imagenet_to_inception
from convzoo.registry import Paper, register_model

__all__ = [
    "BNInception", "BNInceptionRow", "FIGURE_5", "Inception3", "InceptionV3Aux",
    "bninception", "inception_v3",
]

LayerFactory = Callable[..., nn.Module]

# The input check stays one node when torch.fx traces forward (as in _classifier, for this module's globals).
torch.fx.wrap("check_image_input")

BN_PAPER = Paper(
    title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    authors="Sergey Ioffe, Christian Szegedy",
    venue="ICML",
    year=2015,
    url="https://arxiv.org/abs/1502.03167",
)

V3_PAPER = Paper(
    title="Rethinking the Inception Architecture for Computer Vision",
    authors="Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna",
    venue="CVPR",
    year=2016,
    url="https://arxiv.org/abs/1512.00567",
)

BN_DEVIATIONS = (
    "Plain 7x7 first conv (as the Cadene/Caffe port), not the paper's separable conv with depth multiplier 8; "
    "bias-free convs; the pass-through max-pools of 3c/4e pad by 1 to line up with the strided convs."
)
V3_DEVIATIONS = (
    "torchvision's structure: BN eps 1e-3; the auxiliary head (5x5/3 average pool, no BN in its linear layer) "
    "needs 299x299 input in training mode."
)


# ------------------------------------------------------------------------------------------
# BN-Inception


class BNInceptionRow(NamedTuple):
    """A row of the paper's Figure 5: the widths of an inception module's branches.

    ``ch1x1 = 0`` means no 1x1 branch; ``pool_proj = 0`` a pool that passes its input through.
    """

    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch3x3dblred: int
    ch3x3dbl: int
    pool: Literal["avg", "max"]
    pool_proj: int
    stride: int = 1


# Figure 5 of Ioffe and Szegedy (2015), Appendix.
#                            #1x1  #3x3 red  #3x3  dbl red  dbl #3x3  pool  proj  stride     output
FIGURE_5: dict[str, BNInceptionRow] = {
    "inception3a": BNInceptionRow(64, 64, 64, 64, 96, "avg", 32),  # 28x28x256
    "inception3b": BNInceptionRow(64, 64, 96, 64, 96, "avg", 64),  # 28x28x320
    "inception3c": BNInceptionRow(0, 128, 160, 64, 96, "max", 0, stride=2),  # 14x14x576
    "inception4a": BNInceptionRow(224, 64, 96, 96, 128, "avg", 128),  # 14x14x576
    "inception4b": BNInceptionRow(192, 96, 128, 96, 128, "avg", 128),  # 14x14x576
    "inception4c": BNInceptionRow(160, 128, 160, 128, 160, "avg", 128),  # 14x14x608 (the table prints 576)
    "inception4d": BNInceptionRow(96, 128, 192, 160, 192, "avg", 128),  # 14x14x608
    "inception4e": BNInceptionRow(0, 128, 192, 192, 256, "max", 0, stride=2),  # 7x7x1056
    "inception5a": BNInceptionRow(352, 192, 320, 160, 224, "avg", 128),  # 7x7x1024
    "inception5b": BNInceptionRow(352, 192, 320, 192, 224, "max", 128),  # 7x7x1024
}


def bn_inception_block(in_channels: int, row: BNInceptionRow, conv: LayerFactory) -> InceptionBlock:
    """A BN-Inception module from a row of :data:`FIGURE_5`."""
    s = row.stride
    branches: dict[str, Any] = {}
    if row.ch1x1:
        branches["branch1x1"] = conv(in_channels, row.ch1x1, kernel_size=1)
    branches["branch3x3"] = [
        conv(in_channels, row.ch3x3red, kernel_size=1),
        conv(row.ch3x3red, row.ch3x3, kernel_size=3, stride=s, padding=1),
    ]
    # The 5x5 conv of GoogLeNet, factorised into two 3x3 convs.
    branches["branch3x3dbl"] = [
        conv(in_channels, row.ch3x3dblred, kernel_size=1),
        conv(row.ch3x3dblred, row.ch3x3dbl, kernel_size=3, padding=1),
        conv(row.ch3x3dbl, row.ch3x3dbl, kernel_size=3, stride=s, padding=1),
    ]
    if row.pool == "avg":
        pool: nn.Module = nn.AvgPool2d(3, stride=1, padding=1)
    else:
        pool = nn.MaxPool2d(3, stride=s, padding=1)
    branches["branch_pool"] = [pool, conv(in_channels, row.pool_proj, kernel_size=1)] if row.pool_proj else pool
    return InceptionBlock(in_channels, branches)


class BNInception(ImageClassifier):
    """BN-Inception: GoogLeNet with batch norm and double-3x3 branches (Ioffe and Szegedy 2015, Figure 5).

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        drop_rate: dropout before the last layer (none in the paper).
        norm_layer: builds the norm of every conv unit from a channel count.
        act_layer: builds the activation of every conv unit.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 7``
        - Output: ``(B, num_classes)``
    """

    # conv1 (stride 2) and two ceil-mode max-pools, then only padded layers: 7x7 leaves a 1x1 map, 6x6 empties
    # the second max-pool.
    min_input_size = 7

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        conv = partial(ConvBnAct, norm_layer=norm_layer, act_layer=act_layer)

        # Stem: 7x7/2 conv, 3x3/2 max-pool, 1x1 reduction and 3x3 conv, 3x3/2 max-pool.
        self.conv1 = conv(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2_reduce = conv(64, 64, kernel_size=1)
        self.conv2 = conv(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        in_channels = 192
        for name, row in FIGURE_5.items():
            block = bn_inception_block(in_channels, row, conv)
            self.add_module(name, block)
            in_channels = block.out_channels

        self.num_features = in_channels
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="conv1"),
            dict(num_chs=192, reduction=4, module="conv2"),
            dict(num_chs=320, reduction=8, module="inception3b"),
            dict(num_chs=608, reduction=16, module="inception4d"),
            dict(num_chs=1024, reduction=32, module="inception5b"),
        ]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = classifier_layer(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes at 224x224.
        x = self.maxpool1(self.conv1(x))  # (B, 64, 56, 56)
        x = self.maxpool2(self.conv2(self.conv2_reduce(x)))  # (B, 192, 28, 28)
        x = self.inception3b(self.inception3a(x))  # (B, 320, 28, 28)
        x = self.inception3c(x)  # (B, 576, 14, 14)
        x = self.inception4b(self.inception4a(x))  # (B, 576, 14, 14)
        x = self.inception4d(self.inception4c(x))  # (B, 608, 14, 14)
        x = self.inception4e(x)  # (B, 1056, 7, 7)
        return self.inception5b(self.inception5a(x))  # (B, 1024, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # (B, 1024)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)


# ------------------------------------------------------------------------------------------
# Inception-v3


def _split(conv: LayerFactory, in_channels: int, out_channels: int) -> InceptionBlock:
    """A 1x3 and a 3x1 conv side by side, concatenated (paper Fig. 7): twice ``out_channels`` wide."""
    return InceptionBlock(in_channels, {
        "a": conv(in_channels, out_channels, kernel_size=(1, 3), padding=(0, 1)),
        "b": conv(in_channels, out_channels, kernel_size=(3, 1), padding=(1, 0)),
    })


def _avg_pool_proj(conv: LayerFactory, in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.AvgPool2d(3, stride=1, padding=1), conv(in_channels, out_channels, kernel_size=1)]


def inception_v3_a(in_channels: int, pool_features: int, conv: LayerFactory) -> InceptionBlock:
    """35x35 module (Fig. 5): 1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3; avg pool -> 1x1."""
    return InceptionBlock(in_channels, {
        "branch1x1": conv(in_channels, 64, kernel_size=1),
        "branch5x5": [conv(in_channels, 48, kernel_size=1), conv(48, 64, kernel_size=5, padding=2)],
        "branch3x3dbl": [
            conv(in_channels, 64, kernel_size=1),
            conv(64, 96, kernel_size=3, padding=1),
            conv(96, 96, kernel_size=3, padding=1),
        ],
        "branch_pool": _avg_pool_proj(conv, in_channels, pool_features),
    })


def inception_v3_b(in_channels: int, conv: LayerFactory) -> InceptionBlock:
    """Reduction 35 -> 17 (Fig. 10): strided 3x3; 1x1 -> 3x3 -> strided 3x3; max pool."""
    return InceptionBlock(in_channels, {
        "branch3x3": conv(in_channels, 384, kernel_size=3, stride=2),
        "branch3x3dbl": [
            conv(in_channels, 64, kernel_size=1),
            conv(64, 96, kernel_size=3, padding=1),
            conv(96, 96, kernel_size=3, stride=2),
        ],
        "branch_pool": nn.MaxPool2d(3, stride=2),
    })


def inception_v3_c(in_channels: int, channels_7x7: int, conv: LayerFactory) -> InceptionBlock:
    """17x17 module (Fig. 6): 7x7 convs factorised into 1x7 and 7x1 pairs."""
    c7 = channels_7x7
    return InceptionBlock(in_channels, {
        "branch1x1": conv(in_channels, 192, kernel_size=1),
        "branch7x7": [
            conv(in_channels, c7, kernel_size=1),
            conv(c7, c7, kernel_size=(1, 7), padding=(0, 3)),
            conv(c7, 192, kernel_size=(7, 1), padding=(3, 0)),
        ],
        "branch7x7dbl": [
            conv(in_channels, c7, kernel_size=1),
            conv(c7, c7, kernel_size=(7, 1), padding=(3, 0)),
            conv(c7, c7, kernel_size=(1, 7), padding=(0, 3)),
            conv(c7, c7, kernel_size=(7, 1), padding=(3, 0)),
            conv(c7, 192, kernel_size=(1, 7), padding=(0, 3)),
        ],
        "branch_pool": _avg_pool_proj(conv, in_channels, 192),
    })


def inception_v3_d(in_channels: int, conv: LayerFactory) -> InceptionBlock:
    """Reduction 17 -> 8: 1x1 -> strided 3x3; 1x1 -> 1x7 -> 7x1 -> strided 3x3; max pool."""
    return InceptionBlock(in_channels, {
        "branch3x3": [conv(in_channels, 192, kernel_size=1), conv(192, 320, kernel_size=3, stride=2)],
        "branch7x7x3": [
            conv(in_channels, 192, kernel_size=1),
            conv(192, 192, kernel_size=(1, 7), padding=(0, 3)),
            conv(192, 192, kernel_size=(7, 1), padding=(3, 0)),
            conv(192, 192, kernel_size=3, stride=2),
        ],
        "branch_pool": nn.MaxPool2d(3, stride=2),
    })


def inception_v3_e(in_channels: int, conv: LayerFactory) -> InceptionBlock:
    """8x8 module (Fig. 7): the 3x3 branches end in a 1x3 and a 3x1 conv side by side."""
    return InceptionBlock(in_channels, {
        "branch1x1": conv(in_channels, 320, kernel_size=1),
        "branch3x3": [conv(in_channels, 384, kernel_size=1), _split(conv, 384, 384)],
        "branch3x3dbl": [
            conv(in_channels, 448, kernel_size=1),
            conv(448, 384, kernel_size=3, padding=1),
            _split(conv, 384, 384),
        ],
        "branch_pool": _avg_pool_proj(conv, in_channels, 192),
    })


class InceptionV3Aux(nn.Module):
    """Inception-v3's auxiliary classifier on the 17x17 grid: 5x5/3 average pool, 1x1 conv, 5x5 conv, linear.

    Args:
        in_channels: channels of the feature map it reads (768).
        num_classes: outputs; 0 for the 768 pooled features.
        conv: builds the conv unit.

    Shape:
        - Input: ``(B, in_channels, H, W)``, ``H, W >= 7``
        - Output: ``(B, num_classes)``
    """

    def __init__(self, in_channels: int, num_classes: int, conv: LayerFactory = ConvBnAct) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv0 = conv(in_channels, 128, kernel_size=1)
        self.conv1 = conv(128, 768, kernel_size=5)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = classifier_layer(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))  # (B, 768, 1, 1) from (B, 768, 17, 17)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, num_classes)


# torchvision numbers a branch's layers as attributes from 1 (`branch7x7_2`) and names the split
# halves `_2a`/`_2b`; here they are the branch Sequential's items from 0 and the split's `a`/`b`.
_NUMBERED_LAYER = re.compile(r"^(Mixed_\w+?\.branch[0-9a-z]+)_(\d)([ab]?)\.")
_POOL_PROJ = re.compile(r"^(Mixed_\w+?\.branch_pool)\.(conv|bn)\.")


def _remap_v3_key(key: str) -> str:
    match = _NUMBERED_LAYER.match(key)
    if match:
        prefix, number, half = match.groups()
        new = f"{prefix}.{int(number) - 1}." + (f"{half}." if half else "")
        return new + key[match.end():]
    return _POOL_PROJ.sub(r"\1.1.\2.", key)


class Inception3(ImageClassifier):
    """Inception-v3 (paper Table 1): stem, 3 + 1 + 4 + 1 + 2 inception modules, average pool, linear layer.

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        aux_logits: build the auxiliary classifier (run in training mode only).
        transform_input: re-normalise ImageNet-normalised RGB input as torchvision's
            pretrained Inception-v3 expects; needs ``in_chans=3``.
        drop_rate: dropout before the last layer.
        norm_layer: builds the norm of every conv unit from a channel count.
        act_layer: builds the activation of every conv unit.

    Attributes:
        aux_loss_weight: weight of the auxiliary loss in the training loss (0.4).
        aux_min_input_size: smallest input side in training mode with the auxiliary head (299).
        aux_head_names: names of the submodules that run in training mode only.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 75`` (``>= 299`` in training mode with ``aux_logits``)
        - Output: ``(B, num_classes)``; in training mode with ``aux_logits``,
          ``AuxLogits(logits, aux=(aux,))``.
    """

    # Three valid 3x3 convs (one strided) and four stride-2 valid reductions: 75x75 leaves a 1x1 map.
    min_input_size = 75
    # The auxiliary head's 5x5/3 pool and valid 5x5 conv need a 17x17 grid, which needs 299x299 input.
    aux_min_input_size = 299
    # The auxiliary loss weight of torchvision's reference training script.
    aux_loss_weight = 0.4

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        drop_rate: float = 0.5,
        norm_layer: LayerFactory = partial(nn.BatchNorm2d, eps=1e-3),
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if transform_input and in_chans != 3:
            raise ValueError(f"transform_input re-normalises RGB images and needs in_chans=3, got {in_chans}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        # The submodules that run in training mode only.
        self.aux_head_names: tuple[str, ...] = ("AuxLogits",) if aux_logits else ()
        self.transform_input = transform_input
        conv = partial(ConvBnAct, norm_layer=norm_layer, act_layer=act_layer)

        # Stem (Table 1): plain 3x3 convs, unpadded but for 2b.
        self.Conv2d_1a_3x3 = conv(in_chans, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)

        self.Mixed_5b = inception_v3_a(192, pool_features=32, conv=conv)  # 35x35x256
        self.Mixed_5c = inception_v3_a(256, pool_features=64, conv=conv)  # 35x35x288
        self.Mixed_5d = inception_v3_a(288, pool_features=64, conv=conv)  # 35x35x288
        self.Mixed_6a = inception_v3_b(288, conv)  # 17x17x768
        self.Mixed_6b = inception_v3_c(768, channels_7x7=128, conv=conv)
        self.Mixed_6c = inception_v3_c(768, channels_7x7=160, conv=conv)
        self.Mixed_6d = inception_v3_c(768, channels_7x7=160, conv=conv)
        self.Mixed_6e = inception_v3_c(768, channels_7x7=192, conv=conv)  # 17x17x768
        # Registered where it runs, on the output of Mixed_6e.
        self.AuxLogits = InceptionV3Aux(768, num_classes, conv) if aux_logits else None
        self.Mixed_7a = inception_v3_d(768, conv)  # 8x8x1280
        self.Mixed_7b = inception_v3_e(1280, conv)  # 8x8x2048
        self.Mixed_7c = inception_v3_e(2048, conv)  # 8x8x2048

        self.num_features = 2048
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="Conv2d_2b_3x3"),
            dict(num_chs=192, reduction=4, module="Conv2d_4a_3x3"),
            dict(num_chs=288, reduction=8, module="Mixed_5d"),
            dict(num_chs=768, reduction=16, module="Mixed_6e"),
            dict(num_chs=2048, reduction=32, module="Mixed_7c"),
        ]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: truncated normal, std 0.1, and smaller in the auxiliary head.
        small = {}
        if self.AuxLogits is not None:
            small = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=small.get(id(module), 0.1), a=-2, b=2)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _features(self, x: torch.Tensor, aux: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The feature map; appends the auxiliary head's logits to ``aux`` when it is a list."""
        if self.transform_input:
            x = imagenet_to_inception(x)
        # Shapes at 299x299.
        x = self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))  # (B, 32, 147, 147)
        x = self.maxpool1(self.Conv2d_2b_3x3(x))  # (B, 64, 73, 73)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # (B, 192, 71, 71)
        x = self.maxpool2(x)  # (B, 192, 35, 35)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # (B, 288, 35, 35)
        x = self.Mixed_6a(x)  # (B, 768, 17, 17)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # (B, 768, 17, 17)
        if aux is not None:
            aux.append(self.AuxLogits(x))
        x = self.Mixed_7a(x)  # (B, 1280, 8, 8)
        return self.Mixed_7c(self.Mixed_7b(x))  # (B, 2048, 8, 8)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # (B, 2048)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxLogits:
        name = type(self).__name__
        check_image_input(x, self.in_chans, self.min_input_size, self.fixed_input_size, name)
        if self.training and self.aux_logits:
            check_image_input(x, self.in_chans, self.aux_min_input_size, None, f"{name} with its auxiliary head")
            aux: list[torch.Tensor] = []
            logits = self.forward_head(self._features(x, aux))
            return AuxLogits(logits, tuple(aux))
        return self.forward_head(self._features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the main classifier and the auxiliary head's last layer, both for ``num_classes``."""
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)
        if self.AuxLogits is not None:
            self.AuxLogits.fc = classifier_layer(768, num_classes)

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map torchvision's (and timm's, the same) Inception-v3 keys to ours.

        Inside the mixed blocks: ``branch7x7dbl_3`` -> ``branch7x7dbl.2``, ``branch3x3_2a`` ->
        ``branch3x3.1.a``, and ``branch_pool.conv``, ``.bn`` -> ``branch_pool.1.conv``, ``.1.bn`` (our pool branch
        is a Sequential of the average pool and the conv). Other keys are the same.
        """
        return {_remap_v3_key(key): value for key, value in state_dict.items()}


@register_model(
    family="inception", paper=BN_PAPER, deviations=BN_DEVIATIONS,
    notes={
        "paper_top5_error": "4.9% (ILSVRC 2012 validation, ensemble of 6 networks, 144 crops; 4.82% on test)",
        "paper_top1_accuracy": "72.7% (BN-Baseline) to 74.8% (BN-x30), single network, validation (Fig. 3)",
        "also_called": "Inception-v2",
        "cadene_pretrainedmodels_params": 11_295_240,
    },
)
def bninception(**kwargs: Any) -> BNInception:
    """BN-Inception (Inception-v2) after Figure 5 of Ioffe and Szegedy (2015), 11.3M parameters."""
    return BNInception(**kwargs)


@register_model(
    family="inception", paper=V3_PAPER, input_size=(3, 299, 299), torchvision="inception_v3", timm="inception_v3",
    deviations=V3_DEVIATIONS,
    notes={
        "paper_top1_error": "21.2% / top-5 5.6% (single model, single crop, ILSVRC 2012 validation, 299x299)",
        "aux_loss_weight": 0.4,
        "torchvision_acc@1": 77.294,
    },
)
def inception_v3(**kwargs: Any) -> Inception3:
    """Inception-v3 with its auxiliary classifier, 27.2M parameters (23.8M without aux)."""
    return Inception3(**kwargs)
