"""Export to ONNX and to torch.export's ExportedProgram, each checked against PyTorch before it is written.

ONNX (Open Neural Network Exchange) is the graph format that runtimes such as onnxruntime,
TensorRT and OpenVINO read. :func:`export_onnx` traces the model once on a seeded example
input, checks the graph with ``onnx.checker``, runs it in onnxruntime on the same input,
and writes the file only if the outputs agree with PyTorch's (no half-written file either
way). The report gives the largest absolute difference.

Which exporter. PyTorch has two: the TorchScript tracer (``dynamo=False``, deprecated
since PyTorch 2.9 but still shipped) and the torch.export-based one (``dynamo=True``,
ONNX Script). Measured over convzoo's registry at small inputs (docs/deployment.md), the
tracer exports 110 of the 112 models and is about 6 times faster per model (median
0.8 s against 4.7 s for export, check and onnxruntime); torch.export cannot capture the
networks built on ``features_only`` encoders (U-Nets on encoders, the simple baseline,
OpenPose on a zoo trunk, DensePose), whose feature extractor stops the backbone by raising
from a forward hook. So the tracer is the default; ``exporter="dynamo"`` selects the other,
which handles adaptive pooling at any input size and opsets above 20.

Tolerance. Outputs must agree to ``1e-4`` times the largest output magnitude, or to
``1e-4`` absolute when that magnitude is below 1: float32 rounds relative to size, and a
randomly initialised ResNet-152 reaches logits near 1e5, where two correct float32
implementations already differ by 1e-2.

A model that cannot export (an operator with no ONNX counterpart, or one the exporters
translate wrongly) fails with one line naming the operator; :data:`ONNX_EXCEPTIONS`
lists the registered models that do, and why.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import CheckpointMeta, atomic_path

__all__ = [
    "EXPORTERS", "ONNX_EXCEPTIONS", "ExportReport", "OnnxExport", "Unexportable", "checkpoint_metadata",
    "export_onnx", "export_onnx_bytes", "export_pt2", "onnx_session",
]

EXPORTERS = ("torchscript", "dynamo")
TORCHSCRIPT_OPSETS = range(9, 21)  # what torch's TorchScript exporter can write (torch 2.9 to 2.14)
TORCHSCRIPT_DEFAULT_OPSET = 20
DYNAMO_OPSETS = range(18, 24)
TOLERANCE = 1e-4
INPUT_NAME = "input"
_SEED = 0
_log = logging.getLogger(__name__)


class Unexportable(NamedTuple):
    """Why a registered model has no faithful ONNX export: the operator, and the reason."""

    op: str
    reason: str


# The registered models whose export fails, and why; docs/deployment.md repeats this table and
# tests/deploy/test_export.py checks that it is exactly the set of models that fail.
ONNX_EXCEPTIONS: dict[str, Unexportable] = {
    "alexnet_2012": Unexportable(
        "adaptive_avg_pool2d",
        "the TorchScript exporter writes adaptive pooling as a fixed AveragePool, which needs the input's size, and "
        "loses that size after local response normalisation (traced through size() calls); exporter='dynamo' "
        "exports it",
    ),
    "lenet5_1998": Unexportable(
        "aten::avg_pool2d(divisor_override)",
        "the paper's trainable sub-sampling sums each 2x2 block (avg_pool2d with divisor_override=1); ONNX "
        "AveragePool has no divisor, both exporters drop the argument, so the ONNX graph averages where "
        "PyTorch sums",
    ),
}

# Arguments ONNX cannot express, which the exporters drop without a word: (aten op, argument index).
_DROPPED_ARGUMENTS = {
    torch.ops.aten.avg_pool2d.default: (6, "aten::avg_pool2d(divisor_override)"),
    torch.ops.aten.avg_pool3d.default: (6, "aten::avg_pool3d(divisor_override)"),
}


@dataclass(frozen=True)
class OnnxExport:
    """A checked ONNX model in memory: the serialised ModelProto and how well it matched PyTorch."""

    data: bytes
    opset: int
    input_shape: tuple[int, ...]  # the example's, batch first
    max_abs_difference: float
    tolerance: float
    exporter: str


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote and how well onnxruntime reproduced PyTorch on it."""

    path: Path
    max_abs_difference: float
    tolerance: float
    opset: int
    input_shape: tuple[int, ...]  # batch first; the batch axis is symbolic when dynamic_batch
    dynamic_batch: bool
    exporter: str
    size_bytes: int


def checkpoint_metadata(meta: CheckpointMeta) -> dict[str, str]:
    """A checkpoint's preprocessing as ONNX ``metadata_props``: plain strings, lists as JSON."""
    fields = {
        "model": meta.model, "task": meta.task, "dataset": meta.dataset, "input_size": json.dumps(meta.input_size),
        "mean": json.dumps(meta.mean), "std": json.dumps(meta.std), "class_names": json.dumps(meta.class_names),
    }
    if meta.eval_crop_fraction is not None:
        fields["eval_crop_fraction"] = json.dumps(meta.eval_crop_fraction)
    return fields


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    input_size: tuple[int, ...],
    dynamic_batch: bool = False,
    opset: int | None = None,
    metadata: dict[str, str] | None = None,
    exporter: str = "torchscript",
) -> ExportReport:
    """Export ``model`` to an ONNX file, checked and compared with PyTorch in onnxruntime first.

    Args:
        model: any module; it is traced in eval mode and left in the mode it had.
        path: the ``.onnx`` file, written atomically.
        input_size: one example's shape without the batch axis, e.g. ``(3, 224, 224)``.
        dynamic_batch: a symbolic batch axis (checked at two batch sizes); else batch 1.
        opset: the ONNX opset (default: the exporter's own, 20 for TorchScript).
        metadata: strings for the model's ``metadata_props`` (e.g. :func:`checkpoint_metadata`).
        exporter: ``"torchscript"`` (default) or ``"dynamo"``; see the module docstring.
    """
    path = Path(path)
    exported = export_onnx_bytes(model, input_size=input_size, dynamic_batch=dynamic_batch, opset=opset,
                                 metadata=metadata, exporter=exporter)
    with atomic_path(path) as temporary:
        temporary.write_bytes(exported.data)
    return ExportReport(path, exported.max_abs_difference, exported.tolerance, exported.opset,
                        exported.input_shape, dynamic_batch, exported.exporter, len(exported.data))


def export_onnx_bytes(
    model: nn.Module,
    *,
    input_size: tuple[int, ...],
    dynamic_batch: bool = False,
    opset: int | None = None,
    metadata: dict[str, str] | None = None,
    exporter: str = "torchscript",
) -> OnnxExport:
    """:func:`export_onnx` without the file: the checked model as bytes (what a registry-wide test needs)."""
    _check_options(exporter, opset)
    example = _example(input_size, 2 if dynamic_batch else 1)
    with _eval_mode(model):
        with torch.no_grad():
            reference = _flatten(model(example))
        if exporter == "torchscript":
            opset = opset or TORCHSCRIPT_DEFAULT_OPSET
            data, opset = _torchscript_bytes(model, example, reference, dynamic_batch, opset)
        else:
            data, opset = _dynamo_bytes(model, example, dynamic_batch, opset)
        if metadata:
            data = _with_metadata(data, metadata)
        _check_graph(data, model)
        # Basic optimisation checks what the file computes, not onnxruntime's own fusions, at half the
        # session cost of the full level (the weights of a 500 MB model are copied once fewer). One thread:
        # a check runs once or twice, too few runs to repay a pool whose threads spin while they wait.
        session = _session(data, threads=1, source=f"the ONNX export of {_name(model)}",
                           level=onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC)
        difference, tolerance = _compare(session, model, example, reference)
        if dynamic_batch:  # a second batch size shows that the batch axis really is free
            other = _example(input_size, 3)
            with torch.no_grad():
                other_difference, other_tolerance = _compare(session, model, other, _flatten(model(other)))
            difference, tolerance = max(difference, other_difference), min(tolerance, other_tolerance)
    shape = tuple(example.shape)
    return OnnxExport(data, opset, shape, difference, tolerance, exporter)


def export_pt2(
    model: nn.Module, path: str | os.PathLike, *, input_size: tuple[int, ...], dynamic_batch: bool = False
) -> Path:
    """Capture ``model`` (eval mode) with ``torch.export`` and save the ExportedProgram to ``path`` (a ``.pt2``).

    The program is run on the example input and must reproduce the model within the ONNX tolerance
    before anything is written; load it again with ``torch.export.load(path).module()``.
    """
    path = Path(path)
    example = _example(input_size, 2 if dynamic_batch else 1)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    with _eval_mode(model), torch.no_grad():
        reference = _flatten(model(example))
        try:
            program = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
        except Exception as error:  # torch.export raises many types; each is one user-facing failure
            raise ConvzooError(f"torch.export cannot capture {_name(model)}: {_first_line(error)}") from None
        produced = _flatten(program.module()(example))
    difference, tolerance = _difference([t.numpy() for t in produced], reference)
    if not difference <= tolerance:
        raise ConvzooError(f"the torch.export program of {_name(model)} differs from the model by {difference:.3g} "
                           f"(tolerance {tolerance:.3g})")
    buffer = io.BytesIO()  # torch.export.save wants a .pt2 name or a buffer; the temporary file has neither
    torch.export.save(program, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return path


def onnx_session(path: str | os.PathLike, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime session on the CPU provider; ``threads`` intra-op threads (default: onnxruntime's)."""
    path = Path(path)
    if not path.is_file():
        raise ConvzooError(f"ONNX file {path} does not exist")
    return _session(str(path), threads, source=str(path))


# ---------------------------------------------------------------- export


def _check_options(exporter: str, opset: int | None) -> None:
    if exporter not in EXPORTERS:
        raise ConvzooError(f"unknown ONNX exporter {exporter!r}: expected one of {', '.join(EXPORTERS)}")
    opsets = TORCHSCRIPT_OPSETS if exporter == "torchscript" else DYNAMO_OPSETS
    if opset is not None and opset not in opsets:
        raise ConvzooError(f"the {exporter} exporter writes opsets {opsets.start} to {opsets.stop - 1}, got "
                           f"opset {opset}")


def _example(input_size: tuple[int, ...], batch: int) -> torch.Tensor:
    """A seeded standard-normal batch: the same input for every export of the same shape."""
    generator = torch.Generator().manual_seed(_SEED)
    return torch.randn(batch, *input_size, generator=generator)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for a block; every submodule gets its own mode back after."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield model.eval()
    finally:
        for module, training in modes:
            module.training = training


def _flatten(output: Any) -> list[torch.Tensor]:
    """The tensors of a model's output in the order the exporters flatten it (dicts by insertion)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        return [tensor for value in output.values() for tensor in _flatten(value)]
    if isinstance(output, (list, tuple)):
        return [tensor for value in output for tensor in _flatten(value)]
    raise ConvzooError(f"cannot export an output of type {type(output).__name__}: expected tensors, or "
                       "tuples, lists or dicts of them")


def _output_names(count: int) -> list[str]:
    return ["output"] if count == 1 else [f"output_{index}" for index in range(count)]


def _torchscript_bytes(
    model: nn.Module, example: torch.Tensor, reference: list[torch.Tensor], dynamic_batch: bool, opset: int
) -> tuple[bytes, int]:
    output_names = _output_names(len(reference))
    dynamic_axes = {name: {0: "batch"} for name in [INPUT_NAME, *output_names]} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught, _quiet_stdout():
        warnings.simplefilter("always")  # recorded, not shown: the deprecation notice is answered above
        try:
            torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=output_names, dynamic_axes=dynamic_axes)
        except Exception as error:  # the tracer raises many types; each is one user-facing failure
            raise ConvzooError(f"cannot export {_name(model)} to ONNX with the TorchScript exporter: "
                               f"{_exporter_message(error)} (the dynamo exporter may: exporter='dynamo', "
                               "--exporter dynamo)") from None
    for warning in caught:  # a tracer warning marks a value fixed at the example (the comparison covers it)
        if issubclass(warning.category, torch.jit.TracerWarning):
            _log.info("tracing %s: %s", _name(model), warning.message)
    return buffer.getvalue(), opset


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null for a block. The TorchScript exporter prints the whole traced
    graph to C++'s stdout when it fails, and its switch for that log is stuck on (torch 2.9 to 2.14)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _dynamo_bytes(model: nn.Module, example: torch.Tensor, dynamic_batch: bool, opset: int | None) -> tuple[bytes, int]:
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    try:
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                    dynamic_shapes=dynamic_shapes, verbose=False)
    except Exception as error:  # torch.export and the translator raise many types
        raise ConvzooError(f"cannot export {_name(model)} to ONNX: {_exporter_message(error)}") from None
    proto = program.model_proto
    version = next(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx"))
    return proto.SerializeToString(), version


def _exporter_message(error: Exception) -> str:
    """The exporter's reason on one line, without its request for bug reports."""
    return re.split(r"\s*Please (feel free|report|open)", _first_line(error))[0].rstrip(". ")


def _with_metadata(data: bytes, metadata: dict[str, str]) -> bytes:
    """``data`` with ``metadata_props`` appended. Concatenated protobuf messages merge and repeated
    fields append, so this costs no parse and re-serialisation of the weights."""
    props = onnx.ModelProto()
    onnx.helper.set_model_props(props, {str(key): str(value) for key, value in metadata.items()})
    return data + props.SerializeToString()


def _check_graph(data: bytes, model: nn.Module) -> None:
    try:
        onnx.checker.check_model(data)
    except onnx.checker.ValidationError as error:
        raise ConvzooError(f"the ONNX export of {_name(model)} is invalid: {_first_line(error)}") from None


# ---------------------------------------------------------------- onnxruntime


def _session(
    model: str | bytes,
    threads: int | None,
    source: str,
    level: onnxruntime.GraphOptimizationLevel = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL,
) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = level
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are not the user's
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's pybind errors (Fail, InvalidProtobuf, ...) share no base
        raise ConvzooError(f"onnxruntime cannot load {source}: {_first_line(error)}") from None


def _compare(
    session: onnxruntime.InferenceSession, model: nn.Module, example: torch.Tensor, reference: list[torch.Tensor]
) -> tuple[float, float]:
    try:
        produced = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    except Exception as error:  # onnxruntime's pybind errors share no base
        raise ConvzooError(f"onnxruntime cannot run the ONNX export of {_name(model)}: {_first_line(error)}") from None
    difference, tolerance = _difference(produced, reference)
    if not difference <= tolerance:  # also catches NaN
        culprits = _dropped_arguments(model, example)
        cause = f"; ONNX cannot express {', '.join(culprits)}" if culprits else ""
        raise ConvzooError(f"the ONNX export of {_name(model)} differs from PyTorch by {difference:.3g} "
                           f"(tolerance {tolerance:.3g}){cause}")
    return difference, tolerance


def _difference(produced: list[np.ndarray], reference: list[torch.Tensor]) -> tuple[float, float]:
    """Largest absolute difference over all outputs, and the tolerance: 1e-4 of the outputs' scale (at least 1)."""
    if len(produced) != len(reference):
        return math.inf, TOLERANCE
    expected = [tensor.numpy() for tensor in reference]
    difference = max((float(np.abs(a - b).max(initial=0.0)) for a, b in zip(produced, expected)), default=0.0)
    scale = max((float(np.abs(b).max(initial=0.0)) for b in expected), default=0.0)
    return difference, TOLERANCE * max(1.0, scale)


class _OpRecorder(TorchDispatchMode):
    """Records, during a forward pass, every call whose argument ONNX cannot express."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in _DROPPED_ARGUMENTS:
            index, label = _DROPPED_ARGUMENTS[func]
            if len(args) > index and args[index] is not None and label not in self.found:
                self.found.append(label)
        return func(*args, **(kwargs or {}))


def _dropped_arguments(model: nn.Module, example: torch.Tensor) -> list[str]:
    """The operators of ``model``'s forward pass whose arguments the exporters drop (why outputs differ)."""
    recorder = _OpRecorder()
    with torch.no_grad(), recorder:
        model(example)
    return recorder.found


def _name(model: nn.Module) -> str:
    return type(model).__name__


def _first_line(error: BaseException) -> str:
    lines: Iterator[str] = (line.strip() for line in str(error).splitlines())
    return next((line for line in lines if line), type(error).__name__)
