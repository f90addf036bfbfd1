"""Squeeze-and-excitation: reweight the channels of a feature map by its global context.

Paper: Squeeze-and-Excitation Networks (Jie Hu, Li Shen, Gang Sun, CVPR 2018)
https://arxiv.org/abs/1709.01507

A conv sees only its local window, so no unit of a feature map knows what the whole image
holds. An SE module gives it that knowledge cheaply, in three steps (Sec. 3):

- squeeze: global average pooling turns ``U`` of shape ``(C, H, W)`` into one descriptor
  ``z_c = 1 / (H W) sum_ij u_c(i, j)`` per channel (Eq. 2);
- excitation: a bottleneck of two fully connected layers, ``C -> C / r -> C``, with an
  activation between and a sigmoid after, computes a gate ``s = sigma(W_2 delta(W_1 z))``
  in ``(0, 1)`` per channel (Eq. 3);
- scale: each channel is multiplied by its gate, ``x_c = s_c u_c`` (Eq. 4).

The fully connected layers are 1x1 convs with biases, which keep the ``(B, C, 1, 1)``
shape and hold the same weights. The reduced width is given explicitly, since the
networks that use SE count it differently: SENet as ``C / 16``, EfficientNet and MnasNet
as a quarter of the *input* width of the inverted residual block, which is six times
narrower than the expanded ``C`` the gate acts on.

The submodules are ``fc1`` and ``fc2``, the keys of torchvision's ``SqueezeExcitation``
(in EfficientNet and MobileNetV3) and of timm's ``SEModule`` (in SE-ResNets), so their
checkpoints load unmapped. The activation ``delta`` (ReLU in SENet, SiLU in EfficientNet)
and the gate ``sigma`` (a sigmoid; a hard sigmoid in MobileNetV3) are injectable.

SENet itself states the width as a reduction ratio ``r`` (``r = 16`` by default, Sec. 6.1):
:meth:`SqueezeExcite.with_reduction` builds the module from ``C`` and ``r``, and
:func:`se_layer` returns a factory of one argument, the channel count, which is what the
``attn_layer`` option of :class:`~convzoo.blocks.residual.Bottleneck` and
:class:`~convzoo.models.resnet.ResNet` expects. ``C / r`` is rounded to the nearest multiple
of ``divisor`` (at least ``divisor``); ``divisor=1`` is the paper's plain ``C / r``, and
``divisor=8`` is timm's rule for its SE-ResNets (``make_divisible(C / 16, 8,
round_limit=0)``). The two agree on every width of the SE-ResNets (256 to 2048 channels).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

__all__ = ["SqueezeExcite", "reduced_width", "se_layer"]

LayerFactory = Callable[..., nn.Module]


def reduced_width(channels: int, reduction: float = 16, divisor: int = 1) -> int:
    """``channels / reduction`` rounded to the nearest multiple of ``divisor``, and at least ``divisor``."""
    if reduction <= 0 or divisor < 1:
        raise ValueError(f"reduction must be positive and divisor at least 1, got {reduction} and {divisor}")
    return max(divisor, int(channels / reduction + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """Global average pool, 1x1 conv reduce, activation, 1x1 conv expand, gate; multiplies the input.

    Args:
        channels: channels of the input (and output).
        reduced_channels: width of the bottleneck between ``fc1`` and ``fc2``.
        act_layer: builds the activation between the two layers from no arguments.
        gate_layer: builds the gate (a sigmoid) from no arguments.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: ``(B, channels, H, W)``
    """

    def __init__(
        self,
        channels: int,
        reduced_channels: int,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        gate_layer: LayerFactory = nn.Sigmoid,
    ) -> None:
        super().__init__()
        if reduced_channels < 1:
            raise ValueError(f"reduced_channels must be at least 1, got {reduced_channels}")
        self.fc1 = nn.Conv2d(channels, reduced_channels, kernel_size=1, bias=True)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(reduced_channels, channels, kernel_size=1, bias=True)
        self.gate = gate_layer()

    @classmethod
    def with_reduction(
        cls,
        channels: int,
        reduction: float = 16,
        divisor: int = 1,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        gate_layer: LayerFactory = nn.Sigmoid,
    ) -> SqueezeExcite:
        """SE with SENet's reduction ratio: a bottleneck of ``channels / reduction`` (see :func:`reduced_width`)."""
        return cls(channels, reduced_width(channels, reduction, divisor), act_layer=act_layer, gate_layer=gate_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1), squeeze: Eq. (2)
        s = self.gate(self.fc2(self.act(self.fc1(z))))  # (B, C, 1, 1), excitation: Eq. (3)
        return x * s  # (B, C, H, W), scale: Eq. (4)


def se_layer(
    reduction: float = 16,
    divisor: int = 1,
    act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    gate_layer: LayerFactory = nn.Sigmoid,
) -> Callable[[int], SqueezeExcite]:
    """A factory ``channels -> SqueezeExcite`` with reduction ``r``, for ``attn_layer=`` options.

    Example: ``ResNet(Bottleneck, (3, 4, 6, 3), attn_layer=se_layer(16))`` is SE-ResNet-50.
    """
    return partial(
        SqueezeExcite.with_reduction, reduction=reduction, divisor=divisor, act_layer=act_layer, gate_layer=gate_layer
    )
