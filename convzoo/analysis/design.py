"""Worked design comparisons: what a 1x1 bottleneck, a stack of 3x3s, a depthwise
separable, grouped or spatially separable convolution saves, computed, not typed.

Each ``*_cost`` function returns a small dataclass of counts; each ``explain_*`` writes
the comparison with the formula and the numbers filled in. ``TOPICS`` maps the names
``convzoo explain TOPIC`` takes to those explain functions.

Counts are of convolution weights without bias, and MACs (multiply-accumulates) of a
stride-1 'same' convolution on a ``size x size`` map, i.e. weights x size^2.

Papers:
    Network In Network (Lin, Chen, Yan, ICLR 2014) https://arxiv.org/abs/1312.4400 (1x1 convs);
    Going Deeper with Convolutions (Szegedy et al., CVPR 2015) https://arxiv.org/abs/1409.4842
    (1x1 reductions before 3x3 and 5x5);
    Very Deep Convolutional Networks for Large-Scale Image Recognition (Simonyan,
    Zisserman, ICLR 2015) https://arxiv.org/abs/1409.1556 (Sec. 2.3: three 3x3 for one 7x7);
    MobileNets (Howard et al., arXiv 2017) https://arxiv.org/abs/1704.04861 (Sec. 3.1, Eq. 5);
    Aggregated Residual Transformations (Xie et al., CVPR 2017) https://arxiv.org/abs/1611.05431
    (grouped convs);
    Rethinking the Inception Architecture (Szegedy et al., CVPR 2016)
    https://arxiv.org/abs/1512.00567 (Sec. 3.2: n x 1 then 1 x n).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from convzoo.analysis.arithmetic import conv, receptive_field
from convzoo.errors import ConvzooError

__all__ = [
    "BottleneckCost",
    "StackedCost",
    "DepthwiseSeparableCost",
    "GroupedCost",
    "SpatiallySeparableCost",
    "bottleneck_1x1",
    "stacked_3x3_vs_7x7",
    "depthwise_separable_cost",
    "grouped_conv_cost",
    "spatially_separable_cost",
    "explain_bottleneck",
    "explain_stacked",
    "explain_depthwise_separable",
    "explain_grouped",
    "explain_spatially_separable",
    "TOPICS",
    "explain_topic",
]


def _positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConvzooError(f"{name} must be a positive integer, got {value!r}")


def _n(value: int) -> str:
    return f"{value:,}"


def _weights(in_channels: int, out_channels: int, kh: int, kw: int, groups: int = 1) -> int:
    """Weights of an ``nn.Conv2d`` without bias: ``out * in/groups * kh * kw``."""
    return out_channels * (in_channels // groups) * kh * kw


# --------------------------------------------------------------------- 1x1 bottleneck


@dataclass(frozen=True)
class BottleneckCost:
    in_channels: int
    out_channels: int
    bottleneck: int
    kernel_size: int
    size: int
    direct_params: int  # k x k conv, in -> out
    reduce_params: int  # 1 x 1 conv, in -> bottleneck
    conv_params: int  # k x k conv, bottleneck -> out
    direct_macs: int
    bottleneck_macs: int

    @property
    def bottleneck_params(self) -> int:
        return self.reduce_params + self.conv_params

    @property
    def ratio(self) -> float:
        return self.direct_params / self.bottleneck_params


def bottleneck_1x1(
    in_channels: int = 256, out_channels: int = 256, bottleneck: int = 32, kernel_size: int = 3, size: int = 28
) -> BottleneckCost:
    """A ``k x k`` conv ``in -> out`` against a 1x1 reduction ``in -> bottleneck`` then the
    ``k x k`` conv ``bottleneck -> out`` (the Inception / NiN trick)."""
    _positive(
        in_channels=in_channels, out_channels=out_channels, bottleneck=bottleneck, kernel_size=kernel_size, size=size
    )
    direct = _weights(in_channels, out_channels, kernel_size, kernel_size)
    reduce = _weights(in_channels, bottleneck, 1, 1)
    then = _weights(bottleneck, out_channels, kernel_size, kernel_size)
    area = size * size
    return BottleneckCost(
        in_channels,
        out_channels,
        bottleneck,
        kernel_size,
        size,
        direct,
        reduce,
        then,
        direct * area,
        (reduce + then) * area,
    )


def explain_bottleneck(**kwargs: int) -> str:
    c = bottleneck_1x1(**kwargs)
    k, i, o, b, s = c.kernel_size, c.in_channels, c.out_channels, c.bottleneck, c.size
    return "\n".join(
        [
            f"1x1 bottleneck: {k}x{k} conv {i} -> {o} against 1x1 {i} -> {b} then {k}x{k} {b} -> {o}",
            f"direct:     k*k*C_in*C_out = {k}*{k}*{i}*{o} = {_n(c.direct_params)} weights",
            f"bottleneck: C_in*b + k*k*b*C_out = {i}*{b} + {k}*{k}*{b}*{o} = "
            f"{_n(c.reduce_params)} + {_n(c.conv_params)} = {_n(c.bottleneck_params)} weights",
            f"MACs at {s}x{s}: {_n(c.direct_macs)} vs {_n(c.bottleneck_macs)} "
            f"({c.ratio:.2f}x fewer with the bottleneck)",
        ]
    )


# ------------------------------------------------------------------ stacked 3x3 vs 7x7


@dataclass(frozen=True)
class StackedCost:
    channels: int
    layers: int
    kernel_size: int
    receptive_field: int  # of the stack, = the single kernel that sees as much
    stacked_params: int
    single_params: int

    @property
    def stacked_coefficient(self) -> int:
        """Stacked weights over C^2: layers * k^2 (27 for three 3x3)."""
        return self.layers * self.kernel_size**2

    @property
    def single_coefficient(self) -> int:
        """Single-conv weights over C^2: r^2 (49 for 7x7)."""
        return self.receptive_field**2


def stacked_3x3_vs_7x7(channels: int = 64, layers: int = 3, kernel_size: int = 3) -> StackedCost:
    """``layers`` stacked ``k x k`` convs (C -> C, stride 1) against the single conv with
    the same receptive field (VGG, Sec. 2.3). The receptive field is computed with
    :func:`~convzoo.analysis.arithmetic.receptive_field`: three 3x3 see 7x7."""
    _positive(channels=channels, layers=layers, kernel_size=kernel_size)
    rf = receptive_field([conv(kernel_size)] * layers)
    return StackedCost(
        channels,
        layers,
        kernel_size,
        rf,
        layers * _weights(channels, channels, kernel_size, kernel_size),
        _weights(channels, channels, rf, rf),
    )


def explain_stacked(**kwargs: int) -> str:
    c = stacked_3x3_vs_7x7(**kwargs)
    k, n, r, ch = c.kernel_size, c.layers, c.receptive_field, c.channels
    return "\n".join(
        [
            f"{n} stacked {k}x{k} convs vs one {r}x{r} conv, {ch} -> {ch} channels",
            f"receptive field of the stack: 1 + {n}*({k}-1) = {r}",
            f"stacked: {n}*{k}^2*C^2 = {c.stacked_coefficient}C^2 = {_n(c.stacked_params)} weights "
            f"({n} nonlinearities)",
            f"single:  {r}^2*C^2 = {c.single_coefficient}C^2 = {_n(c.single_params)} weights (1 nonlinearity)",
        ]
    )


# ------------------------------------------------------------ depthwise separable conv


@dataclass(frozen=True)
class DepthwiseSeparableCost:
    in_channels: int  # M
    out_channels: int  # N
    kernel_size: int  # D_K
    size: int  # D_F
    standard_params: int
    depthwise_params: int
    pointwise_params: int
    standard_macs: int
    depthwise_macs: int
    pointwise_macs: int

    @property
    def separable_params(self) -> int:
        return self.depthwise_params + self.pointwise_params

    @property
    def separable_macs(self) -> int:
        return self.depthwise_macs + self.pointwise_macs

    @property
    def ratio(self) -> Fraction:
        """Separable over standard MACs, exact."""
        return Fraction(self.separable_macs, self.standard_macs)

    @property
    def closed_form(self) -> Fraction:
        """MobileNets Eq. (5): 1/N + 1/D_K^2."""
        return Fraction(1, self.out_channels) + Fraction(1, self.kernel_size**2)


def depthwise_separable_cost(
    in_channels: int = 512, out_channels: int = 512, kernel_size: int = 3, size: int = 14
) -> DepthwiseSeparableCost:
    """A standard ``D_K x D_K`` conv ``M -> N`` on a ``D_F x D_F`` map against a depthwise
    ``D_K x D_K`` conv then a pointwise 1x1 ``M -> N``. The defaults are MobileNets'
    Table 3 layer (462M vs 52.3M mult-adds, 2.36M vs 0.27M parameters)."""
    _positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, size=size)
    m, n, k, area = in_channels, out_channels, kernel_size, size * size
    standard = _weights(m, n, k, k)
    depthwise = _weights(m, m, k, k, groups=m)
    pointwise = _weights(m, n, 1, 1)
    return DepthwiseSeparableCost(
        m, n, k, size, standard, depthwise, pointwise, standard * area, depthwise * area, pointwise * area
    )


def explain_depthwise_separable(**kwargs: int) -> str:
    c = depthwise_separable_cost(**kwargs)
    m, n, k, f = c.in_channels, c.out_channels, c.kernel_size, c.size
    r = c.ratio
    return "\n".join(
        [
            f"depthwise separable: {k}x{k} conv {m} -> {n} on {f}x{f} (M={m}, N={n}, D_K={k}, D_F={f})",
            f"standard:  D_K^2*M*N*D_F^2 = {k}^2*{m}*{n}*{f}^2 = {_n(c.standard_macs)} MACs, "
            f"{_n(c.standard_params)} weights",
            f"separable: D_K^2*M*D_F^2 + M*N*D_F^2 = {_n(c.depthwise_macs)} + {_n(c.pointwise_macs)} = "
            f"{_n(c.separable_macs)} MACs, {_n(c.separable_params)} weights",
            f"ratio: {_n(c.separable_macs)} / {_n(c.standard_macs)} = 1/N + 1/D_K^2 = 1/{n} + 1/{k * k} "
            f"= {r.numerator}/{r.denominator} = {float(r):.4f} ({float(1 / r):.2f}x fewer MACs)",
        ]
    )


# ----------------------------------------------------------------------- grouped conv


@dataclass(frozen=True)
class GroupedCost:
    in_channels: int
    out_channels: int
    kernel_size: int
    groups: int
    size: int
    standard_params: int
    grouped_params: int

    @property
    def standard_macs(self) -> int:
        return self.standard_params * self.size**2

    @property
    def grouped_macs(self) -> int:
        return self.grouped_params * self.size**2


def grouped_conv_cost(
    in_channels: int = 128, out_channels: int = 128, kernel_size: int = 3, groups: int = 32, size: int = 56
) -> GroupedCost:
    """A ``k x k`` conv against the same conv split into ``groups`` (ResNeXt-50's first
    3x3 by default): every output sees ``in/groups`` inputs, so weights and MACs
    divide by ``groups``."""
    _positive(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, groups=groups, size=size)
    if in_channels % groups or out_channels % groups:
        raise ConvzooError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    return GroupedCost(
        in_channels,
        out_channels,
        kernel_size,
        groups,
        size,
        _weights(in_channels, out_channels, kernel_size, kernel_size),
        _weights(in_channels, out_channels, kernel_size, kernel_size, groups),
    )


def explain_grouped(**kwargs: int) -> str:
    c = grouped_conv_cost(**kwargs)
    k, i, o, g, s = c.kernel_size, c.in_channels, c.out_channels, c.groups, c.size
    return "\n".join(
        [
            f"grouped conv: {k}x{k} conv {i} -> {o} in {g} groups",
            f"standard: k*k*C_in*C_out = {k}*{k}*{i}*{o} = {_n(c.standard_params)} weights",
            f"grouped:  k*k*(C_in/g)*C_out = {k}*{k}*{i // g}*{o} = {_n(c.grouped_params)} weights "
            f"({c.standard_params // c.grouped_params}x fewer = groups)",
            f"MACs at {s}x{s}: {_n(c.standard_macs)} vs {_n(c.grouped_macs)}",
        ]
    )


# ---------------------------------------------------------- spatially separable conv


@dataclass(frozen=True)
class SpatiallySeparableCost:
    channels: int
    kernel_size: int
    full_params: int  # k x k, C -> C
    separable_params: int  # k x 1 then 1 x k, C -> C each

    @property
    def per_filter(self) -> tuple[int, int]:
        """Weights per (input, output) channel pair: (k*k, 2k)."""
        return self.kernel_size**2, 2 * self.kernel_size


def spatially_separable_cost(channels: int = 64, kernel_size: int = 3) -> SpatiallySeparableCost:
    """A ``k x k`` conv ``C -> C`` against a ``k x 1`` conv then a ``1 x k`` conv
    (Inception-v3, Sec. 3.2): same receptive field, ``2/k`` of the weights."""
    _positive(channels=channels, kernel_size=kernel_size)
    return SpatiallySeparableCost(
        channels,
        kernel_size,
        _weights(channels, channels, kernel_size, kernel_size),
        _weights(channels, channels, kernel_size, 1) + _weights(channels, channels, 1, kernel_size),
    )


def explain_spatially_separable(**kwargs: int) -> str:
    c = spatially_separable_cost(**kwargs)
    k, ch = c.kernel_size, c.channels
    full, sep = c.per_filter
    return "\n".join(
        [
            f"spatially separable: {k}x{k} conv vs {k}x1 then 1x{k}, {ch} -> {ch} channels",
            f"per channel pair: {k}*{k} = {full} vs {k} + {k} = {sep} weights",
            f"full:      {k}*{k}*C^2 = {_n(c.full_params)} weights",
            f"separable: 2*{k}*C^2 = {_n(c.separable_params)} weights "
            f"({Fraction(c.separable_params, c.full_params)} of the full conv)",
        ]
    )


# ------------------------------------------------------------------------- topics


TOPICS: dict[str, Callable[..., str]] = {
    "bottleneck": explain_bottleneck,
    "stacked-3x3": explain_stacked,
    "depthwise-separable": explain_depthwise_separable,
    "grouped": explain_grouped,
    "spatially-separable": explain_spatially_separable,
}


def explain_topic(topic: str, **kwargs: int) -> str:
    """The explanation of ``topic`` (a key of :data:`TOPICS`), with its default numbers
    unless ``kwargs`` override them. Unknown topic: ConvzooError listing the topics."""
    try:
        explain = TOPICS[topic]
    except KeyError:
        raise ConvzooError(f"unknown topic {topic!r}; the topics are: {', '.join(TOPICS)}") from None
    try:
        return explain(**kwargs)
    except TypeError as err:  # an argument the topic does not take
        raise ConvzooError(f"topic {topic!r}: {err}") from None
