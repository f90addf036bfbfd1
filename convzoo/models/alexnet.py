"""AlexNet: the deep convolutional network that won ImageNet 2012.

Paper: ImageNet Classification with Deep Convolutional Neural Networks (A. Krizhevsky,
I. Sutskever, G. E. Hinton, NeurIPS 2012)
https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html

AlexNet is LeNet's recipe (convolutions, pooling, fully connected layers) scaled up to
1.2 million 224x224 colour images and 1000 classes: five convolutional layers and three
fully connected ones, 60 million parameters. What made a network that size trainable
and accurate in 2012 (Section 3):

* ReLU units ``max(0, x)`` instead of tanh (3.1): they do not saturate, so gradients do
  not vanish and training ran several times faster;
* two GPUs (3.2): each held half of the kernels, and the halves exchanged maps only in
  some layers: conv2, conv4 and conv5 see only the maps of their own GPU, conv3 and the
  fully connected layers see all. On one device the same connectivity is a grouped
  convolution with ``groups=2``;
* local response normalisation (3.3), after the ReLUs of conv1 and conv2: each
  activation is divided by the energy of its neighbours across maps,
  ``b_i = a_i / (k + alpha * sum_j a_j^2)^beta``, the sum running over the ``n`` maps
  centred on map ``i`` (``n=5``, ``alpha=1e-4``, ``beta=0.75``, ``k=2``); a form of lateral
  inhibition, making units at one position compete;
* overlapping max-pooling (3.4): 3x3 windows with stride 2, which the paper found to
  overfit slightly less than 2x2 windows with stride 2;
* against overfitting, data augmentation (4.1) and dropout (4.2) with probability 0.5
  in the first two fully connected layers.

Two builders:

* ``alexnet``: torchvision's single-tower layout, with torchvision's state-dict keys, so
  torchvision checkpoints load unchanged (61,100,840 parameters).
* ``alexnet_2012``: the paper's network (60,965,224 parameters), with LRN, the two-GPU
  grouping as ``groups=2``, 96-256-384-384-256 maps and the paper's initialisation:
  weights from N(0, 0.01), biases 1 in conv2, conv4, conv5 and the hidden fully
  connected layers (to give the ReLUs positive inputs early on), 0 elsewhere (Section 5).

Deviations:
    ``alexnet`` follows torchvision, not the 2012 paper: 64-192-384-256-256 maps (the
    single-GPU network that torchvision attributes to Krizhevsky's "One weird trick"
    paper, arXiv:1404.5997), padding 2 in conv1, no LRN, no grouping, an adaptive
    average pool to 6x6 and dropout on the inputs of fc6 and fc7. Its initialisation is
    PyTorch's default. See ``alexnet_2012`` for the paper's network.
    ``alexnet_2012``: the paper says 224x224 inputs, but conv1 (11x11, stride 4, no
    padding) gives the paper's 55x55 maps only from 227x227, so 227 is the default size.
    An adaptive average pool to 6x6 before fc6 lets other sizes run; at 227 it is the
    identity. LRN runs across all maps of a layer; on the paper's two GPUs each half of
    the maps was normalised on its own, which differs only for the maps beside the split.
    The two GPUs are one device with grouped convolutions. Data augmentation and
    ten-crop testing belong to the training and evaluation code, not the model.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = ["AlexNet", "AlexNetPaper", "alexnet", "alexnet_2012"]

PAPER = Paper(
    title="ImageNet Classification with Deep Convolutional Neural Networks",
    authors="A. Krizhevsky, I. Sutskever, G. E. Hinton",
    venue="NeurIPS",
    year=2012,
    url="https://papers.nips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html",
)

# The paper's LRN constants. nn.LocalResponseNorm divides alpha by the window size n
# (it averages the squares in the window), while the paper multiplies the plain sum by
# alpha, so PyTorch needs alpha * n to compute the paper's formula.
LRN_SIZE = 5
LRN_ALPHA = 1e-4
LRN_BETA = 0.75
LRN_K = 2.0
# Layers whose biases the paper initialises to 1 (Section 5); all others start at 0.
_BIAS_ONE = frozenset({"conv2", "conv4", "conv5", "fc6", "fc7"})


class _AlexNetBase(ImageClassifier):
    """What both layouts share: ``features`` ends in pool5, then a 6x6 pool and ``classifier``.

    Subclasses build ``features``, ``avgpool`` and ``classifier``, whose last layer is the
    output layer.
    """

    features: nn.Sequential
    avgpool: nn.Module
    classifier: nn.Sequential

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 256, 6, 6) at the default input size

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 256 * 6 * 6)
        x = self.classifier[:-1](x)  # (B, 4096)
        return x if pre_logits else self.classifier[-1](x)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


class AlexNet(_AlexNetBase):
    """AlexNet in torchvision's layout, with torchvision's state-dict keys.

    Args:
        in_chans: channels of the input image.
        num_classes: number of outputs; 0 gives the 4096 fc7 features.
        dropout: dropout probability before fc6 and fc7.
        act_layer: activation after every conv and hidden fully connected layer.

    Shape:
        (B, in_chans, H, W) -> (B, num_classes), H and W at least 63.
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        dropout: float = 0.5,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 4096
        # pool5 needs a 3x3 input, so pool2 >= 3, pool1 >= 7 and conv1 >= 15 maps,
        # i.e. (H + 2 * 2 - 11) // 4 + 1 >= 15: H >= 63.
        self.min_input_size = 63
        # Sizes in the comments are for a 224x224 input.
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2),  # (B, 64, 55, 55)
            act_layer(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 64, 27, 27)
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # (B, 192, 27, 27)
            act_layer(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 192, 13, 13)
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # (B, 384, 13, 13)
            act_layer(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            act_layer(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # (B, 256, 13, 13)
            act_layer(),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 6, 6)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),
            act_layer(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            act_layer(),
            classifier_layer(4096, num_classes),
        )
        # Reductions are the strides accumulated up to each map.
        self.feature_info = [
            dict(num_chs=64, reduction=4, module="features.1"),
            dict(num_chs=192, reduction=8, module="features.4"),
            dict(num_chs=256, reduction=16, module="features.11"),
            dict(num_chs=256, reduction=32, module="features.12"),
        ]


class AlexNetPaper(_AlexNetBase):
    """AlexNet as in the 2012 paper: LRN, the two-GPU split as ``groups=2``, 227x227 input.

    Args:
        in_chans: channels of the input image.
        num_classes: number of outputs; 0 gives the 4096 fc7 features.
        dropout: dropout probability on the outputs of fc6 and fc7.
        act_layer: activation after every conv and hidden fully connected layer.

    Shape:
        (B, in_chans, H, W) -> (B, num_classes), H and W at least 67.
    """

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        dropout: float = 0.5,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 4096
        # pool5 needs a 3x3 input, so pool2 >= 3, pool1 >= 7 and conv1 >= 15 maps,
        # i.e. (H - 11) // 4 + 1 >= 15: H >= 67.
        self.min_input_size = 67
        # Sizes in the comments are for a 227x227 input.
        self.features = nn.Sequential(OrderedDict(
            # conv1 is split across the GPUs too, but each half sees the whole image, so
            # one ungrouped conv of 96 kernels is the same layer.
            conv1=nn.Conv2d(in_chans, 96, kernel_size=11, stride=4),  # (B, 96, 55, 55)
            relu1=act_layer(),
            norm1=self._lrn(),
            pool1=nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 96, 27, 27)
            conv2=nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),  # (B, 256, 27, 27)
            relu2=act_layer(),
            norm2=self._lrn(),
            pool2=nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 13, 13)
            conv3=nn.Conv2d(256, 384, kernel_size=3, padding=1),  # (B, 384, 13, 13), across GPUs
            relu3=act_layer(),
            conv4=nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
            relu4=act_layer(),
            conv5=nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),  # (B, 256, 13, 13)
            relu5=act_layer(),
            pool5=nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 6, 6)
        ))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))  # identity at 227x227; see Deviations
        self.classifier = nn.Sequential(OrderedDict(
            fc6=nn.Linear(256 * 6 * 6, 4096),
            relu6=act_layer(),
            drop6=nn.Dropout(dropout),
            fc7=nn.Linear(4096, 4096),
            relu7=act_layer(),
            drop7=nn.Dropout(dropout),
            fc8=classifier_layer(4096, num_classes),
        ))
        self.feature_info = [
            dict(num_chs=96, reduction=4, module="features.norm1"),
            dict(num_chs=256, reduction=8, module="features.norm2"),
            dict(num_chs=256, reduction=16, module="features.relu5"),
            dict(num_chs=256, reduction=32, module="features.pool5"),
        ]
        self._init_weights()

    @staticmethod
    def _lrn() -> nn.LocalResponseNorm:
        return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA * LRN_SIZE, beta=LRN_BETA, k=LRN_K)

    def _init_weights(self) -> None:
        for name, layer in [*self.features.named_children(), *self.classifier.named_children()]:
            self._init_layer(name, layer)

    @staticmethod
    def _init_layer(name: str, layer: nn.Module) -> None:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, mean=0.0, std=0.01)
            # Biases of 1 give the ReLUs positive inputs from the start (Section 5).
            nn.init.constant_(layer.bias, 1.0 if name in _BIAS_ONE else 0.0)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        self._init_layer("fc8", self.classifier.fc8)


@register_model(
    family="alexnet",
    paper=PAPER,
    input_size=(3, 224, 224),
    num_classes=1000,
    torchvision="alexnet",
    deviations=(
        "torchvision's single-tower layout, not the 2012 paper: 64-192-384-256-256 maps, "
        "padding 2 in conv1, no local response normalisation, no two-GPU grouping, an adaptive "
        "6x6 average pool, PyTorch's default initialisation. See alexnet_2012."
    ),
)
def alexnet(**kwargs: Any) -> AlexNet:
    """AlexNet in torchvision's layout and keys: 61,100,840 parameters at 3x224x224, 1000 classes."""
    return AlexNet(**kwargs)


@register_model(
    family="alexnet",
    paper=PAPER,
    input_size=(3, 227, 227),
    num_classes=1000,
    deviations=(
        "227x227 input: the paper says 224, but its 55x55 conv1 maps need 227. An adaptive 6x6 "
        "average pool before fc6 (the identity at 227) lets other sizes run. LRN runs across all "
        "maps, not per GPU half. The two GPUs are one device with groups=2 convolutions."
    ),
)
def alexnet_2012(**kwargs: Any) -> AlexNetPaper:
    """AlexNet as in the 2012 paper: 60,965,224 parameters at 3x227x227, 1000 classes."""
    return AlexNetPaper(**kwargs)
