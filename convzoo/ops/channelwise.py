"""Channel-wise convolution: a 1-D conv that slides along the channel axis, shared by every pixel.

Paper: ChannelNets: Compact and Efficient Convolutional Neural Networks via Channel-Wise
Convolutions (Hongyang Gao, Zhengyang Wang, Shuiwang Ji, NeurIPS 2018) https://arxiv.org/abs/1809.01330

A 1x1 conv from ``m`` to ``n`` channels connects every output channel to every input
channel: ``m n`` weights, the bulk of a compact network's parameters. ChannelNets makes
this connection *sparse and shared*, as a conv does in space: output channel ``o`` sees
only the ``d_c`` input channels ``o s_c - p_c .. o s_c - p_c + d_c - 1``, through the same
``d_c`` weights for every ``o`` and every pixel:

    y[o, h, w] = b + sum_{j < d_c} k[j] x[o s_c - p_c + j, h, w]

with ``n = floor((m + 2 p_c - d_c) / s_c) + 1`` output channels. It is a 3-D conv of kernel
``(d_c, 1, 1)`` over the input seen as one-channel volume ``(B, 1, m, H, W)``, and also a
1x1 conv whose ``n x m`` weight matrix is a band (Toeplitz) matrix holding ``k`` on its
diagonals. The parameter count is ``d_c`` (+1 for a bias), whatever ``m`` and ``n``.

The *convolutional classification layer* (CCL) applies the same idea to the classifier,
which in MobileNet is a global average pool and a ``m x n`` fully connected layer (a
quarter of its parameters). With ``m`` channels of size ``d_f x d_f`` in and ``n`` classes
out, one conv of kernel ``(m - n + 1) x d_f x d_f`` without padding maps the
``(1, m, d_f, d_f)`` volume to ``(1, n, 1, 1)``: ``d_f^2 (m - n + 1)`` weights instead of
``m n`` (1,225 instead of 1,024,000 for MobileNet on ImageNet, ``m = 1024, n = 1000, d_f = 7``).
:class:`ChannelWiseClassifier` builds it, or, with ``separable=True``, its factorisation into
a depthwise ``d_f x d_f`` conv (each channel to one value) followed by a channel-wise conv of
``d_c = m - n + 1``: ``m d_f^2 + m - n + 1`` weights.

Deviations:
    * I recall the paper's CCL as the single 3-D conv (``separable=False``, the default); the
      separable form is offered as the depthwise-then-channel-wise reading; I am not sure the
      paper uses one over the other.
    * The classifier has one bias per class (``n`` parameters, as a fully connected layer has);
      I do not recall the paper mentioning a bias.
    * The group channel-wise convolutions of the paper's GCWM (fusing the outputs of a
      group conv) are not built here.
"""

from __future__ import annotations

import torch
import torch.fx
from torch import nn

__all__ = ["ChannelWiseClassifier", "ChannelWiseConv", "channelwise_out_channels"]


def channelwise_out_channels(in_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output channels of a channel-wise conv: ``floor((m + 2 p_c - d_c) / s_c) + 1``."""
    out = (in_channels + 2 * padding - kernel_size) // stride + 1
    if out < 1:
        raise ValueError(f"a channel-wise kernel of {kernel_size} does not fit {in_channels} channels (padding {padding})")
    return out


class ChannelWiseConv(nn.Module):
    """A 1-D conv along the channels, the same ``kernel_size`` weights at every pixel.

    Args:
        kernel_size: channels each output sees (``d_c``).
        stride: step along the channels (``s_c``); 2 halves the channel count.
        padding: zeros added at both ends of the channel axis (``p_c``).
        bias: whether to add one learned scalar to every output.

    Shape:
        - Input: ``(B, m, H, W)``
        - Output: ``(B, n, H, W)`` with ``n = floor((m + 2 p_c - d_c) / s_c) + 1``

    Parameters: ``d_c`` (+1 with bias), independent of ``m`` and ``n``.
    MACs: ``B n H W d_c``.
    """

    def __init__(self, kernel_size: int, stride: int = 1, padding: int = 0, bias: bool = False) -> None:
        super().__init__()
        if kernel_size < 1 or stride < 1 or padding < 0:
            raise ValueError(f"bad channel-wise conv: kernel_size={kernel_size}, stride={stride}, padding={padding}")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.conv = nn.Conv3d(1, 1, (kernel_size, 1, 1), stride=(stride, 1, 1), padding=(padding, 0, 0), bias=bias)

    @classmethod
    def between(cls, in_channels: int, out_channels: int, bias: bool = False) -> ChannelWiseConv:
        """The stride-1, unpadded channel-wise conv mapping ``in_channels`` to ``out_channels``
        (``d_c = m - n + 1``): a drop-in for a 1x1 conv with ``d_c`` instead of ``m n`` weights."""
        if out_channels > in_channels or out_channels < 1:
            raise ValueError(f"a channel-wise conv cannot map {in_channels} channels to {out_channels}")
        return cls(in_channels - out_channels + 1, bias=bias)

    def out_channels(self, in_channels: int) -> int:
        """Output channels for ``in_channels`` input channels."""
        return channelwise_out_channels(in_channels, self.kernel_size, self.stride, self.padding)

    def pointwise_weight(self, in_channels: int) -> torch.Tensor:
        """The equivalent 1x1 conv weight ``(n, m, 1, 1)``: ``W[o, i] = k[i + p_c - o s_c]``, a band matrix."""
        n, kernel = self.out_channels(in_channels), self.conv.weight.reshape(-1)
        taps = torch.arange(in_channels) + self.padding - self.stride * torch.arange(n).unsqueeze(1)  # (n, m)
        inside = (taps >= 0) & (taps < self.kernel_size)
        return torch.where(inside, kernel[taps.clamp(0, self.kernel_size - 1)], 0.0)[..., None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.unsqueeze(1)).squeeze(1)  # (B, 1, m, H, W) -> (B, 1, n, H, W) -> (B, n, H, W)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _check_input(x: torch.Tensor, channels: int, size: int) -> None:
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, size, size):
        raise ValueError(f"expected an input of shape (B, {channels}, {size}, {size}), got {tuple(x.shape)}")


torch.fx.wrap("_check_input")  # a leaf for fx: the check runs when the traced module runs


class ChannelWiseClassifier(nn.Module):
    """ChannelNets' convolutional classification layer: class scores from the last feature map.

    Replaces global average pooling and ``Linear(in_channels, num_classes)``. Output class
    ``o`` is computed from channels ``o .. o + m - n`` only, with weights shared by all classes.

    Args:
        in_channels: channels of the last feature map (``m``); at least ``num_classes``.
        num_classes: number of classes (``n``).
        spatial_size: side of the last feature map (``d_f``); the input must be ``d_f x d_f``.
        separable: ``False``: one conv of kernel ``(m - n + 1, d_f, d_f)``; ``True``: a depthwise
            ``d_f x d_f`` conv, then a channel-wise conv of ``m - n + 1``.
        bias: whether each class has a bias.

    Shape:
        - Input: ``(B, m, d_f, d_f)``
        - Output: ``(B, n)``

    Parameters: ``d_f^2 (m - n + 1)``, or ``m d_f^2 + m - n + 1`` when separable; ``+ n`` with bias.
    MACs: ``B n d_f^2 (m - n + 1)``, or ``B (m d_f^2 + n (m - n + 1))`` when separable.
    """

    def __init__(
        self, in_channels: int, num_classes: int, spatial_size: int, separable: bool = False, bias: bool = True
    ) -> None:
        super().__init__()
        if not 1 <= num_classes <= in_channels:
            raise ValueError(f"a channel-wise classifier needs 1 <= num_classes <= in_channels, "
                             f"got {num_classes} classes from {in_channels} channels")
        self.in_channels, self.num_classes, self.spatial_size = in_channels, num_classes, spatial_size
        self.separable = separable
        span = in_channels - num_classes + 1  # d_c: channels behind each class score
        if separable:
            self.depthwise = nn.Conv2d(in_channels, in_channels, spatial_size, groups=in_channels, bias=False)
            self.channelwise = ChannelWiseConv(span)
        else:
            self.conv = nn.Conv3d(1, 1, (span, spatial_size, spatial_size), bias=False)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.spatial_size)
        if self.separable:
            scores = self.channelwise(self.depthwise(x))  # (B, m, 1, 1) -> (B, n, 1, 1)
        else:
            scores = self.conv(x.unsqueeze(1))  # (B, 1, m, d_f, d_f) -> (B, 1, n, 1, 1)
        scores = scores.flatten(1)  # (B, n)
        return scores if self.bias is None else scores + self.bias

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.num_classes}, spatial_size={self.spatial_size}, "
                f"separable={self.separable}, bias={self.bias is not None}")
