"""GoogLeNet (Inception-v1): a 22-layer network of inception modules, with two auxiliary classifiers.

Paper: Going Deeper with Convolutions (Christian Szegedy, Wei Liu, Yangqing Jia, Pierre
Sermanet, Scott Reed, Dragomir Anguelov, Dumitru Erhan, Vincent Vanhoucke, Andrew
Rabinovich, CVPR 2015) https://arxiv.org/abs/1409.4842

GoogLeNet won ILSVRC 2014 with 12 times fewer parameters than AlexNet. Its building block,
the inception module (:mod:`convzoo.blocks.inception`), runs 1x1, 3x3 and 5x5 convs and a
max-pool in parallel and concatenates them; 1x1 convs reduce the channels before the large
kernels, so nine such modules stack to 22 layers at 1.5 GMACs. A global average pool
replaces the large fully connected layers of AlexNet and VGG, which hold most of their
weights.

The network (Table 1) is a conventional stem (7x7 conv, pool, 1x1 and 3x3 convs, pool),
then inception modules 3a-3b at 28x28, 4a-4e at 14x14 and 5a-5b at 7x7 with max-pools
between the groups, then average pooling, dropout (40% in the paper) and a linear layer.

To help the gradient reach the middle of such a deep network, two auxiliary classifiers
sit on the outputs of 4a and 4d (Sec. 5): each is an average pool to 4x4, a 1x1 conv to
128 channels, a 1024-unit fully connected layer with dropout 0.7 and a linear classifier.
Their losses are added to the main loss with weight 0.3 during training
(:attr:`GoogLeNet.aux_loss_weight`); at inference they are discarded. Here they run only in
training mode, where ``forward`` returns :class:`~convzoo.models._classifier.AuxLogits`.

Deviations:
    - Batch norm (eps 1e-3) after every conv, as in torchvision's GoogLeNet; the paper
      predates batch norm and used local response normalisation after the first two convs.
    - The "5x5" branch uses a 3x3 conv, as in torchvision (whose ported weights have 3x3
      kernels there); the paper's Table 1 has 5x5.
    - The auxiliary heads pool adaptively to 4x4 (torchvision) where the paper uses a 5x5
      average pool of stride 3 (4x4 only at 224x224 input); dropout 0.2 before the main
      classifier (torchvision), 0.4 in the paper; max-pools round up (ceil mode), as in
      torchvision and the original Caffe model.
    - ``transform_input`` (off by default) maps ImageNet-normalised inputs to the [-1, 1]
      scaling of the ported Google weights, as torchvision does for its pretrained model.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.fx
from torch import nn

from convzoo.blocks.inception import ConvBnAct, InceptionBlock
from convzoo.models._classifier import AuxLogits, ImageClassifier, check_image_input, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["GoogLeNet", "GoogLeNetAux", "TABLE_1", "googlenet", "inception_v1_block", "imagenet_to_inception"]

LayerFactory = Callable[..., nn.Module]

# The input check stays one node when torch.fx traces forward (as in _classifier, for this module's globals).
torch.fx.wrap("check_image_input")

PAPER = Paper(
    title="Going Deeper with Convolutions",
    authors=(
        "Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
        "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich"
    ),
    venue="CVPR",
    year=2015,
    url="https://arxiv.org/abs/1409.4842",
)

DEVIATIONS = (
    "Batch norm after every conv and a 3x3 conv in the '5x5' branch (torchvision); auxiliary heads pool "
    "adaptively to 4x4; main dropout 0.2 (torchvision) instead of 0.4; no local response normalisation."
)

# Table 1 of the paper: the inception modules and the widths of their branches.
#        name:         (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
TABLE_1: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),  # 28x28x256
    "inception3b": (128, 128, 192, 32, 96, 64),  # 28x28x480
    "inception4a": (192, 96, 208, 16, 48, 64),  # 14x14x512
    "inception4b": (160, 112, 224, 24, 64, 64),  # 14x14x512
    "inception4c": (128, 128, 256, 24, 64, 64),  # 14x14x512
    "inception4d": (112, 144, 288, 32, 64, 64),  # 14x14x528
    "inception4e": (256, 160, 320, 32, 128, 128),  # 14x14x832
    "inception5a": (256, 160, 320, 32, 128, 128),  # 7x7x832
    "inception5b": (384, 192, 384, 48, 128, 128),  # 7x7x1024
}

# ImageNet mean and std, which torchvision's normalisation uses, and the [-1, 1] scaling
# ((x - 0.5) / 0.5) that Google's ported weights expect.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_to_inception(x: torch.Tensor) -> torch.Tensor:
    """Re-normalise an ImageNet-normalised RGB batch to the [-1, 1] scaling of Google's Inception weights."""
    scale = torch.tensor([s / 0.5 for s in _IMAGENET_STD], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    shift = torch.tensor([(m - 0.5) / 0.5 for m in _IMAGENET_MEAN], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x * scale + shift


def inception_v1_block(
    in_channels: int, widths: tuple[int, int, int, int, int, int], conv: LayerFactory = ConvBnAct
) -> InceptionBlock:
    """GoogLeNet's inception module (Fig. 2b) from a row of :data:`TABLE_1`; keys as torchvision's."""
    ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj = widths
    return InceptionBlock(in_channels, {
        "branch1": conv(in_channels, ch1x1, kernel_size=1),
        "branch2": [conv(in_channels, ch3x3red, kernel_size=1), conv(ch3x3red, ch3x3, kernel_size=3, padding=1)],
        # 3x3, not the paper's 5x5: see Deviations.
        "branch3": [conv(in_channels, ch5x5red, kernel_size=1), conv(ch5x5red, ch5x5, kernel_size=3, padding=1)],
        "branch4": [
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv(in_channels, pool_proj, kernel_size=1),
        ],
    })


class GoogLeNetAux(nn.Module):
    """An auxiliary classifier of GoogLeNet (Sec. 5): pool to 4x4, 1x1 conv, two fully connected layers.

    Args:
        in_channels: channels of the feature map it reads.
        num_classes: outputs; 0 for the 1024 hidden features.
        conv: builds the conv unit.
        drop_rate: dropout after the hidden layer (0.7 in the paper).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """

    def __init__(self, in_channels: int, num_classes: int, conv: LayerFactory = ConvBnAct, drop_rate: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = conv(in_channels, 128, kernel_size=1)
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.fc2 = classifier_layer(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.pool(x))  # (B, 128, 4, 4)
        x = self.dropout(self.act(self.fc1(self.flatten(x))))  # (B, 1024)
        return self.fc2(x)  # (B, num_classes)


class GoogLeNet(ImageClassifier):
    """GoogLeNet: stem, nine inception modules in three groups, average pool, dropout, linear layer.

    Args:
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        aux_logits: build the two auxiliary classifiers (run in training mode only).
        transform_input: re-normalise ImageNet-normalised RGB input as torchvision's
            pretrained GoogLeNet expects (:func:`imagenet_to_inception`); needs ``in_chans=3``.
        drop_rate: dropout before the last layer.
        aux_drop_rate: dropout in the auxiliary classifiers.
        norm_layer: builds the norm of every conv unit from a channel count.
        act_layer: builds the activation of every conv unit.

    Attributes:
        aux_loss_weight: weight of each auxiliary loss in the training loss (0.3).
        aux_head_names: names of the submodules that run in training mode only.

    Shape:
        - Input: ``(B, in_chans, H, W)``, ``H, W >= 15``
        - Output: ``(B, num_classes)``; in training mode with ``aux_logits``,
          ``AuxLogits(logits, aux=(aux1, aux2))``, each ``(B, num_classes)``.
    """

    # conv1 (stride 2) and four ceil-mode max-pools: 15x15 leaves a 1x1 map, 14x14 empties a pool (torchvision's
    # `min_size` is 15 too).
    min_input_size = 15
    # Each auxiliary loss is added with this weight (Sec. 5).
    aux_loss_weight = 0.3

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        drop_rate: float = 0.2,
        aux_drop_rate: float = 0.7,
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
        self.aux_head_names: tuple[str, ...] = ("aux1", "aux2") if aux_logits else ()
        self.transform_input = transform_input
        conv = partial(ConvBnAct, norm_layer=norm_layer, act_layer=act_layer)

        # Stem.
        self.conv1 = conv(in_chans, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv(64, 64, kernel_size=1)
        self.conv3 = conv(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception3a = inception_v1_block(192, TABLE_1["inception3a"], conv)
        self.inception3b = inception_v1_block(256, TABLE_1["inception3b"], conv)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        # The auxiliary heads are registered where they run: after 4a and after 4d.
        self.inception4a = inception_v1_block(480, TABLE_1["inception4a"], conv)
        self.aux1 = GoogLeNetAux(512, num_classes, conv, aux_drop_rate) if aux_logits else None
        self.inception4b = inception_v1_block(512, TABLE_1["inception4b"], conv)
        self.inception4c = inception_v1_block(512, TABLE_1["inception4c"], conv)
        self.inception4d = inception_v1_block(512, TABLE_1["inception4d"], conv)
        self.aux2 = GoogLeNetAux(528, num_classes, conv, aux_drop_rate) if aux_logits else None
        self.inception4e = inception_v1_block(528, TABLE_1["inception4e"], conv)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = inception_v1_block(832, TABLE_1["inception5a"], conv)
        self.inception5b = inception_v1_block(832, TABLE_1["inception5b"], conv)

        self.num_features = 1024
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="conv1"),
            dict(num_chs=192, reduction=4, module="conv3"),
            dict(num_chs=480, reduction=8, module="inception3b"),
            dict(num_chs=832, reduction=16, module="inception4e"),
            dict(num_chs=1024, reduction=32, module="inception5b"),
        ]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: truncated normal, std 0.01, for convs and linear layers.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _features(self, x: torch.Tensor, aux: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The feature map; appends the auxiliary heads' logits to ``aux`` when it is a list."""
        if self.transform_input:
            x = imagenet_to_inception(x)
        # Shapes at 224x224.
        x = self.maxpool1(self.conv1(x))  # (B, 64, 56, 56)
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (B, 192, 28, 28)
        x = self.inception3b(self.inception3a(x))  # (B, 480, 28, 28)
        x = self.inception4a(self.maxpool3(x))  # (B, 512, 14, 14)
        if aux is not None:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (B, 528, 14, 14)
        if aux is not None:
            aux.append(self.aux2(x))
        x = self.maxpool4(self.inception4e(x))  # (B, 832, 7, 7)
        return self.inception5b(self.inception5a(x))  # (B, 1024, 7, 7)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))  # (B, 1024)
        return x if pre_logits else self.fc(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxLogits:
        check_image_input(x, self.in_chans, self.min_input_size, self.fixed_input_size, type(self).__name__)
        if self.training and self.aux_logits:
            aux: list[torch.Tensor] = []
            logits = self.forward_head(self._features(x, aux))
            return AuxLogits(logits, tuple(aux))  # aux1 (after 4a), aux2 (after 4d)
        return self.forward_head(self._features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the main classifier and the auxiliary heads' last layers, all for ``num_classes``."""
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)
        for head in (self.aux1, self.aux2):
            if head is not None:
                head.fc2 = classifier_layer(1024, num_classes)


@register_model(
    family="inception", paper=PAPER, torchvision="googlenet", deviations=DEVIATIONS,
    notes={
        "paper_top5_error": "6.67% (ILSVRC 2014 test, ensemble of 7 models, 144 crops); 10.07% single model, 1 crop",
        "aux_loss_weight": 0.3,
        "torchvision_acc@1": 69.778,
    },
)
def googlenet(**kwargs: Any) -> GoogLeNet:
    """GoogLeNet (Inception-v1) with batch norm and both auxiliary classifiers, 13.0M parameters (6.6M without aux)."""
    return GoogLeNet(**kwargs)
