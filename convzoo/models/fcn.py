"""FCN: fully convolutional networks for semantic segmentation.

Paper: Fully Convolutional Networks for Semantic Segmentation (Jonathan Long, Evan
Shelhamer, Trevor Darrell, CVPR 2015) https://arxiv.org/abs/1411.4038; extended in the
PAMI 2017 version (Evan Shelhamer, Jonathan Long, Trevor Darrell)
https://arxiv.org/abs/1605.06211

A classifier's fully connected layers are convolutions whose kernels cover their whole
input (Sec. 3.1): VGG-16's fc6 is a 7x7 conv over the 7x7 pool5 map, fc7 a 1x1 conv. Cast
that way, the network takes an image of any size and returns a coarse map of class
scores, one per 32x32 block of pixels, in one pass. FCN adds three things:

- ``score_fr``, a 1x1 conv from fc7 to one score per class;
- in-network upsampling by transposed ("backwards strided", Sec. 3.3) convolutions,
  initialised to bilinear interpolation: FCN-32s upsamples the scores 32x in one step;
- skips (Sec. 4.2): finer predictions made by 1x1 convs on pool4 (FCN-16s) and on pool3
  too (FCN-8s) are added to the 2x upsampled coarser ones, "combining what and where".

The first conv pads by 100 pixels, so that even a small image leaves pool5 at least 7x7
for fc6; the crops after each upsampling (offsets 19; 5 and 27; 5, 9 and 31, those of the
reference Caffe nets) undo the padding, so the output has the input's height and width
for any input size. Pools round up, as Caffe's do, which those offsets assume.

Initialisation follows the paper: the score layers start at zero (Sec. 4.3: random
initialisation gave neither better results nor faster convergence), every upsampling at
bilinear interpolation; the final upsampling stays fixed while the 2x ones are learned.
The backbone comes from a VGG-16 classifier (:func:`fcn_from_vgg16`). The upsampling
layers hold full ``(K, K, k, k)`` kernels, as the Caffe nets' do, though only the diagonal
is non-zero at the start: the fixed 64x64 kernel of FCN-32s alone is 1.8M of its 136.2M
parameters. The 134M that Table 1 of the paper gives for FCN-VGG16 matches the learned
ones (134.3M for FCN-32s at 21 classes).

``fcn_resnet50`` and ``fcn_resnet101`` are torchvision's FCNs, the same idea on a newer
backbone: a ResNet whose last two stages dilate instead of striding (output stride 8),
a head of a 3x3 conv, batch norm, ReLU, dropout and a 1x1 conv, and a bilinear
upsampling to the input size. torchvision's weights load with identical outputs.

Deviations:
    - ``at_once=True`` scales pool4 by 0.01 and pool3 by 0.0001 before their score layers,
      as the reference "at-once" FCN-8s of the PAMI version does to train all skips
      together; the default (``False``) is the CVPR paper's nets, trained in stages
      (FCN-32s, then FCN-16s, then FCN-8s), which have no such scaling.
    - Without a VGG-16 checkpoint the convs start as convzoo's VGG-16 does (He normal, and
      N(0, 0.01) for fc6/fc7); the paper always starts from the trained classifier.
    - ``fcn_resnet50/101`` are torchvision's design (dilated ResNet, FCNHead, auxiliary
      head on layer3 with ``aux_loss=True``, bilinear upsampling), not the paper's, and
      return torchvision's ``{"out": ..., "aux": ...}``; the VGG nets return the scores.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.blocks.residual import BasicBlock, Bottleneck
from convzoo.models._classifier import check_image_input
from convzoo.models.resnet import TABLE_1 as RESNET_TABLE_1
from convzoo.models.resnet import ResNet
from convzoo.models.vgg import STAGE_WIDTHS, TABLE_1 as VGG_TABLE_1
from convzoo.models.vgg import VGG
from convzoo.registry import Paper, register_model

__all__ = [
    "FCN", "FCNHead", "FCNResNet", "bilinear_kernel", "fcn_from_vgg16",
    "fcn32s", "fcn16s", "fcn8s", "fcn_resnet50", "fcn_resnet101",
]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="Fully Convolutional Networks for Semantic Segmentation",
    authors="Jonathan Long, Evan Shelhamer, Trevor Darrell",
    venue="CVPR",
    year=2015,
    url="https://arxiv.org/abs/1411.4038",
)

DEVIATIONS = (
    "at_once=True scales pool4/pool3 by 0.01/0.0001 as the PAMI at-once FCN-8s (default off, the CVPR staged nets); "
    "without a VGG-16 checkpoint (fcn_from_vgg16) the convs start from convzoo's VGG-16 initialisation."
)
RESNET_DEVIATIONS = (
    "torchvision's design, not the paper's: ResNet backbone dilated in its last two stages (output stride 8), "
    "FCNHead (3x3 conv, BN, ReLU, dropout 0.1, 1x1 conv), auxiliary head on layer3 with aux_loss=True, "
    "bilinear upsampling; returns {'out': ..., 'aux': ...} like torchvision."
)

# Mean IU on the PASCAL VOC 2011 validation subset (Table 2 of the CVPR paper), and on
# torchvision's COCO subset with the VOC classes (torchvision's model docs).
_NOTES = {
    "fcn32s": {"voc2011_val_mean_iu": 59.4},
    "fcn16s": {"voc2011_val_mean_iu": 62.4},
    "fcn8s": {"voc2011_val_mean_iu": 62.7, "voc2012_test_mean_iu": 62.2},
    "fcn_resnet50": {"torchvision_coco_voc_miou": 60.5, "torchvision_coco_voc_pixel_acc": 91.4},
    "fcn_resnet101": {"torchvision_coco_voc_miou": 63.7, "torchvision_coco_voc_pixel_acc": 91.9},
}

# Indices of VGG-16's `features` Sequential (configuration D, no batch norm) after which
# pool3 and pool4 come: [conv, relu] x 2, pool1 (4), x 2, pool2 (9), x 3, pool3 (16), x 3, pool4 (23), x 3, pool5 (30).
POOL3_END, POOL4_END = 17, 24

# Each net's final upsampling: its name in the reference Caffe net, kernel size and stride,
# and the offset of the crop that brings the result back onto the input.
FINAL_UPSAMPLING: dict[int, tuple[str, int, int]] = {
    32: ("upscore", 64, 19),
    16: ("upscore16", 32, 27),
    8: ("upscore8", 16, 31),
}
# Offsets of the crops of the skip scores onto the 2x upsampled coarser scores.
SCORE_POOL4_OFFSET, SCORE_POOL3_OFFSET = 5, 9
# What the at-once FCN-8s multiplies pool4 and pool3 by before scoring them.
AT_ONCE_SCALES = {"pool4": 0.01, "pool3": 0.0001}

# Keep the input check a single node when the model is traced with torch.fx (`convzoo rf`).
torch.fx.wrap("check_image_input")


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """Weights of a transposed conv that upsamples each of ``channels`` maps bilinearly on its own.

    A stride-``s`` transposed conv with a ``2s``-wide tent-shaped kernel (the outer product
    of two triangles of half-width ``s``) interpolates linearly between the input pixels,
    which land ``s`` apart; one channel does not leak into another.

    Returns:
        ``(channels, channels, kernel_size, kernel_size)``, zero off the channel diagonal.
    """
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1 - (torch.arange(kernel_size, dtype=torch.float32) - center).abs() / factor  # (k,)
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = torch.outer(taps, taps)
    return weight


def _upsampling(channels: int, kernel_size: int, stride: int, learned: bool) -> nn.ConvTranspose2d:
    """A transposed conv without bias, initialised to bilinear upsampling; frozen unless ``learned``."""
    layer = nn.ConvTranspose2d(channels, channels, kernel_size, stride=stride, bias=False)
    with torch.no_grad():
        layer.weight.copy_(bilinear_kernel(channels, kernel_size))
    layer.weight.requires_grad_(learned)
    return layer


def _crop(x: torch.Tensor, offset: int, like: torch.Tensor) -> torch.Tensor:
    """The window of ``x`` of ``like``'s height and width, ``offset`` pixels in on both axes (Caffe's Crop)."""
    return x[:, :, offset:offset + like.shape[-2], offset:offset + like.shape[-1]]


def _score(in_channels: int, num_classes: int) -> nn.Conv2d:
    """A 1x1 conv to one score per class, zero at the start (Sec. 4.3)."""
    layer = nn.Conv2d(in_channels, num_classes, kernel_size=1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class FCN(nn.Module):
    """FCN-32s, FCN-16s or FCN-8s on VGG-16: the paper's nets.

    Args:
        stride: stride of the finest prediction: 32 (FCN-32s, no skip), 16 (FCN-16s,
            a skip from pool4) or 8 (FCN-8s, skips from pool4 and pool3).
        num_classes: classes scored at every pixel, background included (21 for PASCAL VOC).
        in_chans: channels of the input image.
        at_once: scale pool4 by 0.01 and pool3 by 0.0001 before scoring them, as the
            reference at-once FCN-8s (PAMI version); off in the CVPR paper's staged nets.
        drop_rate: dropout probability after fc6 and after fc7.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes, H, W)``, the class scores of every pixel
    """

    min_input_size = 1

    def __init__(
        self,
        stride: int = 8,
        *,
        num_classes: int = 21,
        in_chans: int = 3,
        at_once: bool = False,
        drop_rate: float = 0.5,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if stride not in FINAL_UPSAMPLING:
            raise ValueError(f"stride must be one of {sorted(FINAL_UPSAMPLING)} (FCN-32s/16s/8s), got {stride}")
        self.stride = stride
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.at_once = at_once

        # VGG-16's convs (keys features.N, as in vgg16), the first padded by 100 and the pools rounding up.
        layers: list[nn.Module] = []
        in_channels = in_chans
        for num_convs, width in zip(VGG_TABLE_1["D"], STAGE_WIDTHS):
            for _ in range(num_convs):
                padding = 100 if not layers else 1
                layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=padding), act_layer()]
                in_channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        self.features = nn.Sequential(*layers)

        # VGG-16's fully connected layers as convs (Sec. 3.1).
        self.fc6 = nn.Conv2d(512, 4096, kernel_size=7)
        self.relu6 = act_layer()
        self.drop6 = nn.Dropout(drop_rate)
        self.fc7 = nn.Conv2d(4096, 4096, kernel_size=1)
        self.relu7 = act_layer()
        self.drop7 = nn.Dropout(drop_rate)
        self.score_fr = _score(4096, num_classes)

        if stride <= 16:
            self.upscore2 = _upsampling(num_classes, 4, 2, learned=True)
            self.score_pool4 = _score(512, num_classes)
        if stride == 8:
            self.upscore_pool4 = _upsampling(num_classes, 4, 2, learned=True)
            self.score_pool3 = _score(256, num_classes)
        name, kernel_size, _ = FINAL_UPSAMPLING[stride]
        self.add_module(name, _upsampling(num_classes, kernel_size, stride, learned=False))
        self._init_weights()

    def _init_weights(self) -> None:
        # convzoo's VGG-16 initialisation; fcn_from_vgg16 replaces it with a trained classifier's weights.
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for module in (self.fc6, self.fc7):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_chans, self.min_input_size, None, type(self).__name__)
        # Sizes for a 500x500 input (padded to 698x698 by conv1_1).
        pool3 = self.features[:POOL3_END](x)  # (B, 256, 88, 88)
        pool4 = self.features[POOL3_END:POOL4_END](pool3)  # (B, 512, 44, 44)
        pool5 = self.features[POOL4_END:](pool4)  # (B, 512, 22, 22)
        h = self.drop6(self.relu6(self.fc6(pool5)))  # (B, 4096, 16, 16)
        h = self.drop7(self.relu7(self.fc7(h)))  # (B, 4096, 16, 16)
        score = self.score_fr(h)  # (B, K, 16, 16): the coarse prediction, stride 32

        if self.stride <= 16:
            score = self.upscore2(score)  # (B, K, 34, 34)
            if self.at_once:
                pool4 = pool4 * AT_ONCE_SCALES["pool4"]
            score = score + _crop(self.score_pool4(pool4), SCORE_POOL4_OFFSET, score)  # fuse_pool4
        if self.stride == 8:
            score = self.upscore_pool4(score)  # (B, K, 70, 70)
            if self.at_once:
                pool3 = pool3 * AT_ONCE_SCALES["pool3"]
            score = score + _crop(self.score_pool3(pool3), SCORE_POOL3_OFFSET, score)  # fuse_pool3

        name, _, offset = FINAL_UPSAMPLING[self.stride]
        score = getattr(self, name)(score)  # FCN-8s: (B, K, 568, 568); FCN-32s: (B, K, 544, 544)
        return _crop(score, offset, x)  # (B, K, H, W)


def fcn_from_vgg16(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone weights of an FCN from a VGG-16 classifier's, as the paper initialises it.

    Takes a state dict of ``vgg16`` in convzoo's or torchvision's layout (or timm's,
    mapped by :meth:`VGG.remap_state_dict`). The convs keep their ``features.N`` keys;
    ``classifier.0`` (25088 -> 4096) becomes the 7x7 conv ``fc6`` and ``classifier.3`` the
    1x1 conv ``fc7``, their weights reshaped; the 1000-class layer is dropped. Load the
    result with ``model.load_state_dict(fcn_from_vgg16(sd), strict=False)``: the score and
    upsampling layers are the ones left missing.
    """
    state_dict = VGG.remap_state_dict(state_dict)
    fully_connected = {"classifier.0": ("fc6", 512, 7), "classifier.3": ("fc7", 4096, 1)}
    mapped = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if key.startswith("features."):
            mapped[key] = value
        elif module in fully_connected:
            name, in_channels, kernel_size = fully_connected[module]
            if param == "weight":  # a linear layer over the flattened (C, H, W) map is this conv
                value = value.reshape(value.shape[0], in_channels, kernel_size, kernel_size)
            mapped[f"{name}.{param}"] = value
    return mapped


class FCNHead(nn.Sequential):
    """torchvision's FCN head: a 3x3 conv to a quarter of the channels, batch norm, ReLU, dropout, 1x1 conv.

    Args:
        in_channels: channels of the backbone's map.
        out_channels: classes to score.
        drop_rate: dropout probability before the last conv.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H, W)``
    """

    def __init__(self, in_channels: int, out_channels: int, drop_rate: float = 0.1) -> None:
        hidden = in_channels // 4
        super().__init__(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )


class FCNResNet(nn.Module):
    """torchvision's FCN: a dilated ResNet, an FCN head and bilinear upsampling to the input size.

    Args:
        block: the ResNet's block (:class:`Bottleneck` for ResNet-50/101).
        layers: the ResNet's blocks per stage.
        num_classes: classes scored at every pixel.
        in_chans: channels of the input image.
        aux_loss: add the auxiliary head on layer3, whose output is returned under
            ``"aux"`` for an auxiliary loss.

    Shape:
        - Input: ``(B, in_chans, H, W)``
        - Output: ``{"out": (B, num_classes, H, W)}``, plus ``"aux"`` of the same shape
          with ``aux_loss``
    """

    min_input_size = 1

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        *,
        num_classes: int = 21,
        in_chans: int = 3,
        aux_loss: bool = False,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        # No classifier (fc is an identity); layer3 and layer4 dilate by 2 and 4 instead of striding.
        self.backbone = ResNet(
            block, layers, num_classes=0, in_chans=in_chans, replace_stride_with_dilation=(False, True, True)
        )
        channels = self.backbone.num_features
        self.classifier = FCNHead(channels, num_classes)
        self.aux_classifier = FCNHead(channels // 2, num_classes) if aux_loss else None

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        check_image_input(x, self.in_chans, self.min_input_size, None, type(self).__name__)
        size = x.shape[-2:]
        net = self.backbone
        # Shapes for ResNet-50 at 512x512.
        x = net.maxpool(net.act1(net.bn1(net.conv1(x))))  # (B, 64, 128, 128)
        x = net.layer2(net.layer1(x))  # (B, 512, 64, 64)
        aux = net.layer3(x)  # (B, 1024, 64, 64): dilated, the resolution stays
        x = net.layer4(aux)  # (B, 2048, 64, 64)
        out = self.classifier(x)  # (B, K, 64, 64)
        result = {"out": F.interpolate(out, size=size, mode="bilinear", align_corners=False)}  # (B, K, H, W)
        if self.aux_classifier is not None:
            aux = self.aux_classifier(aux)  # (B, K, 64, 64)
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result


def _register(name: str, **kwargs: Any):
    return register_model(
        family="fcn", task="segmentation", paper=PAPER, num_classes=21, notes=_NOTES[name], **kwargs
    )


@_register("fcn32s", input_size=(3, 500, 500), deviations=DEVIATIONS)
def fcn32s(**kwargs: Any) -> FCN:
    """FCN-32s: VGG-16 scores upsampled 32x in one step; 136.2M parameters at 21 classes, 134.3M learned."""
    return FCN(32, **kwargs)


@_register("fcn16s", input_size=(3, 500, 500), deviations=DEVIATIONS)
def fcn16s(**kwargs: Any) -> FCN:
    """FCN-16s: FCN-32s plus a skip from pool4; 134.8M parameters at 21 classes, 134.4M learned."""
    return FCN(16, **kwargs)


@_register("fcn8s", input_size=(3, 500, 500), deviations=DEVIATIONS)
def fcn8s(**kwargs: Any) -> FCN:
    """FCN-8s: FCN-16s plus a skip from pool3; 134.5M parameters at 21 classes, 134.4M learned."""
    return FCN(8, **kwargs)


@_register("fcn_resnet50", input_size=(3, 520, 520), torchvision="fcn_resnet50", deviations=RESNET_DEVIATIONS)
def fcn_resnet50(**kwargs: Any) -> FCNResNet:
    """torchvision's FCN on a dilated ResNet-50, 33.0M parameters (35.3M with the auxiliary head)."""
    return FCNResNet(*RESNET_TABLE_1[50], **kwargs)


@_register("fcn_resnet101", input_size=(3, 520, 520), torchvision="fcn_resnet101", deviations=RESNET_DEVIATIONS)
def fcn_resnet101(**kwargs: Any) -> FCNResNet:
    """torchvision's FCN on a dilated ResNet-101, 51.9M parameters (54.3M with the auxiliary head)."""
    return FCNResNet(*RESNET_TABLE_1[101], **kwargs)
