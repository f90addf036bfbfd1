"""Depthwise separable convolution: a per-channel spatial filter, then a 1x1 channel mixer.

Paper: MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications
(Andrew G. Howard, Menglong Zhu, Bo Chen, Dmitry Kalenichenko, Weijun Wang, Tobias Weyand,
Marco Andreetto, Hartwig Adam, arXiv 2017) https://arxiv.org/abs/1704.04861

A standard ``D_K x D_K`` convolution from ``M`` to ``N`` channels filters space and mixes
channels in one step, at a cost of ``D_K^2 M N D_F^2`` mult-adds on a ``D_F x D_F`` map
(Eq. 2). A depthwise separable convolution factorises it into

- a *depthwise* conv: one ``D_K x D_K`` filter per input channel (``groups=M``), which
  filters space but never mixes channels: ``D_K^2 M D_F^2`` mult-adds (Eq. 4, first term);
- a *pointwise* conv: a 1x1 conv that mixes the channels: ``M N D_F^2`` (second term).

Their sum over the standard conv's cost is (Eq. 5)

    (D_K^2 M D_F^2 + M N D_F^2) / (D_K^2 M N D_F^2) = 1/N + 1/D_K^2,

so a 3x3 separable layer costs 8 to 9 times less; :func:`separable_cost_ratio` gives the
exact fraction (:func:`convzoo.analysis.design.depthwise_separable_cost` works the whole
comparison through). A *depth multiplier* ``d`` lets the depthwise conv produce ``d``
filters per input channel (``d M`` channels), multiplying both terms by ``d``.

The same factorisation is Xception's ``SeparableConv2d`` (Chollet, CVPR 2017,
https://arxiv.org/abs/1610.02357): there nothing sits between the two convs, since
Chollet found that an activation in between slowed convergence and hurt accuracy (Fig. 10),
while MobileNet follows each conv with batch norm and ReLU. :class:`DepthwiseSeparableConv2d`
takes the norm and activation of each part separately, so it serves both.

The submodules are named as in timm's MobileNet blocks (``conv_dw``, ``bn1``, ``conv_pw``,
``bn2``), so those checkpoints load unmapped.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

import torch
from torch import nn

from convzoo.ops.conv_norm_act import same_padding

__all__ = ["DepthwiseSeparableConv2d", "separable_cost_ratio"]

LayerFactory = Callable[..., nn.Module]


def separable_cost_ratio(out_channels: int, kernel_size: int, depth_multiplier: int = 1) -> Fraction:
    """Mult-adds of a depthwise separable conv over those of the standard conv it replaces, exactly.

    MobileNets Eq. (5): ``1/N + 1/D_K^2`` for ``N = out_channels`` and ``D_K = kernel_size``,
    times ``depth_multiplier``. It holds for a stride-1 same-padded layer, where the two
    convs see the same output map; the input channels cancel.
    """
    for name, value in (("out_channels", out_channels), ("kernel_size", kernel_size),
                        ("depth_multiplier", depth_multiplier)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
    return depth_multiplier * (Fraction(1, out_channels) + Fraction(1, kernel_size**2))


def _optional(factory: LayerFactory | None, *args: int) -> nn.Module:
    return factory(*args) if factory is not None else nn.Identity()


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise ``k x k`` conv, then a pointwise 1x1 conv, each optionally followed by a norm and an activation.

    With every norm and activation left out (the default) it is Keras's and Xception's
    ``SeparableConv2D``; MobileNet sets all four to batch norm and ReLU.

    Args:
        in_channels: channels of the input (``M``).
        out_channels: channels of the output (``N``).
        kernel_size: side of the depthwise kernel (``D_K``).
        stride: stride of the depthwise conv (the pointwise conv has stride 1).
        padding: padding of the depthwise conv; ``None`` for :func:`~convzoo.ops.same_padding`.
        dilation: dilation of the depthwise conv.
        depth_multiplier: filters per input channel in the depthwise conv; its output has
            ``depth_multiplier * in_channels`` channels.
        bias: whether the pointwise conv has a bias (the depthwise conv never has one).
        dw_norm_layer: builds the norm after the depthwise conv from a channel count; ``None`` for none.
        dw_act_layer: builds the activation after the depthwise conv (and its norm); ``None`` for none.
        pw_norm_layer: builds the norm after the pointwise conv; ``None`` for none.
        pw_act_layer: builds the activation after the pointwise conv (and its norm); ``None`` for none.

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
        depth_multiplier: int = 1,
        bias: bool = False,
        dw_norm_layer: LayerFactory | None = None,
        dw_act_layer: LayerFactory | None = None,
        pw_norm_layer: LayerFactory | None = None,
        pw_act_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        mid_channels = in_channels * depth_multiplier
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_dw = nn.Conv2d(
            in_channels, mid_channels, kernel_size, stride=stride, padding=padding,
            dilation=dilation, groups=in_channels, bias=False,
        )
        self.bn1 = _optional(dw_norm_layer, mid_channels)
        self.act1 = _optional(dw_act_layer)
        self.conv_pw = nn.Conv2d(mid_channels, out_channels, kernel_size=1, bias=bias)
        self.bn2 = _optional(pw_norm_layer, out_channels)
        self.act2 = _optional(pw_act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))  # (B, d * M, H', W'): filters space, channel by channel
        return self.act2(self.bn2(self.conv_pw(x)))  # (B, N, H', W'): mixes the channels
