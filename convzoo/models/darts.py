"""DARTS: the operations and cells of Differentiable Architecture Search, and the network of a found cell.

Paper: DARTS: Differentiable Architecture Search (Hanxiao Liu, Karen Simonyan, Yiming Yang, ICLR 2019)
https://arxiv.org/abs/1806.09055

DARTS searches for a *cell*, a small directed acyclic graph of 2 input nodes (the outputs of the two
previous cells), 4 intermediate nodes and one output, the concatenation of the intermediate nodes
(Sec. 2.1). Every intermediate node sums two of the earlier nodes, each passed through an operation of
:data:`OPS` (Sec. 3.1): separable convs 3x3 and 5x5, dilated separable convs 3x3 and 5x5, max and average
pooling 3x3, the identity and the zero operation. A network stacks normal cells, which keep the
resolution, and reduction cells, where the operations on the cell inputs take stride 2 and the width
doubles, at 1/3 and 2/3 of the depth.

A found cell pair is a *genotype* (:class:`DartsGenotype`), here a JSON-ready dict::

    {"space": "darts",
     "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ...],   # 2 entries per node: (op, input)
     "normal_concat": [2, 3, 4, 5],
     "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ...],
     "reduce_concat": [2, 3, 4, 5]}

where input 0 and 1 are the outputs of the cells two back and one back and input ``k >= 2`` is the
intermediate node ``k - 2``. :data:`DARTS_V2` is the paper's cell found with the second-order
approximation (Fig. 4 and 5), :data:`DARTS_V1` the first-order one.

:class:`DartsNet` is the paper's CIFAR-10 evaluation network (Sec. 3.2, A.2): a 3x3 conv stem of
``3 * init_channels`` channels, ``layers`` cells, an auxiliary head after the cell at 2/3 depth (weight 0.4),
global pooling and a linear layer; each cell first maps its two inputs to its width with ReLU-conv1x1-BN
(or a factorised reduction when the previous cell halved the resolution). The supernet of the search,
with every edge a mixture of all operations, is :mod:`convzoo.nas.darts_search`.

Deviations:
    - Drop path (the paper's 0.2, ramped linearly over the epochs in the reference code) is a constant
      ``drop_path`` argument, 0.0 by default; a training loop can ramp ``model.drop_path``.
    - The factorised reduction pads an odd-sized input by one pixel (right, bottom), so any input size works;
      the reference code needs even sides.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.models._genotype import as_genotype, load_genotype
from convzoo.models._classifier import AuxLogits, ImageClassifier, check_image_input, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = [
    "DARTS_V1",
    "DARTS_V2",
    "OPS",
    "PRIMITIVES",
    "DartsCell",
    "DartsGenotype",
    "DartsNet",
    "FactorizedReduce",
    "ReLUConvBN",
    "darts_net",
    "drop_path",
    "to_genotype",
]

PAPER = Paper(
    title="DARTS: Differentiable Architecture Search",
    authors="Hanxiao Liu, Karen Simonyan, Yiming Yang",
    venue="ICLR",
    year=2019,
    url="https://arxiv.org/abs/1806.09055",
)

DEVIATIONS = (
    "Drop path is a constant argument (0.0 by default) instead of the reference's linear ramp to 0.2; the "
    "factorised reduction pads odd sides by one pixel so any input size works."
)

# Keep the input check a single node when the network is traced with torch.fx (receptive field, folding).
torch.fx.wrap("check_image_input")


# ----------------------------------------------------------------------------------------------- operations


class Zero(nn.Module):
    """The zero operation ('none'): no connection; at stride 2 it still halves the resolution."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU, conv, batch norm: the preprocessing of a cell's inputs."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, one shifted by a pixel, concatenated (Zoph et al.)."""

    def __init__(self, in_channels: int, out_channels: int, affine: bool = True) -> None:
        super().__init__()
        if out_channels % 2:
            raise ConvzooError(f"FactorizedReduce: expected an even out_channels, got {out_channels}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        x = F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))  # odd sides: one pixel more (a deviation)
        x = torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1)  # (B, C_out, H / 2, W / 2)
        return self.bn(x)


def _dw_pw(channels: int, out_channels: int, kernel_size: int, stride: int, dilation: int) -> list[nn.Module]:
    """A depthwise conv then a pointwise conv, without bias."""
    padding = dilation * (kernel_size - 1) // 2
    return [
        nn.Conv2d(channels, channels, kernel_size, stride, padding, dilation=dilation, groups=channels, bias=False),
        nn.Conv2d(channels, out_channels, 1, bias=False),
    ]


class SepConv(nn.Sequential):
    """The paper's separable conv: ReLU-dwconv-pwconv-BN applied twice (the stride in the first)."""

    def __init__(self, channels: int, kernel_size: int, stride: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False), *_dw_pw(channels, channels, kernel_size, stride, 1),
            nn.BatchNorm2d(channels, affine=affine),
            nn.ReLU(inplace=False), *_dw_pw(channels, channels, kernel_size, 1, 1),
            nn.BatchNorm2d(channels, affine=affine),
        )


class DilConv(nn.Sequential):
    """The paper's dilated separable conv: ReLU, dilated (2) depthwise conv, pointwise conv, BN."""

    def __init__(self, channels: int, kernel_size: int, stride: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False), *_dw_pw(channels, channels, kernel_size, stride, 2),
            nn.BatchNorm2d(channels, affine=affine),
        )


def _skip(channels: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)


OpBuilder = Callable[[int, int, bool], nn.Module]

# name -> builder(channels, stride, affine); the order is the reference code's (alphas' columns follow it).
OPS: dict[str, OpBuilder] = {
    "none": lambda c, stride, affine: Zero(stride),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride, padding=1),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(3, stride, padding=1, count_include_pad=False),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, 3, stride, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, 5, stride, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, 3, stride, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, 5, stride, affine),
}
PRIMITIVES: tuple[str, ...] = tuple(OPS)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability ``drop_prob``, rescaling the kept ones."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


# ------------------------------------------------------------------------------------------------- genotype

Gene = tuple[tuple[str, int], ...]


def _gene(values: Any, field: str) -> Gene:
    """Validate the (op, input) list of one cell type."""
    if not isinstance(values, (list, tuple)) or not values or len(values) % 2:
        raise ConvzooError(f"genotype {field}: expected a non-empty list of [op, input] pairs, 2 per node, "
                           f"got {values!r}")
    pairs = []
    for index, pair in enumerate(values):
        node = index // 2
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConvzooError(f"genotype {field}[{index}]: expected [op, input], got {pair!r}")
        op, source = pair
        if op not in OPS or op == "none":
            raise ConvzooError(f"genotype {field}[{index}]: expected an op of {', '.join(PRIMITIVES[1:])}, "
                               f"got {op!r}")
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node + 2:
            raise ConvzooError(f"genotype {field}[{index}]: expected an input in 0..{node + 1} for node {node}, "
                               f"got {source!r}")
        pairs.append((op, source))
    return tuple(pairs)


def _concat(values: Any, field: str, nodes: int) -> tuple[int, ...]:
    ok = (isinstance(values, (list, tuple)) and values
          and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < nodes + 2 for v in values))
    if not ok or list(values) != sorted(set(values)):
        raise ConvzooError(f"genotype {field}: expected increasing node indices in 0..{nodes + 1}, got {values!r}")
    return tuple(values)


_KEYS = ("space", "normal", "normal_concat", "reduce", "reduce_concat")


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS cell pair: per cell type, 2 (op, input) pairs per intermediate node and the concatenated nodes."""

    normal: Gene
    normal_concat: tuple[int, ...]
    reduce: Gene
    reduce_concat: tuple[int, ...]

    SPACE = "darts"

    @classmethod
    def from_dict(cls, values: Any) -> DartsGenotype:
        """Validate a genotype dict; a bad one fails in one line naming the field and what was expected."""
        if not isinstance(values, Mapping):
            raise ConvzooError(f"genotype: expected a dict with the keys {', '.join(_KEYS)}, "
                               f"got {type(values).__name__}")
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            raise ConvzooError(f"genotype {unknown[0]}: unknown key; expected only {', '.join(_KEYS)}")
        missing = [key for key in _KEYS if key not in values]
        if missing:
            raise ConvzooError(f"genotype {missing[0]}: missing; expected the keys {', '.join(_KEYS)}")
        if values["space"] != cls.SPACE:
            raise ConvzooError(f"genotype space: expected 'darts' (darts_net builds the darts space's genotypes), "
                               f"got {values['space']!r}")
        normal, reduce = _gene(values["normal"], "normal"), _gene(values["reduce"], "reduce")
        return cls(
            normal=normal,
            normal_concat=_concat(values["normal_concat"], "normal_concat", len(normal) // 2),
            reduce=reduce,
            reduce_concat=_concat(values["reduce_concat"], "reduce_concat", len(reduce) // 2),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> DartsGenotype:
        """Read and validate a genotype from a JSON file."""
        return load_genotype(cls, path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.SPACE,
            "normal": [[op, source] for op, source in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, source] for op, source in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


GenotypeLike = DartsGenotype | Mapping[str, Any] | str | os.PathLike | None


def _genes(pairs: Sequence[tuple[str, int]]) -> Gene:
    return tuple((op, source) for op, source in pairs)


# The cells of the paper's Fig. 4 and 5 (second order, DARTS_V2) and of its first-order search (DARTS_V1),
# as the reference code's genotypes.py lists them.
DARTS_V2 = DartsGenotype(
    normal=_genes([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)]),
    normal_concat=(2, 3, 4, 5),
    reduce=_genes([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)]),
    reduce_concat=(2, 3, 4, 5),
)
DARTS_V1 = DartsGenotype(
    normal=_genes([("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
                   ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)]),
    normal_concat=(2, 3, 4, 5),
    reduce=_genes([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
                   ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)]),
    reduce_concat=(2, 3, 4, 5),
)


def to_genotype(genotype: GenotypeLike) -> DartsGenotype:
    """A :class:`DartsGenotype` from a dict, a genotype, the path of a JSON file, or ``None`` (:data:`DARTS_V2`)."""
    return as_genotype(genotype, DartsGenotype, DARTS_V2)


# ------------------------------------------------------------------------------------------------ the network


class DartsCell(nn.Module):
    """A discrete cell: preprocess both inputs, each node sums two operated earlier nodes, concatenate.

    Args:
        gene: 2 (op, input) pairs per intermediate node.
        concat: the nodes whose outputs are concatenated (2..5 for the paper's cells).
        prev_prev_channels, prev_channels: widths of the outputs of the cells two back and one back.
        channels: the cell's width per node.
        reduction: a reduction cell (its operations on the cell inputs take stride 2).
        reduction_prev: the previous cell was a reduction cell (the input two back has twice the resolution).

    Shape:
        - Input: ``s0`` ``(B, prev_prev_channels, H', W')``, ``s1`` ``(B, prev_channels, H, W)``.
        - Output: ``(B, len(concat) * channels, H / s, W / s)`` with ``s = 2`` in a reduction cell.
    """

    def __init__(self, gene: Gene, concat: Sequence[int], prev_prev_channels: int, prev_channels: int,
                 channels: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(prev_prev_channels, channels) if reduction_prev
                            else ReLUConvBN(prev_prev_channels, channels, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1, 1, 0)
        self.sources = [source for _, source in gene]
        self.ops = nn.ModuleList(
            OPS[op](channels, 2 if reduction and source < 2 else 1, True) for op, source in gene
        )
        self.concat = list(concat)
        self.out_channels = len(self.concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # both (B, C, H, W)
        for node in range(len(self.ops) // 2):
            branches = []
            for edge in (2 * node, 2 * node + 1):
                op = self.ops[edge]
                h = op(states[self.sources[edge]])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                branches.append(h)
            states.append(branches[0] + branches[1])
        return torch.cat([states[i] for i in self.concat], dim=1)  # (B, len(concat) * C, H / s, W / s)


class AuxiliaryHeadCIFAR(nn.Module):
    """The auxiliary classifier on the 8x8 map at 2/3 depth: pool 5/3 to 2x2, conv 1x1 128, conv 2x2 768, linear."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),  # (B, C, 2, 2) at 8x8
            nn.Conv2d(in_channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),  # (B, 768, 1, 1)
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = classifier_layer(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))  # (B, num_classes)


class DartsNet(ImageClassifier):
    """DARTS's CIFAR evaluation network: a stem, ``layers`` cells of a genotype, global pooling, linear.

    Args:
        genotype: the cells (see :func:`to_genotype`); ``None`` for :data:`DARTS_V2`.
        init_channels: the width of the first cells (36 in the paper's CIFAR-10 network).
        layers: the number of cells (20); reduction cells at ``layers // 3`` and ``2 * layers // 3``.
        num_classes: number of outputs.
        in_chans: input channels.
        auxiliary: build the auxiliary head after the cell at 2/3 depth (run in training mode only; it needs
            at least 32x32 inputs).
        drop_path: probability of dropping each non-identity branch of a cell in training (the paper's 0.2).
        stem_multiplier: the stem's width over ``init_channels`` (3).

    Shape:
        - Input: ``(B, in_chans, H, W)``, 32x32 for CIFAR.
        - Output: ``(B, num_classes)``; in training mode with ``auxiliary``, ``AuxLogits(logits, aux=(aux,))``.
    """

    # The auxiliary loss is added with this weight (Sec. A.2).
    aux_loss_weight = 0.4
    # The auxiliary head's 5x5 pooling and 2x2 conv need the 8x8 map of a 32x32 input.
    aux_min_input_size = 32

    def __init__(
        self,
        genotype: GenotypeLike = None,
        init_channels: int = 36,
        layers: int = 20,
        num_classes: int = 10,
        in_chans: int = 3,
        auxiliary: bool = True,
        drop_path: float = 0.0,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        if layers < 3:
            raise ConvzooError(f"darts_net: expected layers >= 3 (two of them reduction cells), got {layers}")
        if init_channels < 1 or init_channels % 2:
            raise ConvzooError(f"darts_net: expected an even init_channels >= 2, got {init_channels}")
        self.genotype = to_genotype(genotype)
        self.in_chans, self.num_classes = in_chans, num_classes
        self.drop_path = drop_path
        self.auxiliary = auxiliary
        self.aux_head_names: tuple[str, ...] = ("auxiliary_head",) if auxiliary else ()
        g = self.genotype
        stem_channels = stem_multiplier * init_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )
        self.feature_info: list[dict] = []
        self.aux_position = 2 * layers // 3
        prev_prev, prev, channels = stem_channels, stem_channels, init_channels
        reduction_prev, reduction = False, 1
        cells: list[DartsCell] = []
        aux_channels = prev
        for index in range(layers):
            is_reduction = index in (layers // 3, 2 * layers // 3)
            if is_reduction:
                channels *= 2
                reduction *= 2
                # The map before the reduction is a stage's output.
                self.feature_info.append(dict(num_chs=prev, reduction=reduction // 2,
                                              module=f"cells.{index - 1}" if index else "stem"))
            gene, concat = (g.reduce, g.reduce_concat) if is_reduction else (g.normal, g.normal_concat)
            cell = DartsCell(gene, concat, prev_prev, prev, channels, is_reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = is_reduction
            prev_prev, prev = prev, cell.out_channels
            if index == self.aux_position:
                aux_channels = prev
        self.cells = nn.ModuleList(cells)
        self.feature_info.append(dict(num_chs=prev, reduction=reduction, module=f"cells.{layers - 1}"))
        self.auxiliary_head = AuxiliaryHeadCIFAR(aux_channels, num_classes) if auxiliary else None
        self.num_features = prev
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier_layer(prev, num_classes)

    def _features(self, x: torch.Tensor, aux: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The last cell's output; appends the auxiliary head's logits to ``aux`` when it is a list."""
        s0 = s1 = self.stem(x)  # (B, 3C, H, W)
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path)
            if aux is not None and index == self.aux_position:
                aux.append(self.auxiliary_head(s1))  # at (B, 4 * 4C, H / 4, W / 4)
        return s1  # (B, 4 * 4C, H / 4, W / 4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pooling(x), 1)  # (B, num_features)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxLogits:
        check_image_input(x, self.in_chans, self.min_input_size, self.fixed_input_size, type(self).__name__)
        if self.training and self.auxiliary:
            aux: list[torch.Tensor] = []
            logits = self.forward_head(self._features(x, aux))
            return AuxLogits(logits, tuple(aux))
        return self.forward_head(self._features(x))

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier and the auxiliary head's last layer, both for ``num_classes``."""
        self.num_classes = num_classes
        self.classifier = classifier_layer(self.num_features, num_classes)
        if self.auxiliary_head is not None:
            self.auxiliary_head.classifier = classifier_layer(768, num_classes)


@register_model(
    family="nas", paper=PAPER, input_size=(3, 32, 32), num_classes=10, deviations=DEVIATIONS,
    notes={
        "paper_test_error": "2.76 +- 0.09% on CIFAR-10 (DARTS second order, 3.3M parameters, cutout)",
        "aux_loss_weight": 0.4,
        "search": "first/second-order bilevel optimisation of softmax-relaxed mixed operations (convzoo.nas)",
    },
)
def darts_net(genotype: GenotypeLike = None, init_channels: int = 36, layers: int = 20, **kwargs: Any) -> DartsNet:
    """DARTS's CIFAR-10 network of a genotype (default DARTS_V2): 20 cells of width 36, 3.35M parameters
    without the auxiliary head."""
    return DartsNet(genotype, init_channels=init_channels, layers=layers, **kwargs)
