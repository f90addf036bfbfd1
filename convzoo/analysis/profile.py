"""Complexity profile of a network: parameters, MACs, FLOPs, activation memory, per layer.

The model runs once, forward only, in eval mode. Each leaf module (a module without
children) is measured by a forward hook with a closed-form formula for its type; a
:class:`~torch.utils._python_dispatch.TorchDispatchMode` watches the ATen operators
underneath and counts the work that no formula covers: matrix products written as
``torch.matmul``/``@``/``bmm`` inside attention blocks, functional ``F.conv2d``, residual
additions, and whatever a custom leaf module computes.

Built under ``torch.device("meta")`` the model holds no weights and its tensors carry
only shapes, so profiling VGG-19 at 224x224 takes milliseconds.

Conventions:
    * **MAC** (multiply-accumulate): one multiplication plus one addition. ``macs``
      counts only the *dense* products: convolutions, linear layers and matrix
      products (``mm``/``addmm``/``bmm``/``baddbmm``/attention). This is what
      torchvision publishes as "GFLOPS" and what
      :class:`torch.utils.flop_counter.FlopCounterMode` counts (as ``2 x MACs``).
    * **FLOPs = 2 x MACs**, always; biases are not counted.
    * **other ops**: element-wise and reduction work, kept apart in ``other_ops`` and
      never folded into ``macs``: activations 1 op per output element; softmax 3;
      BatchNorm (eval, a folded scale and shift) 2; GroupNorm/LayerNorm/InstanceNorm 4
      (centre, scale, affine scale, affine shift; the mean/variance reductions are
      ignored); LocalResponseNorm ``size + 3`` (the window sum of squares, then the
      scale, power and division); max/average pooling ``prod(kernel)`` per output
      element; adaptive pooling one op per input element; a functional point-wise
      ATen op (``x + identity``) one op per output element.
    * **Conv** ``MACs = output elements x in_channels / groups x prod(kernel)``
      (dilation changes only the output size; the same for a deformable conv,
      ``torchvision::deform_conv2d``, whose interpolation is not counted); **ConvTranspose**
      ``MACs = input elements x out_channels / groups x prod(kernel)``; **Linear**
      ``MACs = output elements x in_features`` (any leading dimensions).
    * ``activation_bytes``: the bytes of the distinct storages that leaf-layer outputs
      hold. An output that shares its storage with the input or with an output already
      counted allocates nothing: an ``nn.Identity``, a view (``Flatten``, a reshape), an
      in-place op (``ReLU(inplace=True)``). It is the memory the layer outputs would take
      if none were freed, not the peak memory of inference.
    * All counts are for the whole batch (``batch_size`` images).
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from convzoo.analysis.profile_text import profile_lines
from convzoo.ops.channel_shuffle import ChannelShuffle

__all__ = ["LayerStats", "Coverage", "ProfileResult", "profile", "format_profile"]

logger = logging.getLogger(__name__)

aten = torch.ops.aten


# --------------------------------------------------------------------------- results


@dataclass
class LayerStats:
    """One call of one leaf module.

    Attributes:
        name: qualified module name (``layer1.0.conv1``); a module called more than once
            gets ``#2``, ``#3``, ... on its later calls. Work done by functional ops
            outside any leaf module is gathered in rows named ``<module> (functional)``.
        type: class name of the module.
        output_shape: shape of the output (of the first output tensor).
        params: parameters the module owns (counted on its first call only).
        macs: dense multiply-accumulates (conv / linear / matmul).
        other_ops: element-wise and reduction operations (see the module docstring).
        activation_bytes: bytes of the storages its outputs are the first to hold (0 for
            an identity, a view or an in-place op: their output is memory counted before).
        counted: whether convzoo knows a formula for this module type.
    """

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int = 0
    macs: int = 0
    other_ops: int = 0
    activation_bytes: int = 0
    counted: bool = True


@dataclass
class Coverage:
    """What the profile could not count.

    Attributes:
        leaf_calls: number of leaf-module calls seen.
        uncounted_types: leaf module types without a formula, and their number of
            calls. Their conv/matmul/point-wise ATen ops were still counted; anything
            else they compute was not.
        uncounted_ops: ATen ops that no rule covers (neither a formula'd module, a
            dense product, a point-wise op nor a view), with their number of calls.
    """

    leaf_calls: int = 0
    uncounted_types: dict[str, int] = field(default_factory=dict)
    uncounted_ops: dict[str, int] = field(default_factory=dict)

    @property
    def uncounted_share(self) -> float:
        """Fraction of the leaf-module calls whose type has no formula."""
        return sum(self.uncounted_types.values()) / self.leaf_calls if self.leaf_calls else 0.0

    def summary(self) -> str:
        """One line saying what was not counted."""
        if not self.uncounted_types and not self.uncounted_ops:
            return f"coverage: all {self.leaf_calls} leaf layers counted"
        parts = []
        if self.uncounted_types:
            types = ", ".join(f"{k} x{v}" for k, v in sorted(self.uncounted_types.items()))
            parts.append(
                f"{sum(self.uncounted_types.values())}/{self.leaf_calls} leaf layers "
                f"({self.uncounted_share:.1%}) have no formula ({types}); only their "
                "conv/matmul/point-wise ops were counted"
            )
        if self.uncounted_ops:
            ops = ", ".join(f"{k} x{v}" for k, v in sorted(self.uncounted_ops.items()))
            parts.append(f"ops not counted: {ops}")
        return "coverage: " + "; ".join(parts)


@dataclass
class ProfileResult:
    """The complexity profile of one model at one input size.

    ``flops`` is always ``2 * macs``; see the module docstring for the conventions.
    """

    input_shape: tuple[int, ...]
    params: int
    macs: int
    other_ops: int
    activation_bytes: int
    layers: list[LayerStats]
    coverage: Coverage
    device: str = "meta"

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs."""
        return 2 * self.macs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return {
            "input_shape": list(self.input_shape),
            "params": self.params,
            "macs": self.macs,
            "flops": self.flops,
            "flops_convention": "FLOPs = 2 x MACs",
            "other_ops": self.other_ops,
            "activation_bytes": self.activation_bytes,
            "device": self.device,
            "coverage": {
                "leaf_calls": self.coverage.leaf_calls,
                "uncounted_types": dict(self.coverage.uncounted_types),
                "uncounted_ops": dict(self.coverage.uncounted_ops),
                "uncounted_share": self.coverage.uncounted_share,
                "summary": self.coverage.summary(),
            },
            "layers": [{**asdict(layer), "output_shape": list(layer.output_shape)} for layer in self.layers],
        }


# --------------------------------------------------------------------------- formulas


def _numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _conv_macs(module: nn.modules.conv._ConvNd, inp: torch.Tensor, out: torch.Tensor) -> int:
    kernel = _numel(module.weight.shape[2:])
    if module.transposed:
        # weight is (in, out / groups, *k): every input element feeds out/groups x k outputs
        return inp.numel() * (module.out_channels // module.groups) * kernel
    return out.numel() * (module.in_channels // module.groups) * kernel


def _linear_macs(module: nn.Linear, inp: torch.Tensor, out: torch.Tensor) -> int:
    return out.numel() * module.in_features


_POOL_DIMS = {
    nn.MaxPool1d: 1,
    nn.AvgPool1d: 1,
    nn.LPPool1d: 1,
    nn.MaxPool2d: 2,
    nn.AvgPool2d: 2,
    nn.LPPool2d: 2,
    nn.MaxPool3d: 3,
    nn.AvgPool3d: 3,
    nn.LPPool3d: 3,
}


def _pool_ops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """``prod(kernel)`` comparisons or additions per output element."""
    kernel = module.kernel_size
    if isinstance(kernel, int):
        dims = next(d for t, d in _POOL_DIMS.items() if isinstance(module, t))
        kernel = (kernel,) * dims
    return out.numel() * _numel(kernel)


def _per_element(ops: int) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], int]:
    return lambda _m, _i, out: ops * out.numel()


# module type -> (MACs formula, other-ops formula); a None formula counts 0.
_Formula = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]
_FORMULAS: dict[type, tuple[_Formula | None, _Formula | None]] = {}


def _register(types: Sequence[type], macs: _Formula | None = None, other: _Formula | None = None) -> None:
    for t in types:
        _FORMULAS[t] = (macs, other)


_register(
    [nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d], macs=_conv_macs
)
_register([nn.Linear], macs=_linear_macs)
_register(
    [nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
     nn.ChannelShuffle, ChannelShuffle]
)
_register(
    [
        nn.ReLU,
        nn.ReLU6,
        nn.LeakyReLU,
        nn.PReLU,
        nn.ELU,
        nn.SELU,
        nn.CELU,
        nn.GELU,
        nn.SiLU,
        nn.Mish,
        nn.Hardswish,
        nn.Hardsigmoid,
        nn.Sigmoid,
        nn.Tanh,
        nn.Softplus,
        nn.Hardtanh,
        nn.Threshold,
        nn.Tanhshrink,
        nn.Softsign,
        nn.LogSigmoid,
    ],
    other=_per_element(1),
)
_register([nn.Softmax, nn.LogSoftmax, nn.Softmin], other=_per_element(3))
_register([nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm], other=_per_element(2))
_register(
    [nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d],
    other=_per_element(4),
)
_register([nn.LocalResponseNorm], other=lambda m, _i, out: (m.size + 3) * out.numel())
_register(
    [
        nn.MaxPool1d,
        nn.MaxPool2d,
        nn.MaxPool3d,
        nn.AvgPool1d,
        nn.AvgPool2d,
        nn.AvgPool3d,
        nn.LPPool1d,
        nn.LPPool2d,
        nn.LPPool3d,
    ],
    other=_pool_ops,
)
_register(
    [
        nn.AdaptiveAvgPool1d,
        nn.AdaptiveAvgPool2d,
        nn.AdaptiveAvgPool3d,
        nn.AdaptiveMaxPool1d,
        nn.AdaptiveMaxPool2d,
        nn.AdaptiveMaxPool3d,
    ],
    other=lambda _m, inp, _o: inp.numel(),
)


def _formula(module: nn.Module) -> tuple[_Formula | None, _Formula | None] | None:
    for t in type(module).__mro__:
        if t in _FORMULAS:
            return _FORMULAS[t]
    return None


# --------------------------------------------------------------------------- ATen ops


def _mm_macs(args: tuple) -> int:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * b.shape[1]


def _addmm_macs(args: tuple) -> int:
    return _mm_macs(args[1:])


def _bmm_macs(args: tuple) -> int:
    a, b = args[0], args[1]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def _baddbmm_macs(args: tuple) -> int:
    return _bmm_macs(args[1:])


def _sdpa_macs(args: tuple) -> int:
    q, k, v = args[0], args[1], args[2]
    batch_heads_l = _numel(q.shape[:-1])
    s = k.shape[-2]
    return batch_heads_l * s * q.shape[-1] + batch_heads_l * s * v.shape[-1]  # Q K^T, then A V


_DENSE_OPS: dict[Any, Callable[[tuple], int]] = {
    aten.mm.default: _mm_macs,
    aten.addmm.default: _addmm_macs,
    aten.bmm.default: _bmm_macs,
    aten.baddbmm.default: _baddbmm_macs,
}
for _name in (
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
):
    if hasattr(aten, _name):
        _DENSE_OPS[getattr(aten, _name).default] = _sdpa_macs

_CONV_OPS = {aten.convolution.default}


def _deform_conv2d_macs(args: tuple) -> int:
    """torchvision::deform_conv2d(input, weight, offset, ...): a conv whose taps read interpolated points."""
    x, weight, offset = args[0], args[1], args[2]
    return x.shape[0] * weight.shape[0] * _numel(offset.shape[-2:]) * _numel(weight.shape[1:])


# Dense ops of other libraries, by name: they exist in torch.ops only once that library is imported.
_NAMED_DENSE_OPS: dict[str, Callable[[tuple], int]] = {"torchvision::deform_conv2d": _deform_conv2d_macs}

# Ops that move no data or only copy it: never counted, never reported.
_FREE_OPS = {
    "view",
    "_unsafe_view",
    "reshape",
    "flatten",
    "unflatten",
    "t",
    "transpose",
    "permute",
    "expand",
    "squeeze",
    "unsqueeze",
    "detach",
    "alias",
    "clone",
    "contiguous",
    "slice",
    "select",
    "split",
    "split_with_sizes",
    "chunk",
    "unbind",
    "cat",
    "stack",
    "empty",
    "empty_like",
    "zeros",
    "zeros_like",
    "new_zeros",
    "new_empty",
    "ones",
    "ones_like",
    "full",
    "fill",
    "copy",
    "_to_copy",
    "lift_fresh",
    "index_put",
    "_index_put_impl",
    "index_select",
    "gather",
    "flip",
    "constant_pad_nd",
    "channel_shuffle",
    "native_channel_shuffle",
    "as_strided",
    "narrow",
    "lift_fresh_copy",
    "dropout",
    "native_dropout",
    "_reshape_alias",
    "sym_size",
    "sym_stride",
    "sym_numel",
    "is_same_size",
    "_local_scalar_dense",
    "scalar_tensor",
}


class _OpCounter(TorchDispatchMode):
    """Counts the ATen ops that no module formula accounts for."""

    def __init__(self, profiler: "_Profiler") -> None:
        super().__init__()
        self.profiler = profiler

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.profiler.on_op(func, args, out)
        return out


# --------------------------------------------------------------------------- profiler


class _Profiler:
    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        self.model = model
        # Storages seen so far, by identity; holding them keeps their address from being reused.
        self.storages: dict[int, torch.UntypedStorage] = {x.untyped_storage()._cdata: x.untyped_storage()}
        self.names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
        self.stack: list[nn.Module] = []  # modules being run, outermost first
        self.layers: list[LayerStats] = []
        self.open_rows: list[LayerStats | None] = []  # row of each leaf on the stack
        self.calls: Counter[nn.Module] = Counter()
        self.functional_rows: dict[str, LayerStats] = {}
        self.uncounted_ops: Counter[str] = Counter()
        self.uncounted_types: Counter[str] = Counter()
        self.leaf_calls = 0

    # module hooks ----------------------------------------------------------
    def pre_hook(self, module: nn.Module, inputs: tuple) -> None:
        self.stack.append(module)
        is_leaf = next(module.children(), None) is None
        row = None
        if is_leaf:
            self.calls[module] += 1
            n = self.calls[module]
            name = self.names.get(module, "") or type(module).__name__
            row = LayerStats(
                name=name if n == 1 else f"{name}#{n}",
                type=type(module).__name__,
                output_shape=(),
                params=sum(p.numel() for p in module.parameters()) if n == 1 else 0,
                counted=_formula(module) is not None,
            )
            self.layers.append(row)
            self.leaf_calls += 1
            if not row.counted:
                self.uncounted_types[row.type] += 1
        self.open_rows.append(row)

    def post_hook(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        row = self.open_rows.pop()
        self.stack.pop()
        if row is None:
            return
        outs = [t for t in tensors_in(output)]
        if outs:
            row.output_shape = tuple(outs[0].shape)
        row.activation_bytes = self.new_bytes(outs)
        formula = _formula(module)
        inp = next(iter(tensors_in(inputs)), None)
        if formula is not None and outs and inp is not None:
            macs_fn, other_fn = formula
            if macs_fn is not None:
                row.macs += int(macs_fn(module, inp, outs[0]))
            if other_fn is not None:
                row.other_ops += int(other_fn(module, inp, outs[0]))

    def new_bytes(self, tensors: Sequence[torch.Tensor]) -> int:
        """Bytes of the storages among ``tensors`` not seen before, which are then seen.

        A view, a reshape or an in-place op returns a tensor on a storage already seen:
        it allocates nothing.
        """
        total = 0
        for t in tensors:
            storage = t.untyped_storage()
            if storage._cdata not in self.storages:
                self.storages[storage._cdata] = storage
                total += storage.nbytes()
        return total

    # ATen ops ------------------------------------------------------------
    def _target(self) -> LayerStats | None:
        """Where an op's work goes: None if a formula'd leaf already counts it."""
        row = self.open_rows[-1] if self.open_rows else None
        if row is not None:
            return None if row.counted else row
        owner = self.names.get(self.stack[-1], "") if self.stack else ""
        key = f"{owner or '<model>'} (functional)"
        if key not in self.functional_rows:
            self.functional_rows[key] = LayerStats(name=key, type="functional", output_shape=())
            self.layers.append(self.functional_rows[key])
        return self.functional_rows[key]

    def on_op(self, func, args: tuple, out: Any) -> None:
        packet = func.overloadpacket.__name__.rstrip("_")
        if packet in _FREE_OPS:
            return
        if self.open_rows and self.open_rows[-1] is not None and self.open_rows[-1].counted:
            return  # inside a module whose formula counts everything
        if func in _DENSE_OPS:
            macs, other = _DENSE_OPS[func](args), 0
        elif func.name() in _NAMED_DENSE_OPS:
            macs, other = _NAMED_DENSE_OPS[func.name()](args), 0
        elif func in _CONV_OPS:
            x, w, transposed = args[0], args[1], bool(args[6])
            if transposed:
                macs = x.numel() * _numel(w.shape[1:])
            else:
                macs = _first_tensor(out).numel() * _numel(w.shape[1:])
            other = 0
        elif torch.Tag.pointwise in func.tags:
            macs, other = 0, sum(t.numel() for t in tensors_in(out))
        else:
            self.uncounted_ops[str(func.overloadpacket.__name__)] += 1
            return
        row = self._target()
        if row is not None:
            row.macs += macs
            row.other_ops += other
            if row.type == "functional":
                t = _first_tensor(out)
                if t is not None:
                    row.output_shape = tuple(t.shape)


def tensors_in(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a nest of lists, tuples and dicts (an op's arguments or results)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors_in(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors_in(item)


def _first_tensor(obj: Any) -> torch.Tensor | None:
    return next(iter(tensors_in(obj)), None)


def _run(model: nn.Module, x: torch.Tensor) -> _Profiler:
    prof = _Profiler(model, x)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(prof.pre_hook))
        handles.append(module.register_forward_hook(prof.post_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _OpCounter(prof):
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return prof


def _device_of(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("meta")


def profile(
    model: nn.Module | str,
    input_size: Sequence[int] | None = None,
    *,
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
) -> ProfileResult:
    """Measure parameters, MACs, FLOPs and activation memory of ``model``, per layer.

    Args:
        model: a module (best built under ``torch.device("meta")``, so no memory is
            spent), or a registry name, which is then built on the meta device.
        input_size: one input without the batch dimension, e.g. ``(3, 224, 224)``;
            the registry's default when ``model`` is a name and this is ``None``.
        batch_size: leading dimension of the input; all counts are for the batch.
        dtype: dtype of the input (activation bytes follow the outputs' dtypes).

    The model runs once, forward only, in eval mode (its mode is restored after). A
    model that fails on the meta device is run again on the CPU, with uninitialised
    weights when it was given on the meta device.
    """
    if isinstance(model, str):
        from convzoo.registry import create_model, get_entry

        if input_size is None:
            input_size = get_entry(model).input_size
        with torch.device("meta"):
            model = create_model(model)
    if input_size is None:
        raise ValueError("input_size is required, e.g. (3, 224, 224)")
    shape = (batch_size, *tuple(input_size))
    device = _device_of(model)
    try:
        prof = _run(model, torch.empty(shape, dtype=dtype, device=device))
    except (NotImplementedError, RuntimeError) as err:
        if device.type != "meta":
            raise
        logger.info("model fails on the meta device (%s); profiling on the CPU instead", err)
        model = copy.deepcopy(model).to_empty(device="cpu")
        device = torch.device("cpu")
        prof = _run(model, torch.zeros(shape, dtype=dtype, device=device))

    layers = prof.layers
    return ProfileResult(
        input_shape=shape,
        params=sum(p.numel() for p in model.parameters()),
        macs=sum(layer.macs for layer in layers),
        other_ops=sum(layer.other_ops for layer in layers),
        activation_bytes=sum(layer.activation_bytes for layer in layers if layer.type != "functional"),
        layers=layers,
        coverage=Coverage(
            leaf_calls=prof.leaf_calls,
            uncounted_types=dict(prof.uncounted_types),
            uncounted_ops=dict(prof.uncounted_ops),
        ),
        device=device.type,
    )


# --------------------------------------------------------------------------- text


def format_profile(result: ProfileResult, layers: bool = False) -> str:
    """A text table of ``result``: totals, and one row per layer when ``layers``."""
    return "\n".join(profile_lines(result.to_dict(), layers=layers))
