"""UNet++ on a zoo encoder: nested skip pathways over a classifier's stages, as segmentation_models_pytorch builds them.

Paper: UNet++: A Nested U-Net Architecture for Medical Image Segmentation (Z. Zhou,
M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, DLMIA 2018) https://arxiv.org/abs/1807.10165

:mod:`convzoo.models.unetplusplus` is the paper's network with its own backbone; this is
the layout of segmentation_models_pytorch (smp), ``smp.UnetPlusPlus(encoder_name)``, on
any convzoo classifier, so that smp's checkpoints load with identical outputs. The
encoder is :class:`~convzoo.models.encoder_unet.EncoderUNet`'s: the deepest stage at each
reduction, ``X^{k,0}`` at level ``k`` (reduction ``2^k``), k = 1..5. Every nested node
``X^{k,j}`` up-samples the node below-left and concatenates the nodes before it at its
level (Eq. 1 of the paper), then applies two 3x3 conv - batch norm - ReLU layers::

    level  reduction
    1      /2       X1,0 ── X1,1 ── X1,2 ── X1,3 ── X1,4 (32)
    2      /4       X2,0 ── X2,1 ── X2,2 ── X2,3 (64)          each X^{k,j}, j > 0:
    3      /8       X3,0 ── X3,1 ── X3,2 (128)                   up(X^{k+1,j-1}), X^{k,j-1}, ..., X^{k,0}
    4      /16      X4,0 ── X4,1 (256)                         -> two 3x3 conv-BN-ReLU
    5      /32      X5,0
    0      /1                                       X0,5 (16) = up(X1,4), no skip -> 3x3 conv head

The last node of each level (right end of a row) has the decoder's width (256, 128, 64,
32, 16, deepest first); the nodes before it have the encoder's width at their level (smp's
choice; the paper gives every node of a level one width). Sides must be multiples of 32.

Deviations:
    As :mod:`convzoo.models.encoder_unet` (smp's decoder conventions: nearest up-sampling,
    batch norm, a 3x3 head, smp's initialisation, no VGG ``center`` block, no attention).
    From the paper: no deep supervision (smp's UnetPlusPlus has one head, on ``X^{0,5}``);
    the nodes concatenate ``[up(X^{k+1,j-1}), X^{k,j-1}, ..., X^{k,0}]``, the paper's
    order reversed (a permutation of the conv's input channels); intermediate nodes keep
    the encoder's widths; a sixth column ``X^{0,5}`` up-samples to the input's size. Keys
    name the nodes by level and column (``decoder.x2_3.conv1``); smp's ``x_{depth}_{layer}``
    names are mapped by :meth:`EncoderUNetPlusPlus.remap_state_dict`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from convzoo.models.encoder_unet import DecoderBlock, EncoderUNet, smp_block_key
from convzoo.models.unetplusplus import PAPER
from convzoo.registry import register_model

__all__ = ["EncoderUNetPlusPlus", "unetplusplus_resnet34", "unetplusplus_resnet50", "unetplusplus_mobilenet_v2"]

_SMP_NODE = re.compile(r"^decoder\.blocks\.x_(\d+)_(\d+)\.")


class EncoderUNetPlusPlus(EncoderUNet):
    """UNet++ with a zoo classifier as its backbone, in segmentation_models_pytorch's layout.

    Takes :class:`~convzoo.models.encoder_unet.EncoderUNet`'s arguments (``encoder``,
    ``in_chans``, ``num_classes``, ``encoder_depth``, ``decoder_channels``, ``encoder_kwargs``).

    Shape:
        (B, in_chans, H, W) -> (B, num_classes, H, W), H and W multiples of ``2 ** encoder_depth``.
    """

    def node_positions(self) -> list[tuple[int, int]]:
        """``(level, column)`` of the nested nodes in the order they run: column by column, then ``X^{0,depth}``."""
        depth = self.depth
        return [(k, j) for j in range(1, depth) for k in range(1, depth - j + 1)] + [(0, depth)]

    def build_decoder(self, encoder_channels: Sequence[int]) -> nn.Module:
        """One :class:`DecoderBlock` per nested node ``X^{k,j}``, named ``x{k}_{j}``."""
        depth = self.depth

        def width(level: int, column: int) -> int:
            if column > 0 and column == depth - level:  # the last node of its level
                return self.decoder_channels[depth - 1 - level]
            return encoder_channels[level - 1]  # the encoder's map X^{k,0} and the level's other nodes

        def skip_width(level: int, column: int) -> int:  # X^{k,0..j-1}; level 0 has no encoder map
            return column * encoder_channels[level - 1] if level > 0 else 0

        return nn.ModuleDict(
            (f"x{k}_{j}", DecoderBlock(width(k + 1, j - 1), skip_width(k, j), width(k, j)))
            for k, j in self.node_positions()
        )

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """``X^{0,depth}`` from the encoder's maps ``X^{1..depth,0}`` (shallowest first)."""
        grid = {(level, 0): feature for level, feature in enumerate(features, start=1)}  # X^{k,0}: (B, C_k, H / 2^k, W / 2^k)
        for k, j in self.node_positions():
            same_level = [grid[k, m] for m in reversed(range(j)) if (k, m) in grid]
            grid[k, j] = self.decoder[f"x{k}_{j}"](grid[k + 1, j - 1], same_level)  # (B, width, H / 2^k, W / 2^k)
        return grid[0, self.depth]  # (B, decoder_channels[-1], H, W)

    def decoder_key(self, key: str) -> str:
        """smp's ``decoder.blocks.x_{D}_{L}.conv1.0.weight`` -> ``decoder.x{k}_{j}.conv1.weight``.

        smp's node ``x_{D}_{L}`` is at level ``k = depth - 1 - L`` and column ``j = L - D + 1``.
        """

        def rename(match: re.Match) -> str:
            node, layer = int(match[1]), int(match[2])
            return f"decoder.x{self.depth - 1 - layer}_{layer - node + 1}."

        return smp_block_key(_SMP_NODE.sub(rename, key))


def _register(encoder: str, params: int):
    return register_model(
        family="unet",
        task="segmentation",
        paper=PAPER,
        input_size=(3, 256, 256),
        num_classes=1,
        deviations="segmentation_models_pytorch's UNet++ decoder: nearest up-sampling, 3x3 convs with batch norm, "
        "the last node of each level at widths 256-16, the others at the encoder's; no deep supervision; a 3x3 "
        f"head; the backbone is a {encoder} classifier's stages; sides must be multiples of 32.",
        notes={
            "layout": f"segmentation_models_pytorch 0.6.0 smp.UnetPlusPlus({encoder!r}): its state dicts load "
            "(remap_state_dict) with identical outputs",
            "encoder": encoder,
            "parameters (3 channels, 1 class), as smp": params,
        },
    )


@_register("resnet34", 26_078_609)
def unetplusplus_resnet34(**kwargs: Any) -> EncoderUNetPlusPlus:
    """UNet++ on ResNet-34 in smp's layout: 26,078,609 parameters at 1 class, as ``smp.UnetPlusPlus("resnet34")``."""
    return EncoderUNetPlusPlus("resnet34", **kwargs)


@_register("resnet50", 48_985_745)
def unetplusplus_resnet50(**kwargs: Any) -> EncoderUNetPlusPlus:
    """UNet++ on ResNet-50 in smp's layout: 48,985,745 parameters at 1 class, as ``smp.UnetPlusPlus("resnet50")``."""
    return EncoderUNetPlusPlus("resnet50", **kwargs)


@_register("mobilenet_v2", 6_824_721)
def unetplusplus_mobilenet_v2(**kwargs: Any) -> EncoderUNetPlusPlus:
    """UNet++ on MobileNetV2 in smp's layout: 6,824,721 parameters at 1 class, as ``smp.UnetPlusPlus("mobilenet_v2")``."""
    return EncoderUNetPlusPlus("mobilenet_v2", **kwargs)
