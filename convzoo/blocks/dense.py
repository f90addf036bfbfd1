"""Dense blocks and transitions: DenseNet's building blocks.

Paper: Densely Connected Convolutional Networks (Gao Huang, Zhuang Liu, Laurens van der
Maaten, Kilian Q. Weinberger, CVPR 2017) https://arxiv.org/abs/1608.06993

Inside a dense block, layer ``l`` receives the feature maps of *all* preceding layers,
concatenated along the channels, and adds ``k`` new ones (the growth rate):

    x_l = H_l([x_0, x_1, ..., x_{l-1}])                                      (Eq. 2)

Where a ResNet adds a layer's output to its input, and so mixes them, a DenseNet keeps
every map and lets later layers read it directly: features are reused rather than
relearned, so each layer can be narrow (k = 32 on ImageNet), and every layer has a short
path to the loss. A block of ``n`` layers on ``c`` input channels outputs ``c + n k``.

``H_l`` is pre-activation (BN, ReLU, conv). DenseNet-B puts a bottleneck in front of the
3x3 conv: BN-ReLU-Conv(1x1) to ``bn_size * k`` = 4k channels, then BN-ReLU-Conv(3x3) to
k, so the growing input is read by a cheap 1x1 conv. Between blocks a transition layer
(BN, ReLU, 1x1 conv, 2x2 average pool) halves the resolution; DenseNet-C compresses the
channels there by a factor theta = 0.5. DenseNet-BC, the ImageNet model, does both.

Memory-efficient mode (``memory_efficient=True``): the concatenation, BN and ReLU in front
of each bottleneck make new tensors whose total size grows quadratically with the depth,
although they are cheap to compute. Following Pleiss et al., Memory-Efficient
Implementation of DenseNets (2017) https://arxiv.org/abs/1707.06990, the layer runs
"concatenate -> BN -> ReLU -> 1x1 conv" under :func:`torch.utils.checkpoint.checkpoint`:
these intermediate maps are dropped after the forward pass and recomputed in the backward
pass, so only the layers' k-channel outputs are kept. The outputs and gradients are the
same as without it. The recomputation re-runs the batch norm in training mode, which
would update its running statistics a second time (as in torchvision's implementation);
here they are saved before the recomputation and restored after it, so the statistics are
the same too, as Pleiss et al. ask of an exact implementation.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

__all__ = ["DenseBlock", "DenseLayer", "Transition"]

LayerFactory = Callable[..., nn.Module]
Features = torch.Tensor | Sequence[torch.Tensor]


@contextlib.contextmanager
def _keep_buffers(module: nn.Module) -> Iterator[None]:
    """Run a block of code and then put ``module``'s buffers back as they were before it.

    Used around the checkpoint's recomputation so that a batch norm in training mode
    updates its running statistics once per step, in the forward pass only.
    """
    saved = [(buffer, buffer.clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


class DenseLayer(nn.Module):
    """One layer of a dense block: BN-ReLU-Conv(1x1) bottleneck, then BN-ReLU-Conv(3x3).

    Reads the concatenation of all earlier feature maps (Eq. 2) and returns only its own
    ``growth_rate`` new maps; the block concatenates them to the rest.

    Args:
        in_channels: channels of the concatenated input.
        growth_rate: new maps the layer adds (``k`` in the paper).
        bn_size: width of the bottleneck in multiples of ``growth_rate`` (4 in the paper).
        drop_rate: dropout probability on the new maps (the paper uses 0.2 on CIFAR
            without data augmentation, none on ImageNet).
        memory_efficient: checkpoint the concatenation, first norm, activation and 1x1
            conv in training mode: less memory, one more forward of those layers, same
            results.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: a tensor ``(B, in_channels, H, W)`` or a sequence of tensors ``(B, C_i, H, W)``
          with ``sum(C_i) == in_channels``, concatenated in order
        - Output: ``(B, growth_rate, H, W)``
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = norm_layer(in_channels)
        self.relu1 = act_layer()
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = norm_layer(width)
        self.relu2 = act_layer()
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        """Concatenate the inputs, then BN-ReLU-Conv(1x1): the part memory-efficient mode recomputes."""
        x = torch.cat(features, 1)  # (B, in_channels, H, W)
        return self.conv1(self.relu1(self.norm1(x)))  # (B, bn_size * k, H, W)

    def _checkpointed_bottleneck(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        def contexts() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
            return contextlib.nullcontext(), _keep_buffers(self.norm1)  # (forward, recomputation)

        return torch.utils.checkpoint.checkpoint(
            self.bottleneck, *features, use_reentrant=False, context_fn=contexts
        )

    def forward(self, features: Features) -> torch.Tensor:
        # A tensor or a list of them; an fx Proxy is neither a list nor a tuple, so it is wrapped too.
        features = list(features) if isinstance(features, (list, tuple)) else [features]
        # Checkpointing pays off only when a backward pass follows (training). It is a Python
        # decision on flags, not on tensor values, so the layer stays fx-traceable.
        if self.memory_efficient and self.training and torch.is_grad_enabled():
            out = self._checkpointed_bottleneck(features)
        else:
            out = self.bottleneck(*features)
        out = self.conv2(self.relu2(self.norm2(out)))  # (B, k, H, W)
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.ModuleDict):
    """A dense block: ``num_layers`` dense layers, each reading all maps before it (Eq. 2).

    A ``ModuleDict`` keyed ``denselayer1``, ``denselayer2``, ... (torchvision's keys).

    Args:
        num_layers: number of dense layers.
        in_channels: channels of the block's input.
        growth_rate: maps each layer adds (``k``).
        bn_size: bottleneck width in multiples of ``growth_rate``.
        drop_rate: dropout probability on each layer's new maps.
        memory_efficient: checkpoint each layer's bottleneck (see :class:`DenseLayer`).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, in_channels + num_layers * growth_rate, H, W)``
    """

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        for index in range(num_layers):
            layer = DenseLayer(
                in_channels + index * growth_rate, growth_rate, bn_size=bn_size, drop_rate=drop_rate,
                memory_efficient=memory_efficient, norm_layer=norm_layer, act_layer=act_layer,
            )
            self.add_module(f"denselayer{index + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))  # each layer reads every map so far
        return torch.cat(features, 1)  # (B, in_channels + num_layers * k, H, W)


class Transition(nn.Sequential):
    """Transition between dense blocks: BN, ReLU, 1x1 conv (compression), 2x2 average pool.

    Keys ``norm``, ``conv`` as in torchvision.

    Args:
        in_channels: channels of the previous block's output.
        out_channels: channels after compression, ``floor(theta * in_channels)``
            (theta = 0.5 in DenseNet-BC).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``, ``H, W >= 2``
        - Output: ``(B, out_channels, floor(H / 2), floor(W / 2))``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.norm = norm_layer(in_channels)
        self.relu = act_layer()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
