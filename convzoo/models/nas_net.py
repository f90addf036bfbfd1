"""A network of MnasNet's search space, built from a genotype: what a neural architecture search found.

Paper: MnasNet: Platform-Aware Neural Architecture Search for Mobile (Mingxing Tan, Bo Chen,
Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le, CVPR 2019)
https://arxiv.org/abs/1807.11626

MnasNet's *factorised hierarchical* space (Sec. 4.1) splits the network into stages and lets each
stage choose its own blocks: how many, the depthwise kernel, the expansion ratio, squeeze-and-excitation
or not, the output width. A network of the space is therefore a short list of per-stage choices, the
*genotype*; here a JSON-ready dict (the search space is :mod:`convzoo.nas.mnas_space`)::

    {"space": "mnas",
     "stem": {"out_channels": 32, "stride": 1},
     "stages": [{"blocks": 2, "kernel_size": 5, "expand_ratio": 6, "se": true, "out_channels": 24, "stride": 2},
                ...],
     "head_channels": 1280}

:class:`NasNet` builds it as MnasNet and MobileNetV2 are built: a 3x3 conv stem, per stage ``blocks``
inverted residual blocks (:class:`~convzoo.blocks.inverted_residual.InvertedResidual`, the first with the
stage's stride), a 1x1 conv to ``head_channels``, global average pooling and a linear layer. Squeeze-and-
excitation sits on the expanded width after the depthwise conv, its bottleneck a quarter of the block's
*input* width, as in MnasNet-A1 and EfficientNet; the activation is ReLU, MnasNet's.

:meth:`NasNet.latency_units` cuts the network into the pieces a per-block latency table holds (FBNet,
ProxylessNAS): the stem, each block, the head, each with a key that fixes its latency, so a search can sum
a candidate's latency from blocks measured once (:mod:`convzoo.nas.latency`).

The default genotype is MobileNetV2-CIFAR (``mobilenet_v2_cifar``'s table as a genotype: kernel 3,
expansion 6, no SE), the mnas space's reference point; with ``act_layer=nn.ReLU6`` it is that network,
parameter for parameter.

Deviations:
    - Not a network of a paper: a genotype of the search space. MnasNet searched on ImageNet with a
      separable-conv first stage and kernels 3 and 5; this space adds kernel 7 and works at CIFAR size.
    - PyTorch's default batch-norm momentum (MnasNet's 0.9997 would leave the running statistics of a
      few-epoch proxy run at their initial values), no dropout by default (as ``mobilenet_v2_cifar``),
      and torchvision's MobileNetV2 initialisation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from convzoo.blocks.inverted_residual import InvertedResidual
from convzoo.blocks.squeeze_excite import SqueezeExcite
from convzoo.errors import ConvzooError
from convzoo.models._genotype import as_genotype, load_genotype
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.models.mobilenet_v2 import CIFAR_TABLE, init_mobilenet_v2_weights
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, register_model

__all__ = ["DEFAULT_GENOTYPE", "MnasGenotype", "NasNet", "StageGene", "nas_net", "to_genotype"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="MnasNet: Platform-Aware Neural Architecture Search for Mobile",
    authors="Mingxing Tan, Bo Chen, Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le",
    venue="CVPR",
    year=2019,
    url="https://arxiv.org/abs/1807.11626",
)

DEVIATIONS = (
    "A genotype of the search space, not a paper's network: MnasNet's factorised hierarchical space "
    "(per stage: blocks, kernel 3/5/7, expansion, SE, width) at CIFAR size; the default genotype is "
    "MobileNetV2-CIFAR's table with ReLU. PyTorch's batch-norm momentum, no dropout by default."
)

SE_RATIO = 0.25  # the SE bottleneck: a quarter of the block's input width (MnasNet-A1, EfficientNet)


def _fail(where: str, expected: str, got: Any) -> ConvzooError:
    return ConvzooError(f"genotype {where}: expected {expected}, got {got!r}")


def _fields(values: Any, where: str, names: tuple[str, ...]) -> Mapping[str, Any]:
    """``values`` as a mapping with exactly the keys ``names``; else one line naming the key."""
    prefix = f"{where}." if where else ""
    if not isinstance(values, Mapping):
        raise ConvzooError(f"genotype{' ' + where if where else ''}: expected an object with the keys "
                           f"{', '.join(names)}, got {values!r}")
    unknown = [key for key in values if key not in names]
    if unknown:
        raise ConvzooError(f"genotype {prefix}{unknown[0]}: unknown key; expected only {', '.join(names)}")
    missing = [name for name in names if name not in values]
    if missing:
        raise ConvzooError(f"genotype {prefix}{missing[0]}: missing; expected the keys {', '.join(names)}")
    return values


def _int(value: Any, where: str, expected: str, ok: Callable[[int], bool]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
        raise _fail(where, expected, value)
    return value


@dataclass(frozen=True)
class StageGene:
    """One stage: ``blocks`` inverted residual blocks, the first with ``stride``.

    Attributes:
        blocks: number of blocks (at least 1).
        kernel_size: side of the depthwise kernel (odd).
        expand_ratio: the expansion factor ``t`` (1 leaves out the expansion conv).
        se: squeeze-and-excitation in every block of the stage.
        out_channels: width of the stage's output.
        stride: stride of the stage's first block, 1 or 2.
    """

    blocks: int
    kernel_size: int
    expand_ratio: int
    se: bool
    out_channels: int
    stride: int

    KEYS = ("blocks", "kernel_size", "expand_ratio", "se", "out_channels", "stride")

    @classmethod
    def from_dict(cls, values: Any, where: str = "stage") -> StageGene:
        values = _fields(values, where, cls.KEYS)
        if not isinstance(values["se"], bool):
            raise _fail(f"{where}.se", "true or false", values["se"])
        return cls(
            blocks=_int(values["blocks"], f"{where}.blocks", "an integer >= 1", lambda v: v >= 1),
            kernel_size=_int(values["kernel_size"], f"{where}.kernel_size", "a positive odd integer",
                             lambda v: v > 0 and v % 2 == 1),
            expand_ratio=_int(values["expand_ratio"], f"{where}.expand_ratio", "an integer >= 1", lambda v: v >= 1),
            se=values["se"],
            out_channels=_int(values["out_channels"], f"{where}.out_channels", "an integer >= 1", lambda v: v >= 1),
            stride=_int(values["stride"], f"{where}.stride", "1 or 2", lambda v: v in (1, 2)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.KEYS}


@dataclass(frozen=True)
class MnasGenotype:
    """A network of the mnas space: stem, stages, head (the JSON format in the module docstring).

    Attributes:
        stem_channels: width of the 3x3 stem conv.
        stem_stride: its stride, 1 or 2.
        stages: the stages, in order.
        head_channels: width of the 1x1 conv before pooling (the pre-logit features).
    """

    stem_channels: int
    stem_stride: int
    stages: tuple[StageGene, ...] = field(default_factory=tuple)
    head_channels: int = 1280

    KEYS = ("space", "stem", "stages", "head_channels")
    SPACE = "mnas"

    @classmethod
    def from_dict(cls, values: Any) -> MnasGenotype:
        """Validate a genotype dict; a bad one fails in one line naming the field and what was expected."""
        values = _fields(values, "", cls.KEYS)
        if values["space"] != cls.SPACE:
            raise _fail("space", f"{cls.SPACE!r} (nas_net builds the mnas space's genotypes)", values["space"])
        stem = _fields(values["stem"], "stem", ("out_channels", "stride"))
        stages = values["stages"]
        if not isinstance(stages, list) or not stages:
            raise _fail("stages", "a non-empty list of stages", stages)
        return cls(
            stem_channels=_int(stem["out_channels"], "stem.out_channels", "an integer >= 1", lambda v: v >= 1),
            stem_stride=_int(stem["stride"], "stem.stride", "1 or 2", lambda v: v in (1, 2)),
            stages=tuple(StageGene.from_dict(stage, f"stages[{i}]") for i, stage in enumerate(stages)),
            head_channels=_int(values["head_channels"], "head_channels", "an integer >= 1", lambda v: v >= 1),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> MnasGenotype:
        """Read and validate a genotype from a JSON file."""
        return load_genotype(cls, path)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict; ``from_dict(g.to_dict()) == g``."""
        return {
            "space": self.SPACE,
            "stem": {"out_channels": self.stem_channels, "stride": self.stem_stride},
            "stages": [stage.to_dict() for stage in self.stages],
            "head_channels": self.head_channels,
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


GenotypeLike = Mapping[str, Any] | MnasGenotype | str | os.PathLike | None


def to_genotype(genotype: GenotypeLike) -> MnasGenotype:
    """A dict, a :class:`MnasGenotype`, a path to a JSON file, or ``None`` (:data:`DEFAULT_GENOTYPE`)."""
    return as_genotype(genotype, MnasGenotype, DEFAULT_GENOTYPE)


# MobileNetV2-CIFAR's rows (t, c, n, s) as a genotype: the mnas space's reference point.
DEFAULT_GENOTYPE = MnasGenotype(
    stem_channels=32,
    stem_stride=1,
    stages=tuple(StageGene(n, 3, t, False, c, s) for t, c, n, s in CIFAR_TABLE),
    head_channels=1280,
)


def _side(size: int, kernel_size: int, stride: int) -> int:
    """Output side of a conv with "same" padding ``k // 2``: ``ceil(size / stride)`` for odd kernels."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // stride + 1


class _Head(nn.Module):
    """The head conv, pooling and classifier as one module: the last unit of :meth:`NasNet.latency_units`."""

    def __init__(self, conv: nn.Module, pool: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.conv, self.pool, self.classifier = conv, pool, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.conv(x)), 1))  # (B, num_classes)


class NasNet(ImageClassifier):
    """A 3x3 conv stem, stages of inverted residual blocks by genotype, a 1x1 conv, pooling, linear.

    Args:
        genotype: the architecture (see :func:`to_genotype`).
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        dropout: dropout probability before the classifier.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments (ReLU, MnasNet's).

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its (odd) kernel, so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        genotype: GenotypeLike = None,
        *,
        num_classes: int = 10,
        in_chans: int = 3,
        dropout: float = 0.0,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.genotype = to_genotype(genotype)
        self.in_chans, self.num_classes = in_chans, num_classes
        g = self.genotype
        self.stem = ConvNormAct(in_chans, g.stem_channels, 3, stride=g.stem_stride, norm_layer=norm_layer,
                                act_layer=act_layer)
        self.feature_info: list[dict] = []
        reduction, in_channels = g.stem_stride, g.stem_channels
        if g.stages[0].stride > 1:  # the stem's map is a resolution of its own
            self.feature_info.append(dict(num_chs=in_channels, reduction=reduction, module="stem"))
        stages = []
        for number, stage in enumerate(g.stages):
            blocks = []
            for i in range(stage.blocks):
                se = partial(SqueezeExcite, reduced_channels=max(1, int(in_channels * SE_RATIO)), act_layer=act_layer)
                blocks.append(InvertedResidual(
                    in_channels, stage.out_channels, stage.kernel_size, stage.stride if i == 0 else 1,
                    stage.expand_ratio, norm_layer=norm_layer, act_layer=act_layer,
                    attn_layer=se if stage.se else None, key_layout="efficientnet",
                ))
                in_channels = stage.out_channels
            stages.append(nn.Sequential(*blocks))
            reduction *= stage.stride
            # A resolution ends where the next stage downsamples, or at the last stage.
            if number + 1 == len(g.stages) or g.stages[number + 1].stride > 1:
                self.feature_info.append(dict(num_chs=in_channels, reduction=reduction, module=f"stages.{number}"))
        self.stages = nn.Sequential(*stages)
        self.num_features = g.head_channels
        self.head = ConvNormAct(in_channels, g.head_channels, 1, norm_layer=norm_layer, act_layer=act_layer)
        self.feature_info.append(dict(num_chs=g.head_channels, reduction=reduction, module="head"))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), classifier_layer(g.head_channels, num_classes))
        init_mobilenet_v2_weights(self)

    def latency_units(self, input_size: tuple[int, ...]) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
        """The network cut into the pieces of a per-block latency table, in order.

        Args:
            input_size: ``(C, H, W)`` of the input (a leading batch dimension is allowed and kept).

        Returns:
            ``(key, module, input shape)`` per unit: the stem, each block, and the head (1x1 conv,
            pooling and classifier); the key holds everything that fixes the unit's latency, so equal
            keys can share one measurement. Running the units one after another is ``forward``.
        """
        if len(input_size) not in (3, 4):
            raise ConvzooError(f"latency_units takes the input size (C, H, W), got {tuple(input_size)}")
        batch, channels, height, width = (1, *input_size) if len(input_size) == 3 else tuple(input_size)
        g = self.genotype
        units = [(f"stem:in={channels},out={g.stem_channels},k=3,s={g.stem_stride},hw={height}x{width}",
                  self.stem, (batch, channels, height, width))]
        height, width = _side(height, 3, g.stem_stride), _side(width, 3, g.stem_stride)
        in_channels = g.stem_channels
        for stage, blocks in zip(g.stages, self.stages):
            for block in blocks:
                key = (f"ir:in={in_channels},out={stage.out_channels},k={stage.kernel_size},t={stage.expand_ratio},"
                       f"se={int(stage.se)},s={block.stride},hw={height}x{width}")
                units.append((key, block, (batch, in_channels, height, width)))
                height, width = _side(height, stage.kernel_size, block.stride), _side(width, stage.kernel_size,
                                                                                       block.stride)
                in_channels = stage.out_channels
        head = _Head(self.head, self.avgpool, self.classifier)
        key = f"head:in={in_channels},out={g.head_channels},classes={self.num_classes},hw={height}x{width}"
        units.append((key, head, (batch, in_channels, height, width)))
        return units

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # (B, C_last, H / 8, W / 8) for the default genotype
        return self.head(x)  # (B, head_channels, H', W')

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, head_channels)
        return x if pre_logits else self.classifier(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = classifier_layer(self.num_features, num_classes)


@register_model(
    family="nas", paper=PAPER, input_size=(3, 32, 32), num_classes=10, deviations=DEVIATIONS,
    notes={"genotype": "a dict, a MnasGenotype or a JSON file (convzoo search's best.json); default MobileNetV2-CIFAR"},
)
def nas_net(genotype: GenotypeLike = None, **kwargs: Any) -> NasNet:
    """A network of the mnas search space from its genotype; MobileNetV2-CIFAR's when ``None``."""
    kwargs.setdefault("num_classes", 10)
    return NasNet(genotype, **kwargs)
