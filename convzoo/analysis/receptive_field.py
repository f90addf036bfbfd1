"""Theoretical receptive fields: which input pixels can reach one output unit.

Paper: Computing Receptive Fields of Convolutional Neural Networks (André Araujo,
Wade Norris, Jack Sim, Distill 2019) https://distill.pub/2019/computing-receptive-fields/

For every spatial axis a feature map carries three numbers, all in input pixels:

* ``size`` r: how many input pixels one unit sees (the span, holes included);
* ``jump`` j: the distance in input pixels between neighbouring units (the cumulative
  stride);
* ``offset``: the input coordinate of the centre of the receptive field of unit 0
  (it can be negative or fractional: padding puts unit 0's field partly off the image).

A layer with kernel k, stride s, padding p and dilation d (effective kernel
``k_eff = d (k - 1) + 1``) maps them by the recurrence of Araujo et al. (Eq. 1-3)::

    r_out      = r_in + (k_eff - 1) j_in
    j_out      = j_in s
    offset_out = offset_in + ((k_eff - 1) / 2 - p) j_in

The model is traced with :mod:`torch.fx`; the shapes of every node come from one
forward pass on the meta device (or on fake tensors), so even VGG-19 costs nothing but
the trace. The numbers are then pushed from the input placeholder through the graph.

Conventions:

* Pooling (max, average, LP) follows the conv recurrence; ``ceil_mode`` adds units at
  the far border but changes none of r, j or the offset.
* Adaptive pooling is computed from the actual shapes: bin ``i`` of ``n`` over a map of
  ``m`` covers ``[floor(i m / n), ceil((i + 1) m / n))``; the kernel is the largest bin,
  the stride ``m / n``. An output of side 1 pools the whole map: the axis becomes
  *global* (the receptive field is the whole input, whatever its size). So
  ``AdaptiveAvgPool2d(7)`` on a 7x7 map is the identity, on a 14x14 map a 2x2 pool.
* Transposed convolution (stride s, padding p, dilation d): output unit o reads input
  unit i where ``o + p - i s`` is a multiple ``d t`` with ``0 <= t < k``. The size is the
  exact largest span over all output phases; with ``d = 1`` that is
  ``r_out = r_in + floor((k_eff - 1) / s) j_in``. The jump divides by s,
  ``j_out = j_in / s``, and unit o is placed at the centre of its continuous footprint,
  input index ``(o + p - (k_eff - 1) / 2) / s``, so
  ``offset_out = offset_in + (p - (k_eff - 1) / 2) j_in / s`` (the zero-insertion view of a
  transposed conv). Jumps and offsets may be fractions.
* Upsampling by ``s = out / in`` (from the actual shapes) divides the jump by s. Output
  unit o sits at input coordinate ``(o + 1/2) / s - 1/2`` (``align_corners=False``) or
  ``o (in - 1) / (out - 1)`` (``align_corners=True``). ``nearest`` reads one input unit
  (r unchanged); the linear modes read 2 taps per axis (``r_out = r_in + j_in``),
  ``bicubic`` 4 taps (``r_out = r_in + 3 j_in``): the taps a sample *may* read, even where
  one of them has weight 0. Pixel shuffle is nearest upsampling, pixel unshuffle a conv
  with ``k = s = factor``.
* Padding layers shift the offset by the left padding.
* Element-wise ops, activations, normalisations (LocalResponseNorm too: it mixes
  channels, not positions), dropout and reshapes that keep the spatial dims are the
  identity.
* Branches that meet (add, mul, cat, stack, ...) take the largest size, with the jump
  and offset of that branch; branches with different jumps raise an error. A global
  branch (an SE gate, say) makes the result global. With ``ignore_gates=True`` a
  multiplication by a gate of spatial size 1 (SE, GC, ECA) keeps the other factor's
  field: the *local* receptive field that layer-by-layer tables give for such networks.
* Anything that folds the spatial dims away (flatten, linear, a mean over H and W)
  makes the receptive field global.

Deviations:
    Reshapes that rearrange the spatial dims (space-to-depth written with ``view`` and
    ``permute``) are treated as global, an overestimate. Functions fx cannot see into
    and modules the rules above do not know raise :class:`ConvzooError` naming the node.
"""

from __future__ import annotations

import inspect
import math
import operator
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, NamedTuple, Sequence

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.errors import ConvzooError

__all__ = [
    "AxisRF",
    "ReceptiveField",
    "ReceptiveFieldResult",
    "ReceptiveFieldError",
    "receptive_field",
    "format_receptive_field",
]


class ReceptiveFieldError(ConvzooError, ValueError):
    """A model whose receptive field cannot be computed (untraceable or unknown construct)."""


def _num(value: Fraction | None) -> int | float | None:
    """A Fraction as an int when whole, else a float."""
    if value is None:
        return None
    return int(value) if value.denominator == 1 else float(value)


@dataclass(frozen=True)
class AxisRF:
    """Receptive field along one spatial axis, in input pixels; ``size`` etc. are None when global."""

    size: Fraction | None
    jump: Fraction | None
    offset: Fraction | None

    @property
    def is_global(self) -> bool:
        return self.size is None

    def to_dict(self) -> dict[str, Any]:
        if self.is_global:
            return {"global": True, "size": None, "jump": None, "offset": None}
        return {"global": False, "size": _num(self.size), "jump": _num(self.jump), "offset": _num(self.offset)}

    def __str__(self) -> str:
        if self.is_global:
            return "global"
        return f"{_num(self.size)} (stride {_num(self.jump)}, offset {_num(self.offset)})"


GLOBAL = AxisRF(None, None, None)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of the units of one feature map, one :class:`AxisRF` per spatial axis."""

    name: str
    shape: tuple[int, ...]
    axes: tuple[AxisRF, ...]

    @property
    def is_global(self) -> bool:
        return all(axis.is_global for axis in self.axes)

    @property
    def size(self) -> int | float | str | tuple:
        """One number when all axes agree, ``"global"``, else a tuple per axis."""
        values = tuple("global" if a.is_global else _num(a.size) for a in self.axes)
        return values[0] if len(set(values)) == 1 else values

    @property
    def jump(self) -> int | float | None | tuple:
        values = tuple(_num(a.jump) for a in self.axes)
        return values[0] if len(set(values)) == 1 else values

    @property
    def offset(self) -> int | float | None | tuple:
        values = tuple(_num(a.offset) for a in self.axes)
        return values[0] if len(set(values)) == 1 else values

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "global": self.is_global,
            "size": list(self.size) if isinstance(self.size, tuple) else self.size,
            "jump": list(self.jump) if isinstance(self.jump, tuple) else self.jump,
            "offset": list(self.offset) if isinstance(self.offset, tuple) else self.offset,
            "axes": [axis.to_dict() for axis in self.axes],
        }


@dataclass(frozen=True)
class ReceptiveFieldResult:
    """Receptive fields at each ``feature_info`` stage and at the output of a model.

    ``global_through_gates`` names the fields that are global only because gates of
    spatial size 1 (SE and its kin) multiply a global pooling back in: with
    ``ignore_gates=True`` they are local.
    """

    model: str
    input_size: tuple[int, ...]
    stages: list[ReceptiveField] = field(default_factory=list)
    output: ReceptiveField | None = None
    global_through_gates: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> ReceptiveField:
        for rf in [*self.stages, self.output]:
            if rf is not None and rf.name == name:
                return rf
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "stages": [rf.to_dict() for rf in self.stages],
            "output": None if self.output is None else self.output.to_dict(),
            "global_through_gates": list(self.global_through_gates),
        }


def format_receptive_field(result: ReceptiveFieldResult, ignore_gates_option: str = "ignore_gates=True") -> str:
    """A plain-text table of the receptive fields of a result, one row per stage.

    When gates alone make fields global, a last line names them and
    ``ignore_gates_option`` (the command line passes its flag), so "global" from an early
    stage on does not read as convolutions that already see the whole image.
    """
    rows = [("stage", "shape", "receptive field", "stride", "offset")]
    for rf in [*result.stages, *([result.output] if result.output is not None else [])]:

        def show(value: Any) -> str:
            if value is None:
                return "-"
            if isinstance(value, tuple):
                return "x".join(show(v) for v in value)
            return str(value)

        rows.append((rf.name, "x".join(str(s) for s in rf.shape), show(rf.size), show(rf.jump), show(rf.offset)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    size = "x".join(str(s) for s in result.input_size)
    lines = [f"{result.model} at input {size} (receptive field, stride and offset in input pixels)"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if result.global_through_gates:
        lines.append(
            f"global at {', '.join(result.global_through_gates)} only through SE-style gates (a global pooling "
            f"multiplied back into the map); {ignore_gates_option} gives the local field"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Per-axis rules


def _conv_axis(a: AxisRF, k: int, s: Fraction | int, p: Fraction | int, d: int = 1) -> AxisRF:
    if a.is_global:
        return a
    k_eff = d * (k - 1) + 1
    return AxisRF(
        a.size + (k_eff - 1) * a.jump,
        a.jump * s,
        a.offset + (Fraction(k_eff - 1, 2) - p) * a.jump,
    )


def _transposed_axis(a: AxisRF, k: int, s: int, p: int, d: int) -> AxisRF:
    if a.is_global:
        return a
    k_eff = d * (k - 1) + 1
    taps = {d * t for t in range(k)}
    span = 0
    for q in range(s * d):  # q = o + p modulo the period of the tap pattern
        inputs = [i for i in range(-(k_eff // s) - 2, q // s + 2) if (q - i * s) in taps]
        if inputs:
            span = max(span, max(inputs) - min(inputs))
    jump = a.jump / s
    return AxisRF(a.size + span * a.jump, jump, a.offset + (p - Fraction(k_eff - 1, 2)) * jump)


def _resample_axis(a: AxisRF, n_in: int, n_out: int, taps: int, align_corners: bool) -> AxisRF:
    if a.is_global:
        return a
    if align_corners and n_out > 1:
        scale = Fraction(n_in - 1, n_out - 1)  # input units per output unit
        first = Fraction(0)
    else:
        scale = Fraction(n_in, n_out)
        first = scale / 2 - Fraction(1, 2)
    return AxisRF(a.size + (taps - 1) * a.jump, a.jump * scale, a.offset + first * a.jump)


def _adaptive_axis(a: AxisRF, n_in: int, n_out: int) -> AxisRF:
    if a.is_global or n_out == 1:
        return GLOBAL
    bins = [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]
    k = max(bins)
    return AxisRF(
        a.size + (k - 1) * a.jump,
        a.jump * Fraction(n_in, n_out),
        a.offset + Fraction(bins[0] - 1, 2) * a.jump,
    )


def _tuple(value: Any, n: int) -> tuple:
    """A kernel/stride/padding argument as one value per spatial axis of the input.

    A conv with more spatial dims than the input's (a 3D conv over an unsqueezed 2D map,
    as in HybridSN) slides its leading ones over what were channels: the input's spatial
    axes are the trailing ones, so only their values are kept.
    """
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return tuple(value) * n
        return tuple(value)[-n:]
    return (value,) * n


# --------------------------------------------------------------------------------------
# Graph propagation

_State = tuple  # tuple[AxisRF, ...]

_IDENTITY_MODULES: tuple[type, ...] = (
    nn.Identity,
    nn.modules.batchnorm._NormBase,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.CrossMapLRN2d,
    nn.modules.dropout._DropoutNd,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus,
    nn.Threshold, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.GLU,
)  # fmt: skip

_RESHAPES = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "unsqueeze", "squeeze",
    "expand", "expand_as", "repeat", "clone", "detach", "to", "type", "float", "half", "double",
    "type_as", "view_as", "reshape_as", "movedim", "unflatten", "flatten", "narrow", "t",
}  # fmt: skip
_SPLITS = {"chunk", "split", "tensor_split", "unbind", "split_with_sizes"}
_MERGES = {"cat", "concat", "concatenate", "stack", "where"}
_REDUCTIONS = {
    "mean", "sum", "amax", "amin", "max", "min", "std", "var", "logsumexp", "norm", "prod",
    "linear", "matmul", "bmm", "mm", "softmax", "log_softmax", "adaptive_avg_pool1d",
}  # fmt: skip
_IDENTITY_FUNCTIONS = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "batch_norm",
                       "group_norm", "instance_norm", "local_response_norm", "layer_norm", "getattr",
                       "relu_", "hardswish_", "silu_", "contiguous", "channel_shuffle"}  # fmt: skip


def _is_pointwise(name: str) -> bool:
    """Whether ``torch.ops.aten.<name>`` is tagged pointwise (relu, add, mul, sigmoid, ...)."""
    packet = getattr(torch.ops.aten, name.rstrip("_"), None)
    if packet is None:
        return False
    try:
        return any(torch.Tag.pointwise in getattr(packet, o).tags for o in packet.overloads())
    except (AttributeError, RuntimeError):
        return False


def _is_custom_kernel_module(m: nn.Module) -> bool:
    """A module from outside ``torch.nn`` with a ``kernel_size`` and no submodules: a conv or pool."""
    return (
        hasattr(m, "kernel_size") and not type(m).__module__.startswith("torch.nn") and next(m.children(), None) is None
    )


def _infer_stride(k_eff: int, pad: int, n_in: int, n_out: int) -> int | None:
    """The stride of a layer without a ``stride`` attribute: 1 (a conv) or k (a pool)."""
    for stride in (1, k_eff):
        if (n_in + 2 * pad - k_eff) // stride + 1 == n_out:
            return stride
    return None


class _Tracer(torch.fx.Tracer):
    """A tracer that remembers the output node of every call of the named stage modules."""

    def __init__(self, stage_modules: Sequence[str]) -> None:
        super().__init__()
        self.stage_modules = set(stage_modules)
        self.stage_nodes: dict[str, torch.fx.Node] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return _is_custom_kernel_module(m) or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        try:
            self.path_of_module(m)
        except NameError:
            # A container built on the fly (``self.classifier[:-1]``): its children are
            # installed, so trace through it.
            if not self.is_leaf_module(m, ""):
                return forward(*args, **kwargs)
            raise
        out = super().call_module(m, forward, args, kwargs)
        name = self.path_of_module(m)
        if name in self.stage_modules and isinstance(out, torch.fx.Proxy):
            self.stage_nodes[name] = out.node  # the last call wins, as with a forward hook
        return out


def _user_frame(exc: BaseException) -> str:
    """``file:line (code)`` of the innermost frame of an exception outside torch."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if "/torch/" not in f.filename and f.filename != __file__
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"


def _left_out_inputs(model: nn.Module) -> dict[str, None] | None:
    """The optional inputs of ``forward`` that default to ``None`` (a Siamese network's second image).

    The field is measured on one input, so they are traced as left out, not as tensors.
    """
    optional = {name: None for name, p in inspect.signature(model.forward).parameters.items() if p.default is None}
    return optional or None


def _trace(model: nn.Module, stage_modules: Sequence[str]) -> tuple[torch.fx.GraphModule, dict[str, torch.fx.Node]]:
    tracer = _Tracer(stage_modules)
    if tracer.is_leaf_module(model, ""):  # a bare nn.Conv2d etc.: trace it as a call, not through
        model = nn.Sequential(model)
    try:
        graph = tracer.trace(model, concrete_args=_left_out_inputs(model))
    except Exception as exc:  # fx raises TraceError, TypeError, RuntimeError, ...
        raise ReceptiveFieldError(
            f"cannot trace {type(model).__name__} with torch.fx{_user_frame(exc)}: {exc}"
        ) from exc
    return torch.fx.GraphModule(tracer.root, graph), tracer.stage_nodes


class _TensorShape(NamedTuple):
    """What the rules read of a node's tensor result: its shape."""

    shape: torch.Size


class _ShapeRecorder(torch.fx.Interpreter):
    """Runs the traced graph on meta or fake tensors and keeps what the rules read of each node.

    A tensor result goes to ``node.meta['tensor_meta']`` (a tuple of them for a tuple of
    tensors); an integer (a size read from ``x.shape``, a crop offset computed from it) to
    ``node.meta['value']``, so slices bounded by it can be followed. Unlike fx's
    ``ShapeProp`` it prints nothing and lets an error raised in the model pass unchanged:
    a too-small image meets the model's own input check, the one ``info`` and ``compare`` hit.
    """

    def __init__(self, gm: torch.fx.GraphModule) -> None:
        super().__init__(gm)
        self.extra_traceback = False  # no graph dump appended to the model's own message

    def run_node(self, n: torch.fx.Node) -> Any:
        result = super().run_node(n)
        found = False

        def shape_of(r: Any) -> Any:
            nonlocal found
            if isinstance(r, torch.Tensor):
                found = True
                return _TensorShape(r.shape)
            return r

        meta = torch.fx.node.map_aggregate(result, shape_of)
        if found:
            n.meta["tensor_meta"] = meta
        if isinstance(result, int):
            n.meta["value"] = result
        return result


def _propagate_shapes(gm: torch.fx.GraphModule, input_size: tuple[int, ...], name: str) -> None:
    """Record each node's shape (see :class:`_ShapeRecorder`) from one run on meta or fake tensors.

    A model's own :class:`ConvzooError` (its input check) passes unchanged; any other
    failure becomes a :class:`ReceptiveFieldError` naming the input.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    params = list(gm.parameters()) + list(gm.buffers())
    dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)  # a float64 model takes float64
    on_meta = all(p.is_meta for p in params)
    device = torch.device("meta") if on_meta else params[0].device
    try:
        with nullcontext() if on_meta else FakeTensorMode(allow_non_fake_inputs=True):
            _ShapeRecorder(gm).run(torch.empty(1, *input_size, dtype=dtype, device=device))
    except ConvzooError:
        raise
    except Exception as exc:
        raise ReceptiveFieldError(
            f"cannot run {name} on a 1x{'x'.join(map(str, input_size))} input to measure shapes: {exc}"
        ) from exc


def _known(value: Any) -> Any:
    """An integer node's value measured by shape propagation; anything else as it is."""
    if isinstance(value, torch.fx.Node) and isinstance(value.meta.get("value"), int):
        return value.meta["value"]
    return value


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, torch.fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


class _Propagator:
    def __init__(self, gm: torch.fx.GraphModule, ndim: int, ignore_gates: bool = False) -> None:
        self.gm = gm
        self.ndim = ndim
        self.ignore_gates = ignore_gates
        self.modules = dict(gm.named_modules())
        self.states: dict[torch.fx.Node, _State] = {}
        self.gates_made_global = False  # a gate of spatial size 1 made a local field global

    # helpers ------------------------------------------------------------------------
    def fail(self, node: torch.fx.Node, why: str) -> ReceptiveFieldError:
        return ReceptiveFieldError(f"receptive field: node {node.name!r} ({node.op} {self.describe(node)}): {why}")

    def describe(self, node: torch.fx.Node) -> str:
        if node.op == "call_module":
            return f"{node.target} = {type(self.modules[node.target]).__name__}"
        return getattr(node.target, "__name__", str(node.target))

    def inputs(self, node: torch.fx.Node) -> list[torch.fx.Node]:
        found: list[torch.fx.Node] = []
        torch.fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) if n in self.states else None)
        return found

    def spatial(self, node: torch.fx.Node, shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
        shape = _shape(node) if shape is None else shape
        return shape[-self.ndim :] if shape is not None and len(shape) >= self.ndim + 1 else ()

    def is_gate_product(self, node: torch.fx.Node) -> bool:
        return node.target in (operator.mul, torch.mul, "mul", "mul_")

    def merge(self, node: torch.fx.Node, parents: list[torch.fx.Node]) -> _State:
        if not self.is_gate_product(node):
            return self.combine(node, parents)
        # A per-channel gate (B, C, 1, 1) scales the map; its own field does not reach the product.
        maps = [p for p in parents if any(size > 1 for size in self.spatial(p))] or parents
        local = self.combine(node, maps)
        if self.ignore_gates:
            return local
        merged = self.combine(node, parents)
        if any(a.is_global for a in merged) and not any(a.is_global for a in local):
            self.gates_made_global = True
        return merged

    def combine(self, node: torch.fx.Node, parents: list[torch.fx.Node]) -> _State:
        """The field where branches meet: the largest, which needs the same stride on every branch."""
        states = [self.states[p] for p in parents]
        axes = []
        for i in range(self.ndim):
            column = [s[i] for s in states]
            if any(a.is_global for a in column):
                axes.append(GLOBAL)
                continue
            if len({a.jump for a in column}) > 1:
                jumps = ", ".join(f"{_num(a.jump)} ({p.name})" for a, p in zip(column, parents))
                raise self.fail(node, f"branches with different strides meet: {jumps}")
            axes.append(max(column, key=lambda a: a.size))  # first of the largest wins
        return tuple(axes)

    def arg(self, node: torch.fx.Node, index: int, name: str, default: Any) -> Any:
        if len(node.args) > index:
            return node.args[index]
        return node.kwargs.get(name, default)

    # rules --------------------------------------------------------------------------
    def conv_like(self, state: _State, k: Any, s: Any, p: Any, d: Any = 1) -> _State:
        n = self.ndim
        k, s, d = _tuple(k, n), _tuple(s if s not in (None, ()) else k, n), _tuple(d, n)
        if isinstance(p, str):  # 'valid' or 'same'
            p = (0,) * n if p == "valid" else tuple((dd * (kk - 1)) // 2 for kk, dd in zip(k, d))
        p = _tuple(p, n)
        return tuple(_conv_axis(a, *params) for a, params in zip(state, zip(k, s, p, d)))

    def pad(self, state: _State, pad: Sequence[int]) -> _State:
        # F.pad order: last dim first, (left, right) pairs.
        axes = list(state)
        for i in range(min(len(pad) // 2, self.ndim)):
            axis = self.ndim - 1 - i
            a = axes[axis]
            if not a.is_global:
                axes[axis] = AxisRF(a.size, a.jump, a.offset - pad[2 * i] * a.jump)
        return tuple(axes)

    def resample(
        self, node: torch.fx.Node, state: _State, parent: torch.fx.Node, mode: str, align: bool | None
    ) -> _State:
        taps = {
            "nearest": 1,
            "nearest-exact": 1,
            "linear": 2,
            "bilinear": 2,
            "trilinear": 2,
            "bicubic": 4,
            "area": None,
        }
        if mode not in taps:
            raise self.fail(node, f"unknown interpolation mode {mode!r}")
        n_in, n_out = self.spatial(parent), self.spatial(node)
        if mode == "area":  # area interpolation is adaptive average pooling
            return tuple(_adaptive_axis(a, i, o) for a, i, o in zip(state, n_in, n_out))
        return tuple(_resample_axis(a, i, o, taps[mode], bool(align)) for a, i, o in zip(state, n_in, n_out))

    def module_rule(self, node: torch.fx.Node, m: nn.Module, state: _State, parent: torch.fx.Node) -> _State:
        if isinstance(m, _IDENTITY_MODULES):
            return state
        if _is_custom_kernel_module(m):
            return self.custom_kernel(node, m, state, parent)
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            n = self.ndim
            params = (_tuple(m.kernel_size, n), _tuple(m.stride, n), _tuple(m.padding, n), _tuple(m.dilation, n))
            return tuple(_transposed_axis(a, *axis_params) for a, axis_params in zip(state, zip(*params)))
        if isinstance(m, nn.modules.conv._ConvNd):
            return self.conv_like(state, m.kernel_size, m.stride, m.padding, m.dilation)
        if isinstance(m, nn.modules.pooling._MaxPoolNd):
            return self.conv_like(state, m.kernel_size, m.stride, m.padding, m.dilation)
        if isinstance(m, (nn.modules.pooling._AvgPoolNd, nn.modules.pooling._LPPoolNd)):
            return self.conv_like(state, m.kernel_size, m.stride, getattr(m, "padding", 0))
        if isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
            return tuple(_adaptive_axis(a, i, o) for a, i, o in zip(state, self.spatial(parent), self.spatial(node)))
        if isinstance(m, nn.Upsample):
            return self.resample(node, state, parent, m.mode, m.align_corners)
        if isinstance(m, nn.PixelShuffle):
            return self.resample(node, state, parent, "nearest", False)
        if isinstance(m, nn.PixelUnshuffle):
            return self.conv_like(state, m.downscale_factor, m.downscale_factor, 0)
        if isinstance(m, (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                          nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d)):  # fmt: skip
            return self.pad(state, m.padding)
        if isinstance(m, (nn.Flatten, nn.Linear, nn.Bilinear, nn.LayerNorm, nn.Softmax, nn.ChannelShuffle)):
            return self.shape_rule(node, state, parent)
        raise self.fail(node, f"no receptive-field rule for module {type(m).__name__}")

    def custom_kernel(self, node: torch.fx.Node, m: nn.Module, state: _State, parent: torch.fx.Node) -> _State:
        """A conv-like module from outside torch.nn, read from its kernel_size/stride/padding/dilation.

        A missing ``stride`` is inferred from the shapes: 1 when the output is what a
        stride-1 conv gives, ``k`` when it is what a pool with stride = kernel gives.
        """
        n = self.ndim
        k, d = _tuple(m.kernel_size, n), _tuple(getattr(m, "dilation", 1), n)
        p = getattr(m, "padding", 0)
        if isinstance(p, str):
            p = (0,) * n if p == "valid" else tuple((dd * (kk - 1)) // 2 for kk, dd in zip(k, d))
        p = _tuple(p, n)
        if hasattr(m, "stride"):
            s = _tuple(m.stride, n)
        else:
            s = tuple(
                _infer_stride(dd * (kk - 1) + 1, pp, i, o)
                for kk, dd, pp, i, o in zip(k, d, p, self.spatial(parent), self.spatial(node))
            )
            if None in s:
                raise self.fail(
                    node,
                    "has a kernel_size but no stride, and its output shape fits neither stride 1 nor stride = kernel",
                )
        return self.conv_like(state, k, s, p, d)

    def shape_rule(self, node: torch.fx.Node, state: _State, parent: torch.fx.Node) -> _State:
        """Identity when the spatial dims survive at the end of the shape, global when they are gone."""
        if self.spatial(node) == self.spatial(parent) and len(self.spatial(node)) == self.ndim:
            return state
        return (GLOBAL,) * self.ndim

    def function_rule(self, node: torch.fx.Node, name: str, state: _State, parent: torch.fx.Node) -> _State:
        target = node.target
        if target is F.max_pool1d or target is F.max_pool2d or target is F.max_pool3d or name.startswith("max_pool"):
            k = self.arg(node, 1, "kernel_size", None)
            return self.conv_like(state, k, self.arg(node, 2, "stride", None), self.arg(node, 3, "padding", 0),
                                  self.arg(node, 4, "dilation", 1))  # fmt: skip
        if name in {"avg_pool1d", "avg_pool2d", "avg_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d"}:
            if name.startswith("lp"):  # lp_pool(input, norm_type, kernel_size, stride)
                return self.conv_like(
                    state, self.arg(node, 2, "kernel_size", None), self.arg(node, 3, "stride", None), 0
                )
            k = self.arg(node, 1, "kernel_size", None)
            return self.conv_like(state, k, self.arg(node, 2, "stride", None), self.arg(node, 3, "padding", 0))
        if name in {"conv1d", "conv2d", "conv3d"}:
            weight = _shape(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
            if weight is None:
                raise self.fail(node, "the weight's shape is unknown")
            return self.conv_like(state, weight[2:], self.arg(node, 3, "stride", 1), self.arg(node, 4, "padding", 0),
                                  self.arg(node, 5, "dilation", 1))  # fmt: skip
        if name in {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}:
            weight = _shape(node.args[1] if len(node.args) > 1 else node.kwargs["weight"])
            n = self.ndim
            k, s = weight[2:], _tuple(self.arg(node, 3, "stride", 1), n)
            p, d = _tuple(self.arg(node, 4, "padding", 0), n), _tuple(self.arg(node, 7, "dilation", 1), n)
            return tuple(_transposed_axis(a, *params) for a, params in zip(state, zip(k, s, p, d)))
        if name.startswith("adaptive_") and name.endswith(("pool1d", "pool2d", "pool3d")):
            return tuple(_adaptive_axis(a, i, o) for a, i, o in zip(state, self.spatial(parent), self.spatial(node)))
        if name in {"interpolate", "upsample"}:
            return self.resample(node, state, parent, self.arg(node, 3, "mode", "nearest"),
                                 self.arg(node, 4, "align_corners", None))  # fmt: skip
        if name == "pixel_shuffle":
            return self.resample(node, state, parent, "nearest", False)
        if name == "pixel_unshuffle":
            f = self.arg(node, 1, "downscale_factor", 1)
            return self.conv_like(state, f, f, 0)
        if name == "pad":
            return self.pad(state, self.arg(node, 1, "pad", ()))
        if name == "getitem":
            return self.getitem(node, state, parent)
        if name in _SPLITS:
            return self.split(node, name, state, parent)
        if name in _IDENTITY_FUNCTIONS | _RESHAPES | _MERGES | _REDUCTIONS:
            return self.shape_rule(node, state, parent)
        if _is_pointwise(name):
            return self.shape_rule(node, state, parent)
        raise self.fail(node, f"no receptive-field rule for function {name!r}")

    def split(self, node: torch.fx.Node, name: str, state: _State, parent: torch.fx.Node) -> _State:
        """A split into a tuple of tensors along the batch or channel axis keeps every field.

        Each element is taken by a ``getitem``, which passes the state on.
        """
        rank = len(_shape(parent) or ())
        dim = self.arg(node, 1 if name == "unbind" else 2, "dim", 0)
        if rank and dim % rank >= rank - self.ndim:
            raise self.fail(node, f"splits spatial axis {dim}; only batch and channel splits have a rule")
        return state

    def getitem(self, node: torch.fx.Node, state: _State, parent: torch.fx.Node) -> _State:
        meta = parent.meta.get("tensor_meta")
        if not hasattr(meta, "shape"):  # an element of a tuple (chunk, split, max_pool with indices)
            return state
        index = node.args[1]
        index = index if isinstance(index, tuple) else (index,)
        shape = _shape(parent)
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index = index[:at] + (slice(None),) * (len(shape) - len(index) + 1) + index[at + 1 :]
        index = index + (slice(None),) * (len(shape) - len(index))
        if any(i is None for i in index) or len(index) != len(shape):
            return self.shape_rule(node, state, parent)
        axes = list(state)
        for axis, item in enumerate(index[len(shape) - self.ndim :]):
            if isinstance(item, slice):  # bounds computed from sizes (a UNet's centre crop) are known by now
                item = slice(*(_known(bound) for bound in (item.start, item.stop, item.step)))
            if item == slice(None) or axes[axis].is_global:
                continue
            if not isinstance(item, slice) or any(isinstance(b, torch.fx.Node) for b in (item.start, item.stop)):
                return self.shape_rule(node, state, parent)
            start, _, step = item.indices(shape[len(shape) - self.ndim + axis])
            a = axes[axis]
            axes[axis] = AxisRF(a.size, a.jump * step, a.offset + start * a.jump)
        return tuple(axes)

    def run(self) -> None:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if not self.states:  # the image; other placeholders are constants
                    self.states[node] = tuple(AxisRF(Fraction(1), Fraction(1), Fraction(0)) for _ in range(self.ndim))
                continue
            if node.op in ("output", "get_attr"):
                continue
            parents = self.inputs(node)
            if not parents or "tensor_meta" not in node.meta:  # constants, or None (an input check)
                continue
            state = self.merge(node, parents)
            first = parents[0]
            if node.op == "call_module":
                module = self.modules[node.target]
                state = self.module_rule(node, module, state, first)
            elif node.op == "call_method":
                state = self.function_rule(node, node.target, state, first)
            else:
                name = getattr(node.target, "__name__", str(node.target))
                if node.target in (F.max_pool1d, F.max_pool2d, F.max_pool3d):
                    name = "max_pool"
                state = self.function_rule(node, name, state, first)
            self.states[node] = state


def receptive_field(
    model: nn.Module, input_size: Sequence[int], ignore_gates: bool = False
) -> ReceptiveFieldResult:
    """The theoretical receptive field at each ``feature_info`` stage and at the output.

    Args:
        model: the network, on any device (the meta device is fastest). Its
            ``feature_info`` (if any) names the stage modules.
        input_size: one example's input, ``(C, H, W)`` (or ``(C, L)`` / ``(C, D, H, W)``
            for 1-D / 3-D networks); the spatial dims are the entries after C.
        ignore_gates: leave out the global context that gates of spatial size 1
            (squeeze-and-excitation and its kin) multiply in, giving the local field.

    Returns:
        A :class:`ReceptiveFieldResult`; sizes, strides and offsets are in input pixels.

    Raises:
        ReceptiveFieldError: (a :class:`ConvzooError`) when the model cannot be traced
            or contains a construct with no rule, naming it.
    """
    input_size = tuple(int(s) for s in input_size)
    if len(input_size) < 2:
        raise ReceptiveFieldError(f"input_size must be (C, *spatial), got {input_size}")
    ndim = len(input_size) - 1
    stage_modules = [info["module"] for info in getattr(model, "feature_info", None) or []]
    was_training = model.training
    model.eval()
    try:
        gm, stage_nodes = _trace(model, stage_modules)
        _propagate_shapes(gm, input_size, type(model).__name__)
        prop = _Propagator(gm, ndim, ignore_gates)
        prop.run()
    finally:
        model.train(was_training)

    named = _named_nodes(gm, stage_modules, stage_nodes, prop)
    fields = [ReceptiveField(name, _shape(node) or (), prop.states[node]) for name, node in named]
    return ReceptiveFieldResult(
        model=type(model).__name__,
        input_size=input_size,
        stages=fields[:-1],
        output=fields[-1],
        global_through_gates=_global_through_gates(prop, named) if prop.gates_made_global else (),
    )


def _named_nodes(
    gm: torch.fx.GraphModule, stage_modules: list[str], stage_nodes: dict[str, torch.fx.Node], prop: _Propagator
) -> list[tuple[str, torch.fx.Node]]:
    """``(name, node)`` of each stage and of the output, every one checked to depend on the input."""
    named = []
    for name in stage_modules:
        if name not in stage_nodes:
            raise ReceptiveFieldError(f"receptive field: feature_info module {name!r} is not called in forward")
        named.append((name, stage_nodes[name]))
    output_node = next(n for n in gm.graph.nodes if n.op == "output")
    outputs: list[torch.fx.Node] = []
    torch.fx.node.map_arg(output_node.args, outputs.append)
    tracked = [n for n in outputs if n in prop.states]
    if not tracked:
        raise ReceptiveFieldError("receptive field: the model's output does not depend on its input")
    for name, node in named:
        if node not in prop.states:
            raise ReceptiveFieldError(f"receptive field: {name!r} does not depend on the input")
    return [*named, ("output", tracked[0])]


def _global_through_gates(prop: _Propagator, named: list[tuple[str, torch.fx.Node]]) -> tuple[str, ...]:
    """The names of the fields that are global only because of gates: local once the gates are ignored."""
    local = _Propagator(prop.gm, prop.ndim, ignore_gates=True)
    local.run()
    return tuple(
        name
        for name, node in named
        if any(a.is_global for a in prop.states[node]) and not any(a.is_global for a in local.states[node])
    )
