"""UNet++: a U-Net whose skip connections are nested, dense convolution pathways.

Paper: UNet++: A Nested U-Net Architecture for Medical Image Segmentation (Z. Zhou,
M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, DLMIA 2018) https://arxiv.org/abs/1807.10165

In a U-Net the decoder joins encoder maps that are semantically far from its own. UNet++
bridges the gap with a grid of nodes ``X^{i,j}``: level ``i`` (resolution ``1 / 2^i``),
column ``j``. Column 0 is the encoder (backbone); every other node concatenates all the
nodes before it at its level and the up-sampled node below-left, then applies two 3x3
convs (Eq. 1 of the paper, ``H`` a conv block, ``U`` an up-sampling)::

    x^{i,0} = H(pool(x^{i-1,0}))
    x^{i,j} = H([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})])      j > 0

              X00 ── X01 ── X02 ── X03 ── X04        4 heads: 1x1 convs on X01..X04
                 X10 ── X11 ── X12 ── X13
                    X20 ── X21 ── X22
                       X30 ── X31
                          X40

*Deep supervision* puts a 1x1 head on each of ``X^{0,1..4}``, and the loss sums over the
four: in training mode such a network returns the list of the four maps (as GoogLeNet
returns its auxiliary logits), in eval mode the map of its mode. At inference, *accurate*
mode averages the four maps; *fast* mode takes one, and taking the head of ``X^{0,L}``
needs only the nodes with ``i + j <= L``: the network can be *pruned* to its sub-network
UNet++ L^L (:meth:`UNetPlusPlus.pruned`), which runs a fraction of the MACs.

Table 1 of the paper compares, with backbone filters 32, 64, 128, 256, 512 and two 3x3
convs per node: U-Net 7.76M, wide U-Net (filters 35, 70, 140, 280, 560) 9.13M and UNet++
9.04M parameters. Built here (1 input channel, 1 class, the paper's binary maps; see
``PARAMS_TABLE1``): U-Net 7,759,521 (the paper's 7.76M); wide U-Net 9,282,246 (0.15M
more than the paper's 9.13M, which the 35-filter U-Net of the same design cannot give:
``7.76M x (35 / 32)^2 = 9.28M``; the paper does not say how its wide U-Net differs);
UNet++ 9,041,700 with deep supervision (four heads) and 9,041,601 without (one head),
both the paper's 9.04M. None has batch norm; every conv has a bias; padding does not
change a count.

Deviations:
    Convs are same-padded (the output has the input's size, a multiple of 16) and have
    no batch norm or dropout unless ``norm_layer`` is given; the paper's text specifies
    only two 3x3 convs per node. Up-sampling is a 2x2 transposed conv of stride 2 to the
    node's level's width, one per node. In accurate mode the four maps' logits are
    averaged (the paper averages the maps).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import torch
import torch.fx
from torch import nn

from convzoo.blocks.unet import DoubleConv, LayerFactory, conv_layer, max_pool_layer
from convzoo.models.unet import check_unet_input, init_unet_weights, unet_widths
from convzoo.registry import Paper, register_model

__all__ = ["NestedNode", "UNetPlusPlus", "PrunedUNetPlusPlus", "PARAMS_TABLE1", "unetplusplus"]

PAPER = Paper(
    title="UNet++: A Nested U-Net Architecture for Medical Image Segmentation",
    authors="Z. Zhou, M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang",
    venue="DLMIA (MICCAI workshop)",
    year=2018,
    url="https://arxiv.org/abs/1807.10165",
)

torch.fx.wrap("check_unet_input")

# Parameters in the configuration of Table 1 (1 input channel, 1 class): the paper's, and convzoo's.
PARAMS_TABLE1 = {
    "U-Net (32-512)": {"paper": "7.76M", "convzoo": 7_759_521},
    "wide U-Net (35-560)": {"paper": "9.13M", "convzoo": 9_282_246},
    "UNet++ w/o deep supervision": {"paper": "9.04M", "convzoo": 9_041_601},
    "UNet++ w/ deep supervision": {"paper": "9.04M", "convzoo": 9_041_700},
}


class NestedNode(nn.Module):
    """A node ``X^{i,j}``, ``j > 0``: up-sample the node below, concatenate the level's earlier nodes, double conv.

    Args:
        in_channels: channels of the node below, ``X^{i+1,j-1}``.
        out_channels: channels of this level (of every node ``X^{i,*}``).
        column: ``j``, the number of earlier nodes at this level.
        norm_layer: norm after each 3x3 conv; ``None`` for none.
        act_layer: activation after each 3x3 conv.

    Shape:
        (B, in_channels, H/2, W/2) and ``column`` maps (B, out_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        column: int,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.conv = DoubleConv((column + 1) * out_channels, out_channels, padding=1, norm_layer=norm_layer,
                               act_layer=act_layer)  # fmt: skip

    def forward(self, below: torch.Tensor, same_level: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([*same_level, self.up(below)], dim=1)  # (B, (j + 1) C, H, W)
        return self.conv(x)  # (B, C, H, W)


def _node_names(depth: int) -> list[tuple[int, int]]:
    """``(i, j)`` of the nodes of UNet++ L^depth in the order they run: each backbone node, then its diagonal."""
    return [(k - j, j) for k in range(depth + 1) for j in range(k + 1)]


def _run_nodes(nodes: nn.ModuleDict, x: torch.Tensor, depth: int) -> list[torch.Tensor]:
    """The maps ``X^{0,1..depth}``, computing only the nodes with ``i + j <= depth``."""
    grid: dict[tuple[int, int], torch.Tensor] = {}
    for i, j in _node_names(depth):
        node = nodes[f"x{i}_{j}"]
        if j == 0:
            grid[i, 0] = node(x if i == 0 else grid[i - 1, 0])  # (B, C_i, H / 2^i, W / 2^i)
        else:
            grid[i, j] = node(grid[i + 1, j - 1], [grid[i, m] for m in range(j)])
    return [grid[0, j] for j in range(1, depth + 1)]


class UNetPlusPlus(nn.Module):
    """UNet++: nested dense skip pathways and deep supervision.

    Args:
        in_chans: channels of the input image.
        num_classes: channels of the output map (1 for the paper's binary segmentation).
        widths: filters of each level, top to bottom; ``len(widths) - 1`` pools (4 in the paper).
        deep_supervision: a 1x1 head on each of ``X^{0,1..depth}``; else one head, on ``X^{0,depth}``.
        mode: ``"accurate"`` (average the heads' maps) or ``"fast"`` (the map of one head).
        fast_depth: in fast mode, the ``L`` of the head ``X^{0,L}`` taken (default: the last);
            only the nodes that head needs run.
        norm_layer: norm after every 3x3 conv; ``None`` for none (the paper's).
        act_layer: activation after every 3x3 conv.

    Shape:
        (B, in_chans, H, W) -> (B, num_classes, H, W), H and W multiples of ``2 ** depth``; in
        training mode with deep supervision a list of ``depth`` such maps, ``X^{0,1}``'s first.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 1,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        deep_supervision: bool = True,
        mode: str = "accurate",
        fast_depth: int | None = None,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        depth = len(widths) - 1
        if depth < 1:
            raise ValueError(f"UNet++ needs at least two levels of widths, got {tuple(widths)}")
        if mode not in ("accurate", "fast"):
            raise ValueError(f"mode must be 'accurate' or 'fast', got {mode!r}")
        fast_depth = depth if fast_depth is None else fast_depth
        if not 1 <= fast_depth <= depth:
            raise ValueError(f"fast_depth must be in 1..{depth}, got {fast_depth}")
        if not deep_supervision and (mode == "accurate" or fast_depth != depth):
            raise ValueError("without deep supervision there is one head, on X^{0,depth}: use mode='fast' "
                             "with the default fast_depth")  # fmt: skip
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.widths = tuple(widths)
        self.depth = depth
        self.deep_supervision = deep_supervision
        self.mode = mode
        self.fast_depth = fast_depth
        block = dict(norm_layer=norm_layer, act_layer=act_layer)
        nodes: dict[str, nn.Module] = {}
        for i, j in _node_names(depth):
            if j > 0:
                nodes[f"x{i}_{j}"] = NestedNode(widths[i + 1], widths[i], j, **block)
            elif i == 0:
                nodes["x0_0"] = DoubleConv(in_chans, widths[0], padding=1, **block)
            else:
                conv = DoubleConv(widths[i - 1], widths[i], padding=1, **block)
                nodes[f"x{i}_0"] = nn.Sequential(max_pool_layer(2)(2), conv)
        self.nodes = nn.ModuleDict(nodes)
        self.heads = nn.ModuleList(
            conv_layer(2)(widths[0], num_classes, 1) for _ in range(depth if deep_supervision else 1)
        )
        self.feature_info = [dict(num_chs=w, reduction=2**i, module=f"nodes.x{i}_0") for i, w in enumerate(widths)]
        init_unet_weights(self)

    def forward_heads(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every head's map, ``X^{0,1}`` first (one without deep supervision): what the loss sums over."""
        check_unet_input(x, self.in_chans, self.depth, True, 2, type(self).__name__)
        maps = _run_nodes(self.nodes, x, self.depth)
        if not self.deep_supervision:
            return [self.heads[0](maps[-1])]
        return [head(m) for head, m in zip(self.heads, maps)]  # each (B, num_classes, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.training and self.deep_supervision:
            return self.forward_heads(x)  # every head's map, for the deep-supervision loss
        if self.mode == "accurate":
            maps = self.forward_heads(x)
            total = maps[0]
            for m in maps[1:]:
                total = total + m
            return total * (1.0 / len(maps))  # (B, num_classes, H, W): the heads' average
        check_unet_input(x, self.in_chans, self.fast_depth, True, 2, type(self).__name__)
        maps = _run_nodes(self.nodes, x, self.fast_depth)
        head = self.heads[self.fast_depth - 1] if self.deep_supervision else self.heads[0]
        return head(maps[-1])  # (B, num_classes, H, W)

    def pruned(self, depth: int) -> PrunedUNetPlusPlus:
        """UNet++ L^depth: the nodes with ``i + j <= depth`` and the head of ``X^{0,depth}``, sharing the weights."""
        if not 1 <= depth <= self.depth:
            raise ValueError(f"depth must be in 1..{self.depth}, got {depth}")
        if not self.deep_supervision and depth != self.depth:
            raise ValueError(f"without deep supervision only X^{{0,{self.depth}}} has a head: prune to {self.depth}")
        head = self.heads[depth - 1] if self.deep_supervision else self.heads[0]
        return PrunedUNetPlusPlus(self, depth, head)


class PrunedUNetPlusPlus(nn.Module):
    """The sub-network UNet++ L^depth of a trained :class:`UNetPlusPlus`, for fast inference.

    Holds only the nodes with ``i + j <= depth`` and one head (the parent's modules,
    shared, not copied), so its parameters and MACs are those of the pruned network.

    Args:
        parent: the full network.
        depth: ``L``, the level of the head ``X^{0,L}`` kept.
        head: that head.

    Shape:
        (B, in_chans, H, W) -> (B, num_classes, H, W), H and W multiples of ``2 ** depth``.
    """

    def __init__(self, parent: UNetPlusPlus, depth: int, head: nn.Module) -> None:
        super().__init__()
        self.in_chans = parent.in_chans
        self.num_classes = parent.num_classes
        self.depth = depth
        self.nodes = nn.ModuleDict({f"x{i}_{j}": parent.nodes[f"x{i}_{j}"] for i, j in _node_names(depth)})
        self.head = head
        self.feature_info = parent.feature_info[: depth + 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_unet_input(x, self.in_chans, self.depth, True, 2, type(self).__name__)
        return self.head(_run_nodes(self.nodes, x, self.depth)[-1])  # (B, num_classes, H, W)


@register_model(
    family="unet",
    task="segmentation",
    paper=PAPER,
    input_size=(1, 96, 96),
    num_classes=1,
    deviations="Same-padded convs without batch norm or dropout; the accurate mode averages the heads' logits.",
    notes={
        "parameters, paper Table 1 (filters 32-512, 1 channel, 1 class)": PARAMS_TABLE1,
        "why the counts differ": "U-Net and UNet++ match; the paper's wide U-Net is 0.15M below a 35-560 U-Net of "
        "the same design (7.76M x (35/32)^2 = 9.28M), for a reason the paper does not give. Padding does not change "
        "a count; none of the networks has batch norm; deep supervision adds 3 heads of 33 parameters",
        "pruning": "model.pruned(L) keeps the nodes with i + j <= L (UNet++ L^1..L^4); mode='fast' with "
        "fast_depth=L runs the same nodes",
    },
)
def unetplusplus(base_width: int = 32, **kwargs: Any) -> UNetPlusPlus:
    """UNet++ L^4 with deep supervision, filters 32-512: 9,041,700 parameters (1 channel, 1 class)."""
    return UNetPlusPlus(**{"widths": unet_widths(base_width), **kwargs})
