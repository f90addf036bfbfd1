"""Post-training static int8 quantisation: onnxruntime's quantiser on an ONNX file, and PyTorch's PT2E flow.

Static quantisation replaces float32 tensors by 8-bit integers with a scale and a zero point,
``x ~ scale * (q - zero_point)`` (Jacob et al., Eq. 1). Weights are known, so their ranges are read
from them: per output channel (Krishnamoorthi 2018, section 3.1), since one range for a whole
layer wastes most of the 256 levels on the channels with small weights. Activations are not known
in advance: a few *calibration* batches run through the float model and an observer chooses each
activation's range from what it saw. onnxruntime has three observers:

- ``minmax``: the smallest and largest value seen; no value clips, but one outlier stretches
  the steps of all the others.
- ``entropy``: the range whose quantised histogram is closest in KL divergence to the float one
  (Migacz, "8-bit Inference with TensorRT", GTC 2017). onnxruntime's ``quantize_static`` builds this
  calibrator with a 128-bin histogram and 128 quantised bins, which leaves the KL search one candidate,
  the whole range, so its 'entropy' is MinMax; convzoo computes the ranges itself with TensorRT's
  2048 bins and 128 quantised bins and hands them to ``quantize_static`` as a calibration cache.
- ``percentile``: the range holding 99.999% of the values seen; outliers clip.

The model is written in the QDQ format: ``QuantizeLinear -> DequantizeLinear`` pairs around each
float op, which onnxruntime's graph optimiser fuses into integer kernels (QLinearConv and the like)
where the CPU has them, and which any ONNX runtime can still execute in float.

PT2E (``quantize_pt2e``) is PyTorch's graph-mode flow: ``torch.export`` captures the model, a
quantizer annotates it (here ``X86InductorQuantizer``: uint8 activations per tensor, int8 weights per
channel, the recipe of Intel's oneDNN kernels), observers calibrate, and ``convert_pt2e`` inserts the
quantize/dequantize ops that ``torch.compile`` lowers to int8 kernels. In torch 2.14 the flow is no
longer in ``torch.ao.quantization`` (``torch.ao.quantization.quantize_pt2e`` and
``torch.ao.quantization.quantizer`` are gone); it lives in torchao (``torchao.quantization.pt2e``),
an optional dependency here.

Papers: Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference
(Jacob, Kligys, Chen, Zhu, Tang, Howard, Adam, Kalenichenko, CVPR 2018) https://arxiv.org/abs/1712.05877;
Quantizing deep convolutional networks for efficient inference: A whitepaper (Krishnamoorthi, 2018)
https://arxiv.org/abs/1806.08342

Deviations: the ONNX path quantises activations to uint8 and weights to symmetric int8 (onnxruntime's
"U8S8", the default of its x86 kernels); the PT2E path returns the converted graph module (quantize and
dequantize ops around float ops), which runs int8 kernels only once compiled with ``torch.compile``.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnx
import onnxruntime
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    create_calibrator,
    quantize_static,
    save_tensors_data,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn
from torch.utils.data import Dataset

from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import atomic_path

__all__ = [
    "CALIBRATION_METHODS", "ArrayCalibrationReader", "calibration_batches", "onnx_accuracy", "quantize_onnx",
    "quantize_pt2e",
]

CALIBRATION_METHODS: dict[str, CalibrationMethod] = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}

ENTROPY_HISTOGRAM_BINS = 2048  # TensorRT's histogram of activations (Migacz 2017)
ENTROPY_QUANTIZED_BINS = 128  # TensorRT's quantised bins: the narrowest range the KL search tries spans this many


def _cut(batches: list[np.ndarray], batch: int | None) -> list[np.ndarray]:
    """The batches as float32, each cut into pieces of ``batch`` rows where the model's batch axis is
    fixed (a remainder too short for a piece is dropped)."""
    batches = [np.ascontiguousarray(item, dtype=np.float32) for item in batches]
    if batch is None:
        return batches
    return [item[start:start + batch] for item in batches for start in range(0, item.shape[0] - batch + 1, batch)]


class ArrayCalibrationReader(CalibrationDataReader):
    """onnxruntime's calibration reader over input batches, each fed once to the model's single input.

    Args:
        batches: float32 input batches (NCHW for an image classifier).
        input_name: the name of the ONNX graph's input.
    """

    def __init__(self, batches: Iterable[np.ndarray], input_name: str) -> None:
        self.input_name = input_name
        self._batches = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self._batches, None)
        return None if item is None else {self.input_name: item}


def _graph_input(model: onnx.ModelProto, path: Path) -> tuple[str, int, int | None]:
    """The name, rank and fixed batch size (``None`` if dynamic) of the model's one input."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1:
        raise ConvzooError(f"{path} has {len(inputs)} inputs; expected a model with one input image batch")
    dims = inputs[0].type.tensor_type.shape.dim
    batch = dims[0].dim_value if dims and dims[0].HasField("dim_value") else None
    return inputs[0].name, len(dims), batch


def _load_onnx(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ConvzooError(f"{path} does not exist; expected an ONNX model file")
    try:
        return onnx.load(str(path))
    except Exception as error:  # protobuf's DecodeError and friends
        raise ConvzooError(f"{path} is not a readable ONNX model: {str(error).splitlines()[0]}") from None


def _entropy_cache(model: Path, reader: CalibrationDataReader, work: Path) -> Path:
    """The KL (entropy) activation ranges of ``model`` on ``reader``'s batches, written as the JSON
    calibration cache that ``quantize_static`` reads, with TensorRT's bin counts (see the module docstring)."""
    calibrator = create_calibrator(
        model, augmented_model_path=str(work / "augmented.onnx"), calibrate_method=CalibrationMethod.Entropy,
        extra_options={"num_bins": ENTROPY_HISTOGRAM_BINS, "num_quantized_bins": ENTROPY_QUANTIZED_BINS},
    )
    calibrator.collect_data(reader)
    cache = work / "entropy-ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def _checked_calibration(calibration: Iterable[np.ndarray], rank: int) -> list[np.ndarray]:
    batches = [np.asarray(item) for item in calibration]
    if not batches:
        raise ConvzooError("no calibration batches: give at least one input batch")
    for index, item in enumerate(batches):
        if item.ndim != rank:
            raise ConvzooError(f"calibration batch {index} has shape {item.shape}; the model takes {rank}-D input")
    return batches


def quantize_onnx(
    fp32_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration: Iterable[np.ndarray],
    *,
    method: str = "minmax",
    per_channel: bool = True,
) -> Path:
    """Quantise a float32 ONNX model to int8 (static, QDQ format) through onnxruntime's quantiser.

    The model is first pre-processed as onnxruntime recommends (shape inference and graph
    optimisation: batch norms folded into convolutions), then its activation ranges are calibrated on
    ``calibration`` (each item one input batch, float32 NCHW) with ``method``. The output is written
    atomically: a failure leaves no file at ``out_path``.

    Args:
        fp32_path: the float32 model.
        out_path: where the int8 model goes.
        calibration: input batches, e.g. from :func:`calibration_batches`.
        method: ``minmax``, ``entropy`` or ``percentile`` (see the module docstring).
        per_channel: one scale per output channel of each weight (else one per tensor).
    """
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if method not in CALIBRATION_METHODS:
        raise ConvzooError(f"unknown calibration method {method!r}; expected one of {', '.join(CALIBRATION_METHODS)}")
    input_name, rank, batch = _graph_input(_load_onnx(fp32_path), fp32_path)
    batches = _cut(_checked_calibration(calibration, rank), batch)
    if not batches:
        raise ConvzooError(f"no calibration batch has the model's fixed batch size {batch}; give batches of at "
                           f"least {batch} images")
    reader = ArrayCalibrationReader(batches, input_name)
    with tempfile.TemporaryDirectory(prefix="convzoo-quantize-") as work, atomic_path(out_path) as temporary:
        prepared = Path(work) / "prepared.onnx"
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
                quant_pre_process(str(fp32_path), str(prepared))
                cache = _entropy_cache(prepared, reader, Path(work)) if method == "entropy" else None
                quantize_static(
                    str(prepared), str(temporary), None if cache else reader,
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=per_channel,
                    calibrate_method=CALIBRATION_METHODS[method],
                    calibration_cache_path=cache,
                )
        except Exception as error:  # onnxruntime's own errors have no common base class
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConvzooError(f"onnxruntime cannot quantise {fp32_path}: {first_line}") from None
    return out_path


def calibration_batches(data: Dataset, batches: int, batch_size: int = 32, seed: int = 0) -> list[np.ndarray]:
    """``batches`` batches of ``batch_size`` images drawn without replacement from ``data`` (a seeded
    shuffle, so that every class is seen; images preprocessed as the dataset gives them), as float32
    arrays: calibration input for :func:`quantize_onnx`."""
    count = min(len(data), batches * batch_size)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    images = torch.stack([data[int(index)][0] for index in order]).numpy().astype(np.float32)
    return [images[start:start + batch_size] for start in range(0, count, batch_size)]


def onnx_accuracy(path: str | os.PathLike, data: Dataset, *, batch_size: int = 64, threads: int | None = None) -> float:
    """Top-1 accuracy of an ONNX classifier on ``data`` in onnxruntime (CPU)."""
    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(data), batch_size):
        items = [data[index] for index in range(start, min(start + batch_size, len(data)))]
        images = torch.stack([image for image, _ in items]).numpy().astype(np.float32)
        labels = np.array([int(label) for _, label in items])
        logits = session.run(None, {input_name: images})[0]
        correct += int((logits.argmax(axis=1) == labels).sum())
    return correct / len(data)


def quantize_pt2e(model: nn.Module, calibration: Sequence[torch.Tensor]) -> torch.fx.GraphModule:
    """Quantise ``model`` with PyTorch's PT2E flow and the X86 Inductor quantizer (torchao's).

    ``torch.export`` captures ``model`` in eval mode on the first calibration batch, with a dynamic
    batch axis; each calibration batch then runs once through the observed graph. The result computes
    as the int8 model does (quantize/dequantize ops around float ops); ``torch.compile`` lowers it to
    oneDNN int8 kernels.
    """
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )
    except ImportError:
        raise ConvzooError(f"PT2E quantisation needs torchao (pip install torchao): torch {torch.__version__} "
                           "no longer ships torch.ao.quantization.quantize_pt2e") from None
    if not calibration:
        raise ConvzooError("no calibration batches: give at least one input batch")
    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config())
    example = calibration[0]
    if example.shape[0] < 2:  # export would fix a batch of 1 for good
        example = example.expand(2, *example.shape[1:])
    batch_axis = {0: torch.export.Dim.DYNAMIC}  # calibration and later batches may differ in size
    captured = torch.export.export(model.eval(), (example,), dynamic_shapes=(batch_axis,)).module()
    observed = prepare_pt2e(captured, quantizer)
    with torch.no_grad():
        for batch in calibration:
            observed(batch)
    return convert_pt2e(observed)
