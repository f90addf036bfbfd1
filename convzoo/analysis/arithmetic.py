"""Convolution arithmetic: output sizes, 'same' padding, receptive fields, valid input sizes.

Paper: A guide to convolution arithmetic for deep learning (Vincent Dumoulin,
Francesco Visin, arXiv 2016) https://arxiv.org/abs/1603.07285

Along one spatial axis, with input size ``i``, kernel ``k``, stride ``s``, padding ``p``
(on each side) and dilation ``d``, the effective kernel is ``d(k-1)+1`` and a
convolution or pooling gives (Relationship 15 of the guide, written with dilation)::

    o = floor((i + 2p - d(k-1) - 1) / s) + 1

Pooling with ``ceil_mode=True`` rounds up instead, but PyTorch then drops the last
window when it would start inside the right padding. A transposed convolution is the
gradient of a convolution and inverts that map (Relationship 14, with the extra
``output_padding`` that picks among the sizes a strided convolution folds together)::

    o = (i - 1)s - 2p + d(k-1) + output_padding + 1

The same arithmetic answers the question the original UNet (Ronneberger et al., MICCAI
2015) raises: which input sizes go through the network without a pooling layer
flooring an odd size away? :func:`valid_input_sizes` and :func:`nearest_valid_sizes`
simulate a chain of layers on integers; :func:`unet_layers` gives the UNet chain and
:func:`explain_unet_sizes` the valid sizes around a given one (``convzoo arith --unet``).

Deviations: the analysis is one-dimensional: square kernels and inputs, or one axis at
a time. Networks given as an ``nn.Module`` are read as a chain of their conv, pool and
transposed-conv leaves in registration order (see :func:`layers_from_module`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Union

from convzoo.errors import ConvzooError, InputShapeError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "LayerSpec",
    "conv",
    "pool",
    "upconv",
    "Padding",
    "conv_output_size",
    "conv_transpose_output_size",
    "same_padding",
    "explain_conv",
    "explain_transposed",
    "explain_same_padding",
    "receptive_field",
    "layers_from_module",
    "output_size",
    "is_valid_input_size",
    "valid_input_sizes",
    "nearest_valid_sizes",
    "check_input_size",
    "unet_layers",
    "unet_valid_sizes",
    "explain_valid_sizes",
    "explain_unet_sizes",
]


# --------------------------------------------------------------------------- checks


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConvzooError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConvzooError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _check_common(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> None:
    _check_int("size", size, 1)
    _check_int("kernel_size", kernel_size, 1)
    _check_int("stride", stride, 1)
    _check_int("padding", padding, 0)
    _check_int("dilation", dilation, 1)


def _min_conv_input(kernel_size: int, padding: int, dilation: int) -> int:
    """The smallest input that yields one output: the effective kernel must fit."""
    return max(dilation * (kernel_size - 1) + 1 - 2 * padding, 1)


# ----------------------------------------------------------------------- output sizes


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output size of a convolution or pooling along one axis, as PyTorch computes it.

    ``ceil_mode`` is the pooling option: round up, but never start a window in the
    right padding.

    Raises:
        ConvzooError: an argument out of range, or an input too small for the kernel.
    """
    _check_common(size, kernel_size, stride, padding, dilation)
    span = size + 2 * padding - dilation * (kernel_size - 1) - 1  # room left for the stride
    # ceil_mode lets the last window hang over the end by up to stride - 1
    slack = stride - 1 if ceil_mode else 0
    if span + slack < 0:
        minimum = max(_min_conv_input(kernel_size, padding, dilation) - slack, 1)
        raise ConvzooError(
            f"input size {size} is too small for kernel_size={kernel_size}, dilation={dilation}, "
            f"padding={padding}: the effective kernel d(k-1)+1 = {dilation * (kernel_size - 1) + 1} "
            f"must fit in i + 2p{' + s - 1 (ceil_mode)' if ceil_mode else ''}, so the input must be at least {minimum}"
        )
    if ceil_mode:
        out = (span + slack) // stride + 1
        if (out - 1) * stride >= size + padding:  # last window would start in the padding
            out -= 1
    else:
        out = span // stride + 1
    return out


def conv_transpose_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output size of a transposed convolution along one axis, as PyTorch computes it.

    Raises:
        ConvzooError: an argument out of range (``output_padding`` must be smaller
            than ``stride`` or ``dilation``), or a non-positive output size.
    """
    _check_common(size, kernel_size, stride, padding, dilation)
    _check_int("output_padding", output_padding, 0)
    if output_padding >= max(stride, dilation):
        raise ConvzooError(
            f"output_padding must be smaller than stride or dilation (< {max(stride, dilation)}), got {output_padding}"
        )
    out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1
    if out < 1:
        # out grows by `stride` per input element: solve out >= 1 for the size.
        need = 2 * padding - dilation * (kernel_size - 1) - output_padding  # (i-1)s >= need
        minimum = 1 + -(-need // stride)
        raise ConvzooError(
            f"input size {size} is too small for a transposed conv with kernel_size={kernel_size}, "
            f"stride={stride}, padding={padding}: the output would be {out}; "
            f"the input must be at least {minimum}"
        )
    return out


class Padding(NamedTuple):
    """Padding along one axis, split into the two sides (TensorFlow puts the extra one after)."""

    before: int
    after: int

    @property
    def total(self) -> int:
        return self.before + self.after


def same_padding(kernel_size: int, stride: int = 1, dilation: int = 1, size: int | None = None) -> Padding:
    """TensorFlow-style 'same' padding: the output size is ``ceil(i / s)``.

    The total is ``max((ceil(i/s) - 1)s + d(k-1) + 1 - i, 0)``; it depends on ``i`` when
    ``s > 1``. Without ``size`` the input is taken as a multiple of the stride, which
    gives ``max(d(k-1) + 1 - s, 0)``. The odd pixel goes after, as in TensorFlow.
    """
    _check_int("kernel_size", kernel_size, 1)
    _check_int("stride", stride, 1)
    _check_int("dilation", dilation, 1)
    effective = dilation * (kernel_size - 1) + 1
    if size is None:
        total = max(effective - stride, 0)
    else:
        _check_int("size", size, 1)
        out = -(-size // stride)
        total = max((out - 1) * stride + effective - size, 0)
    return Padding(total // 2, total - total // 2)


# ----------------------------------------------------------------------- explanations


def explain_conv(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> str:
    """The output-size formula with the numbers filled in, e.g.
    ``o = floor((i + 2p - d(k-1) - 1) / s) + 1 = floor((5 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 3``.
    """
    out = conv_output_size(size, kernel_size, stride, padding, dilation, ceil_mode)
    rnd = "ceil" if ceil_mode else "floor"
    filled = f"{rnd}(({size} + 2*{padding} - {dilation}*({kernel_size}-1) - 1) / {stride}) + 1"
    text = f"o = {rnd}((i + 2p - d(k-1) - 1) / s) + 1 = {filled} = {out}"
    if ceil_mode:
        raw = -(-(size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride) + 1
        if raw != out:
            text += f" (the ceiling gives {raw}, but its last window would start in the padding)"
    return text


def explain_transposed(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> str:
    """The transposed-convolution output-size formula with the numbers filled in."""
    out = conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)
    filled = f"({size}-1)*{stride} - 2*{padding} + {dilation}*({kernel_size}-1) + {output_padding} + 1"
    return f"o = (i-1)s - 2p + d(k-1) + output_padding + 1 = {filled} = {out}"


def explain_same_padding(kernel_size: int, stride: int = 1, dilation: int = 1, size: int | None = None) -> str:
    """'Same' padding with the numbers filled in."""
    pad = same_padding(kernel_size, stride, dilation, size)
    effective = dilation * (kernel_size - 1) + 1
    if size is None:
        return (
            f"total = max(d(k-1) + 1 - s, 0) = max({dilation}*({kernel_size}-1) + 1 - {stride}, 0) "
            f"= {pad.total} -> before {pad.before}, after {pad.after} "
            f"(for an input that is a multiple of the stride; output = i / {stride})"
        )
    out = -(-size // stride)
    return (
        f"o = ceil(i / s) = ceil({size} / {stride}) = {out}; "
        f"total = max((o-1)s + d(k-1) + 1 - i, 0) = max(({out}-1)*{stride} + {effective} - {size}, 0) "
        f"= {pad.total} -> before {pad.before}, after {pad.after}"
    )


# ------------------------------------------------------------------ chains of layers


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a chain, along one axis.

    Args:
        kind: ``"conv"``, ``"pool"`` or ``"transposed"``.
        kernel_size, stride, padding, dilation: as in ``nn.Conv2d``.
        output_padding: transposed convs only.
        ceil_mode: pools only.
    """

    kind: str = "conv"
    kernel_size: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    output_padding: int = 0
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "pool", "transposed"):
            raise ConvzooError(f"LayerSpec kind must be 'conv', 'pool' or 'transposed', got {self.kind!r}")

    def output(self, size: int) -> int:
        if self.kind == "transposed":
            return conv_transpose_output_size(
                size, self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation
            )
        return conv_output_size(size, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def is_exact(self, size: int) -> bool:
        """True when no row is dropped: the windows tile ``i + 2p`` exactly."""
        if self.kind == "transposed":
            return True
        return (size + 2 * self.padding - self.dilation * (self.kernel_size - 1) - 1) % self.stride == 0


def conv(kernel_size: int = 3, stride: int = 1, padding: int = 0, dilation: int = 1) -> LayerSpec:
    return LayerSpec("conv", kernel_size, stride, padding, dilation)


def pool(kernel_size: int = 2, stride: int | None = None, padding: int = 0, ceil_mode: bool = False) -> LayerSpec:
    return LayerSpec("pool", kernel_size, kernel_size if stride is None else stride, padding, ceil_mode=ceil_mode)


def upconv(kernel_size: int = 2, stride: int | None = None, padding: int = 0, output_padding: int = 0) -> LayerSpec:
    return LayerSpec(
        "transposed", kernel_size, kernel_size if stride is None else stride, padding, output_padding=output_padding
    )


def _pick(value: int | Sequence[int], axis: int) -> int:
    return value if isinstance(value, int) else int(value[axis])


def layers_from_module(module: nn.Module, axis: int = 0) -> list[LayerSpec]:
    """The conv / pool / transposed-conv leaves of ``module``, in registration order.

    This reads a *sequential-style* network: one whose layers run in the order they
    are registered (an ``nn.Sequential``, or an encoder-decoder defined encoder first,
    then bottleneck, then decoder). Skip connections are ignored (the UNet crops its
    skips to the decoder's size, so they never change a size), and so are branches
    running in parallel, which this chain view cannot express. ``axis`` picks the
    spatial axis of anisotropic kernels.
    """
    from torch import nn

    specs: list[LayerSpec] = []
    for leaf in module.modules():
        if isinstance(leaf, nn.modules.conv._ConvTransposeNd):
            specs.append(
                LayerSpec(
                    "transposed",
                    leaf.kernel_size[axis],
                    leaf.stride[axis],
                    leaf.padding[axis],
                    leaf.dilation[axis],
                    output_padding=leaf.output_padding[axis],
                )
            )
        elif isinstance(leaf, nn.modules.conv._ConvNd):
            if isinstance(leaf.padding, str):
                raise ConvzooError(f"padding={leaf.padding!r} is not supported; give the padding as integers")
            specs.append(
                LayerSpec("conv", leaf.kernel_size[axis], leaf.stride[axis], leaf.padding[axis], leaf.dilation[axis])
            )
        elif isinstance(leaf, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
            k = leaf.kernel_size
            s = leaf.stride if leaf.stride is not None else k
            kernel, stride, padding = (_pick(v, axis) for v in (k, s, leaf.padding))
            dilation = _pick(getattr(leaf, "dilation", 1), axis)
            specs.append(LayerSpec("pool", kernel, stride, padding, dilation, ceil_mode=leaf.ceil_mode))
    return specs


Layers = Union[Sequence[LayerSpec], "nn.Module"]


def _is_module(obj: object) -> bool:
    """Whether ``obj`` is an ``nn.Module``, without importing torch: a module exists only once torch is imported."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _as_specs(layers: Layers) -> list[LayerSpec]:
    if _is_module(layers):
        return layers_from_module(layers)
    specs = list(layers)
    for spec in specs:
        if not isinstance(spec, LayerSpec):
            raise ConvzooError(f"layers must be LayerSpec items or an nn.Module, got {type(spec).__name__}")
    return specs


def receptive_field(layers: Layers) -> int:
    """Receptive field of one output of a chain of convs and pools (no transposed convs).

    ``r = 1 + sum_l d_l (k_l - 1) * prod_{j<l} s_j`` (Araujo et al., Distill 2019).
    """
    r, jump = 1, 1
    for spec in _as_specs(layers):
        if spec.kind == "transposed":
            raise ConvzooError("receptive_field takes convs and pools only, not transposed convs")
        r += spec.dilation * (spec.kernel_size - 1) * jump
        jump *= spec.stride
    return r


def _simulate(specs: Sequence[LayerSpec], size: int, exact: Iterable[str]) -> tuple[int | None, str]:
    """The output size, or None and the reason the size fails."""
    exact = set(exact)
    for index, spec in enumerate(specs):
        if spec.kind in exact and not spec.is_exact(size):
            return None, f"layer {index} ({spec.kind}, stride {spec.stride}) gets size {size}, which it would floor"
        try:
            size = spec.output(size)
        except ConvzooError:
            return None, f"layer {index} ({spec.kind}) gets size {size}, too small for its kernel"
    return size, ""


def output_size(layers: Layers, size: int) -> int:
    """Output size of a chain of layers, flooring where PyTorch floors."""
    _check_int("size", size, 1)
    out, reason = _simulate(_as_specs(layers), size, ())
    if out is None:
        raise InputShapeError(f"input size {size}: {reason}")
    return out


def is_valid_input_size(layers: Layers, size: int, exact: Iterable[str] = ("pool",)) -> bool:
    """True when every layer gets an input of at least its kernel and no layer whose
    kind is in ``exact`` floors (by default: every pool divides its input exactly)."""
    return size >= 1 and _simulate(_as_specs(layers), size, exact)[0] is not None


def valid_input_sizes(layers: Layers, candidates: Iterable[int], exact: Iterable[str] = ("pool",)) -> list[int]:
    """The candidates that are valid input sizes (see :func:`is_valid_input_size`)."""
    specs, exact = _as_specs(layers), tuple(exact)
    return [s for s in candidates if s >= 1 and _simulate(specs, s, exact)[0] is not None]


def nearest_valid_sizes(
    layers: Layers, size: int, count: int = 2, exact: Iterable[str] = ("pool",), limit: int | None = None
) -> list[int]:
    """The ``count`` valid sizes nearest to ``size`` (itself included when valid),
    ascending. Ties go to the smaller size. Searches up to ``limit`` away (default
    ``4 * size + 4096``)."""
    _check_int("size", size, 1)
    _check_int("count", count, 1)
    specs, exact = _as_specs(layers), tuple(exact)
    limit = 4 * size + 4096 if limit is None else limit
    found: list[int] = []
    for distance in range(limit + 1):
        for candidate in (size - distance, size + distance) if distance else (size,):
            if candidate >= 1 and _simulate(specs, candidate, exact)[0] is not None:
                found.append(candidate)
                if len(found) == count:
                    return sorted(found)
    return sorted(found)


def check_input_size(layers: Layers, size: int, exact: Iterable[str] = ("pool",)) -> int:
    """The output size for a valid ``size``; else InputShapeError naming the nearest valid sizes."""
    _check_int("size", size, 1)
    specs, exact = _as_specs(layers), tuple(exact)
    out, reason = _simulate(specs, size, exact)
    if out is None:
        nearest = nearest_valid_sizes(specs, size, 2, exact)
        hint = f"; the nearest valid sizes are {' and '.join(map(str, nearest))}" if nearest else ""
        raise InputShapeError(f"input size {size} is not valid: {reason}{hint}")
    return out


# --------------------------------------------------------------------------- UNet


def unet_layers(depth: int = 4, convs_per_level: int = 2, kernel_size: int = 3) -> list[LayerSpec]:
    """The size chain of the original UNet: unpadded convs, 2x2 max-pools, 2x2 up-convs.

    ``depth`` pools down, ``depth`` up-convs up; ``convs_per_level`` unpadded
    ``kernel_size`` convs at every level, the bottom included.
    """
    _check_int("depth", depth, 0)
    _check_int("convs_per_level", convs_per_level, 0)
    level = [conv(kernel_size)] * convs_per_level
    down = [*level, pool(2)] * depth
    up = [upconv(2), *level] * depth
    return [*down, *level, *up]


def unet_valid_sizes(
    depth: int = 4, convs_per_level: int = 2, kernel_size: int = 3, start: int = 1, stop: int = 1024
) -> list[int]:
    """Input sizes in ``[start, stop)`` that the original UNet takes without flooring.

    For the paper's UNet they are ``16b + 60`` for a bottom input size ``b >= 8``: 188,
    204, ..., 572, 588, ... (each level takes off ``convs_per_level * (k - 1) = 4`` before
    halving; below ``b = 8`` the decoder's unpadded convs run out of pixels).
    """
    return valid_input_sizes(unet_layers(depth, convs_per_level, kernel_size), range(max(start, 1), stop))


def _trail(specs: Sequence[LayerSpec], size: int, exact: tuple[str, ...]) -> tuple[str, int | None]:
    """A size's trip through the chain as ``a -> b -> ...``, and the output size (None where it fails)."""
    trail = [str(size)]
    current: int | None = size
    for spec in specs:
        if spec.kind in exact and not spec.is_exact(current):
            trail.append(f"{spec.kind} floors {current}")
            return " -> ".join(trail), None
        try:
            current = spec.output(current)
        except ConvzooError:
            trail.append(f"{spec.kind} too small")
            return " -> ".join(trail), None
        trail.append(str(current))
    return " -> ".join(trail), current


def explain_valid_sizes(layers: Layers, size: int, exact: Iterable[str] = ("pool",)) -> str:
    """A size's trip through the chain, ending in valid / not valid and the nearest valid sizes."""
    _check_int("size", size, 1)
    specs, exact = _as_specs(layers), tuple(exact)
    path, current = _trail(specs, size, exact)
    if current is not None:
        return f"{path}\ninput {size} is valid: output {current}"
    nearest = nearest_valid_sizes(specs, size, 2, exact)
    return f"{path}\ninput {size} is not valid; nearest valid sizes: {', '.join(map(str, nearest)) or 'none'}"


def explain_unet_sizes(size: int, depth: int = 4, convs_per_level: int = 2, kernel_size: int = 3) -> str:
    """Whether the original UNet takes ``size``, and the nearest valid sizes below and above, with their outputs.

    The UNet has no padding, so its user picks the tile to cut and the output it gives
    (572 -> 388 in the paper's Fig. 1): this is the answer for sizes near ``size``.
    """
    _check_int("size", size, 1)
    specs, exact = unet_layers(depth, convs_per_level, kernel_size), ("pool",)
    path, out = _trail(specs, size, exact)
    status = f"input {size} is valid: output {out}" if out is not None else f"input {size} is not valid"

    def first_valid(candidates: Iterable[int]) -> str:
        for candidate in candidates:
            output = _simulate(specs, candidate, exact)[0]
            if output is not None:
                return f"{candidate} -> {output}"
        return "none"

    below = first_valid(range(size - 1, 0, -1))
    above = first_valid(range(size + 1, 5 * size + 4097))  # nearest_valid_sizes' search limit
    header = (
        f"original UNet, depth {depth}: {convs_per_level} unpadded {kernel_size}x{kernel_size} convs per level, "
        "2x2 max-pools and up-convs; a size is valid when no pool floors an odd size and no conv runs out of pixels"
    )
    return f"{header}\n{path}\n{status}\nnearest valid sizes: {below} below, {above} above"
