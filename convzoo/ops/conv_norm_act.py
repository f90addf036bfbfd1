"""Conv -> norm -> activation: the unit most modern CNNs are stacked from.

Batch normalisation (Ioffe and Szegedy 2015) after every conv made deep networks
trainable at high learning rates; the conv before it then needs no bias, since the
norm's shift replaces it. The unit is an ``nn.Sequential`` so its parameters are keyed
``0.weight`` (conv), ``1.weight``/``1.running_mean`` (norm), as in torchvision's
MobileNet, EfficientNet, MnasNet and ShuffleNet checkpoints.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

__all__ = ["ConvNormAct", "same_padding"]

LayerFactory = Callable[..., nn.Module]


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1 for an odd kernel: ``dilation * (k - 1) / 2``."""
    return dilation * (kernel_size - 1) // 2


class ConvNormAct(nn.Sequential):
    """A bias-free conv, a norm and an activation; the norm or the activation may be left out.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side of the square kernel.
        stride: stride of the conv.
        padding: padding of the conv; ``None`` for :func:`same_padding`.
        dilation: dilation of the conv.
        groups: groups of the conv (``in_channels`` for a depthwise conv).
        norm_layer: builds a norm from a channel count; ``None`` for none (the conv then has a bias).
        act_layer: builds an activation from no arguments; ``None`` for a linear unit.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 1,
        norm_layer: LayerFactory | None = nn.BatchNorm2d,
        act_layer: LayerFactory | None = partial(nn.ReLU, inplace=True),
    ) -> None:
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                dilation=dilation, groups=groups, bias=norm_layer is None,
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if act_layer is not None:
            layers.append(act_layer())
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
