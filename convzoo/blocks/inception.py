"""Inception blocks: parallel branches of different receptive fields, concatenated on channels.

Paper: Going Deeper with Convolutions (Christian Szegedy, Wei Liu, Yangqing Jia, Pierre
Sermanet, Scott Reed, Dragomir Anguelov, Dumitru Erhan, Vincent Vanhoucke, Andrew
Rabinovich, CVPR 2015) https://arxiv.org/abs/1409.4842

Which kernel size should a layer use? The Inception module does not choose: it runs a 1x1,
a 3x3 and a 5x5 conv and a 3x3 max-pool side by side on the same input and stacks their
outputs along the channels, so the next layer sees features at several scales at once
(Fig. 2a). Run naively this is expensive, and the pool branch keeps the input's width, so
the width grows with every module. The fix is the 1x1 "reduction" conv (Fig. 2b): placed
before the 3x3 and 5x5 convs and after the pool, it shrinks the channels first, a cheap
embedding that keeps the cost of the large kernels in check.

The later versions keep the pattern and change the branches:

- BN-Inception / Inception-v2 (Ioffe and Szegedy 2015) puts batch norm after every conv and
  replaces the 5x5 conv by two stacked 3x3 convs (same receptive field, 18 instead of 25
  weights per channel pair); some modules stride and pass the pooled input through unchanged.
- Inception-v3 (Szegedy et al. 2016) factorises an n x n conv into a 1 x n and an n x 1
  conv, and in the last modules splits a branch into a 1x3 and a 3x1 conv side by side
  whose outputs are concatenated (Fig. 7): a branch may itself be an inception block.
- Inception-ResNet (Szegedy et al. 2017) projects the concatenation back to the input's
  width with a 1x1 conv, scales it down (0.1 to 0.3) and adds it to the input, a residual
  connection (:class:`InceptionResidual`).

:class:`InceptionBlock` is all of these: it takes its branches as a mapping from name to a
module or a list of layers (a chain), runs each on the input and concatenates the results.
The names become the state-dict keys, so a network can name its branches as torchvision or
timm do and load their checkpoints. :class:`ConvBnAct` is the conv unit of every Inception
network: a bias-free conv, a batch norm and a ReLU, with keys ``conv.*`` and ``bn.*`` as in
torchvision's and timm's Inception checkpoints (:class:`convzoo.ops.ConvNormAct` is keyed
``0.*``/``1.*`` and would need a key map for each of them).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

__all__ = ["ConvBnAct", "InceptionBlock", "InceptionResidual", "branch_width"]

LayerFactory = Callable[..., nn.Module]
Size = int | tuple[int, int]
Branch = nn.Module | Sequence[nn.Module]


class ConvBnAct(nn.Module):
    """A bias-free conv, a batch norm and an activation; keys ``conv.*`` and ``bn.*``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side of the kernel, or ``(height, width)`` for the factorised 1 x n and n x 1 convs.
        stride: stride of the conv.
        padding: padding of the conv (Inception's convs are mostly unpadded, "valid").
        norm_layer: builds a norm from a channel count; the Inception networks ported from
            TensorFlow use ``eps=1e-3``.
        act_layer: builds an activation from no arguments; ``None`` for none.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = floor((H + 2 p - k) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size = 1,
        stride: Size = 1,
        padding: Size = 0,
        *,
        norm_layer: LayerFactory = partial(nn.BatchNorm2d, eps=1e-3),
        act_layer: LayerFactory | None = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = norm_layer(out_channels)
        self.act = act_layer() if act_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def branch_width(branch: nn.Module, in_channels: int) -> int:
    """Channels a branch outputs: those of its last layer that sets them, else its input's.

    A conv (or a nested :class:`InceptionBlock`) declares ``out_channels``; pooling keeps the
    width, so a pool-only branch outputs ``in_channels``.
    """
    if hasattr(branch, "out_channels"):
        return branch.out_channels
    for child in reversed(list(branch.children())):
        width = branch_width(child, -1)
        if width != -1:
            return width
    return in_channels


class InceptionBlock(nn.Module):
    """Parallel branches on the same input, concatenated on channels (paper Fig. 2).

    Args:
        in_channels: channels of the input.
        branches: name -> branch; a branch is a module, or a list of layers run in order
            (stored as an ``nn.Sequential``). The names are the state-dict keys; the
            outputs are concatenated in the mapping's order. A branch may itself be an
            :class:`InceptionBlock` (Inception-v3's 1x3 and 3x1 convs side by side).

    Attributes:
        out_channels: the sum of the branches' widths (see :func:`branch_width`).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``; every branch must give the same ``H', W'``.
    """

    def __init__(self, in_channels: int, branches: Mapping[str, Branch]) -> None:
        super().__init__()
        if not branches:
            raise ValueError("an inception block needs at least one branch")
        for name, branch in branches.items():
            self.add_module(name, branch if isinstance(branch, nn.Module) else nn.Sequential(*branch))
        self.branch_names = tuple(branches)
        self.in_channels = in_channels
        self.out_channels = sum(branch_width(self.get_submodule(n), in_channels) for n in self.branch_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.branch_names], dim=1)  # (B, out_channels, H', W')


class InceptionResidual(InceptionBlock):
    """An Inception-ResNet block: ``act(x + scale * W concat(branches(x)))`` (Inception-v4 paper Fig. 20).

    The branches are concatenated as in :class:`InceptionBlock`, projected back to
    ``in_channels`` by a 1x1 conv with bias and no norm (``conv2d``), scaled, and added to
    the input. Scaling the residual down (0.1 to 0.3) kept the very wide networks of the
    paper from dying early in training (Sec. 3.3).

    Args:
        in_channels: channels of the input and of the output.
        branches: as for :class:`InceptionBlock`.
        scale: factor on the residual before the addition.
        act_layer: builds the activation after the addition; ``None`` for none (the last
            block of Inception-ResNet-v2).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, in_channels, H, W)``
    """

    def __init__(
        self,
        in_channels: int,
        branches: Mapping[str, Branch],
        scale: float = 1.0,
        act_layer: LayerFactory | None = nn.ReLU,
    ) -> None:
        super().__init__(in_channels, branches)
        self.conv2d = nn.Conv2d(self.out_channels, in_channels, kernel_size=1)
        self.act = act_layer() if act_layer is not None else nn.Identity()
        self.concat_channels = self.out_channels
        self.out_channels = in_channels
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv2d(super().forward(x))  # (B, in_channels, H, W)
        return self.act(residual * self.scale + x)
