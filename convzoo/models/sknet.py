"""SKNet: residual networks whose 3x3 convs select their kernel size per channel.

Paper: Selective Kernel Networks (Xiang Li, Wenhai Wang, Xiaolin Hu, Jian Yang, CVPR 2019)
https://arxiv.org/abs/1903.06586

An SKNet is a ResNeXt whose grouped 3x3 convs are selective kernel convs
(:mod:`convzoo.blocks.selective_kernel`): two branches, a 3x3 conv and a 3x3 conv
dilated to a 5x5 window, mixed per channel by softmax weights computed from the input.
The network decides, channel by channel and image by image, how large a receptive field
to use; the paper finds that larger objects shift the weights towards the 5x5 branch.

SKNet-50 (Table 1) is ResNeXt-50 (32x4d) with every 3x3 conv replaced:

    stage     output   block
    conv1     112      7x7, 64, stride 2; 3x3 max pool, stride 2
    conv2     56       [1x1, 128;  SK[M=2, G=32, r=16], 128;  1x1, 256]  x 3
    conv3     28       [1x1, 256;  SK[M=2, G=32, r=16], 256;  1x1, 512]  x 4
    conv4     14       [1x1, 512;  SK[M=2, G=32, r=16], 512;  1x1, 1024] x 6
    conv5     7        [1x1, 1024; SK[M=2, G=32, r=16], 1024; 1x1, 2048] x 3
              1        global average pool, 1000-d fc, softmax

with the attention's width ``d = max(C / 16, 32)``. It costs 10% more parameters and 5% more
computation than ResNeXt-50, and lowers the top-1 error on ImageNet from 22.23% to 20.79%.

``skresnet18`` and ``skresnet34`` are timm's: ResNet-18/34 whose basic blocks have an SK
conv as their first 3x3 conv, each branch convolving half the input channels.

All three are :class:`convzoo.models.resnet.ResNet` with the SK blocks; :class:`SKResNet`
adds only the translation of timm's checkpoint keys.

Deviations:
    - The stride is on the SK conv, as in the ResNet v1.5 bottleneck and timm.
    - ``skresnet18``/``skresnet34`` are not in the paper (see timm): the SK conv splits the
      input channels between the branches, with ``r = 8`` and ``L = 16``.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from convzoo.blocks.selective_kernel import SelectiveKernelBasic, SelectiveKernelBottleneck
from convzoo.models.resnet import ResNet
from convzoo.registry import Paper, register_model

__all__ = ["SKResNet", "skresnet18", "skresnet34", "skresnext50_32x4d"]

PAPER = Paper(
    title="Selective Kernel Networks",
    authors="Xiang Li, Wenhai Wang, Xiaolin Hu, Jian Yang",
    venue="CVPR",
    year=2019,
    url="https://arxiv.org/abs/1903.06586",
)

DEVIATIONS = "Stride on the SK conv (ResNet v1.5, as timm)."
DEVIATIONS_BASIC = (
    "Not in the paper (timm's SK-ResNet): SK conv as the basic block's first 3x3 conv, its branches "
    "splitting the input channels, r = 8, L = 16; stride on the SK conv."
)

# timm's ConvNormAct names its conv and norm `conv` and `bn`; ours is a Sequential keyed 0 and 1.
_TIMM_CONV = re.compile(r"(paths\.\d+|conv\d)\.conv\.")
_TIMM_NORM = re.compile(r"(paths\.\d+|conv\d)\.bn\.")


class SKResNet(ResNet):
    """A :class:`ResNet` of selective kernel blocks, which loads timm's SK-ResNet checkpoints.

    Args:
        block: :class:`SelectiveKernelBasic` or :class:`SelectiveKernelBottleneck`.
        layers: number of blocks in each of the four stages.
        **kwargs: the options of :class:`ResNet`.

    Shape:
        - Input: ``(B, in_chans, H, W)``
        - Output: ``(B, num_classes)``
    """

    @staticmethod
    def remap_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map timm's keys to ours: a block's ``convN.conv``/``convN.bn`` and an SK branch's
        ``paths.M.conv``/``paths.M.bn`` become ``.0``/``.1``; everything else is unchanged."""
        remapped = {}
        for key, value in state_dict.items():
            key = _TIMM_NORM.sub(r"\1.1.", _TIMM_CONV.sub(r"\1.0.", key))
            remapped[key] = value
        return remapped


NOTES_SKNET50 = {
    "authors_top1_error_224": 20.79,
    "authors_params": "27.5M",
    "resnext50_32x4d_top1_error_224": 22.23,
}


@register_model(family="sknet", paper=PAPER, timm="skresnet18", deviations=DEVIATIONS_BASIC)
def skresnet18(**kwargs: Any) -> SKResNet:
    """SK-ResNet-18 (timm): basic SK blocks (2, 2, 2, 2), 11.96M parameters."""
    return SKResNet(SelectiveKernelBasic, (2, 2, 2, 2), **kwargs)


@register_model(family="sknet", paper=PAPER, timm="skresnet34", deviations=DEVIATIONS_BASIC)
def skresnet34(**kwargs: Any) -> SKResNet:
    """SK-ResNet-34 (timm): basic SK blocks (3, 4, 6, 3), 22.28M parameters."""
    return SKResNet(SelectiveKernelBasic, (3, 4, 6, 3), **kwargs)


@register_model(family="sknet", paper=PAPER, timm="skresnext50_32x4d", deviations=DEVIATIONS, notes=NOTES_SKNET50)
def skresnext50_32x4d(**kwargs: Any) -> SKResNet:
    """SKNet-50 (paper Table 1): ResNeXt-50 (32x4d) with SK[M=2, G=32, r=16] convs, 27.48M parameters."""
    return SKResNet(SelectiveKernelBottleneck, (3, 4, 6, 3), groups=32, width_per_group=4, **kwargs)
