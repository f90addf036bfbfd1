"""The inference benchmark: every deployment path of one network, timed the same way.

A deployment path is worth what it measures against the model a user starts from. So
:func:`benchmark` builds each *backend* from one eval-mode model and times every one of
them with the same loop, on the same random batch, with the same thread count:

* ``eager``: the PyTorch model as given (the reference of the ``vs eager`` column);
* ``channels_last``: a copy in NHWC memory layout (``channels_last_3d`` for volumes), input too;
* ``compile``: ``torch.compile`` with inductor, one static graph per batch size, weights frozen
  into it (inductor's ``freezing``, its CPU inference setting); on a CPU it writes C++ and
  needs a compiler, and a failure becomes the row's reason;
* ``fused``: :func:`convzoo.deploy.fuse.fuse`, batch norms folded and branches re-parameterised;
* ``onnxruntime``: :func:`convzoo.deploy.export.export_onnx` with a dynamic batch axis, run by
  :func:`convzoo.deploy.export.onnx_session` on the CPU provider;
* ``onnxruntime-int8``: that ONNX file through :func:`convzoo.deploy.quantize.quantize_onnx`
  (static QDQ int8, calibrated on :class:`Calibration` batches).

Timing (:func:`time_call`): ``warmup`` untimed calls (they also compile, and the first one's
output is compared with eager's), then ``repeats`` timed calls of one batch each; the
median and the 90th percentile of those per-batch latencies, and images/s = batch size /
median. PyTorch backends run under :func:`torch.no_grad` with ``torch.set_num_threads``;
onnxruntime sessions get the same number of intra-op threads. A backend that cannot be
built or run (a missing package, an op without an ONNX equivalent, no C compiler for
inductor) gives a row with its reason in one line instead of stopping the others.

Measure here, never in a pass/fail test: timings depend on the machine and its load. The
methodology follows the reproducibility advice of torch.utils.benchmark (warm-up, many
runs, medians rather than means, threads fixed and reported).
"""

from __future__ import annotations

import copy
import logging
import platform
import tempfile
import time
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from convzoo.analysis.timing import Timing, time_call, torch_threads
from convzoo.deploy.commands import BACKENDS
from convzoo.errors import ConvzooError

__all__ = [
    "BACKENDS",
    "BenchReport",
    "BenchRow",
    "Calibration",
    "benchmark",
    "dataset_calibration",
    "example_batch",
    "format_report",
    "machine_line",
    "parse_backends",
    "plot_report",
    "random_calibration",
]

logger = logging.getLogger(__name__)

REASON_LENGTH = 160  # a reason is one line; inductor's and onnx's messages run to pages

Bind = Callable[[torch.Tensor], Callable[[], Any]]  # a backend: given the input batch, the call to time


# --------------------------------------------------------------------------- results


@dataclass
class BenchRow:
    """One backend at one batch size: its timing, or the reason it has none."""

    backend: str
    batch_size: int
    timing: Timing | None = None
    max_abs_difference: float | None = None  # of its output against eager's, on the same batch
    setup_seconds: float | None = None  # building the backend and its first call at this batch size (compiling)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.timing is not None


@dataclass
class BenchReport:
    """Every row of :func:`benchmark` and the conditions they were measured under."""

    model: str
    input_size: tuple[int, ...]
    threads: int
    warmup: int
    repeats: int
    rows: list[BenchRow]
    calibration: str | None = None  # where the int8 calibration batches came from, when int8 was asked
    machine: str = field(default_factory=lambda: machine_line())

    def row(self, backend: str, batch_size: int) -> BenchRow:
        for row in self.rows:
            if row.backend == backend and row.batch_size == batch_size:
                return row
        raise KeyError((backend, batch_size))

    def speedup(self, row: BenchRow, reference: str = "eager") -> float | None:
        """How many times faster ``row`` is than ``reference`` at the same batch size (median against median)."""
        try:
            base = self.row(reference, row.batch_size)
        except KeyError:
            return None
        if not (row.ok and base.ok):
            return None
        return base.timing.median_ms / row.timing.median_ms


# --------------------------------------------------------------------------- inputs


@dataclass
class Calibration:
    """Batches for int8 calibration, loaded only when int8 is benchmarked.

    Attributes:
        source: what the batches are, for the report ("random N(0, 1) inputs", "digits train split").
        load: returns the batches, each one float32 NCHW input batch.
    """

    source: str
    load: Callable[[], list[np.ndarray]]


def random_calibration(input_size: Sequence[int], *, batches: int = 4, batch_size: int = 8,
                       seed: int = 0) -> Calibration:
    """``batches`` batches of standard-normal inputs: what a network normalised to zero mean sees, roughly."""
    shape = (batch_size, *input_size)

    def load() -> list[np.ndarray]:
        generator = torch.Generator().manual_seed(seed)
        return [torch.randn(shape, generator=generator).numpy() for _ in range(batches)]

    return Calibration(f"{batches} x {batch_size} random N(0, 1) inputs", load)


def dataset_calibration(dataset: str, input_size: Sequence[int], *, data_dir: str | None = None,
                        batches: int = 4, batch_size: int = 8) -> Calibration:
    """``batches x batch_size`` images drawn (seeded) from ``dataset``'s train split, normalised as in training,
    without augmentation: a checkpoint's own data, what its int8 ranges should cover."""
    in_chans, side = input_size[0], input_size[-1]

    def load() -> list[np.ndarray]:
        from convzoo.data import load_dataset
        from convzoo.deploy.quantize import calibration_batches

        splits = load_dataset(dataset, image_size=side, in_chans=in_chans, augment="none", data_dir=data_dir)
        return calibration_batches(splits.train, batches, batch_size)

    return Calibration(f"{batches} x {batch_size} images of the {dataset} train split", load)


def example_batch(batch_size: int, input_size: Sequence[int], seed: int = 0) -> torch.Tensor:
    """The random batch every backend is timed on (the same for all of them)."""
    return torch.randn((batch_size, *input_size), generator=torch.Generator().manual_seed(seed))


def parse_backends(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"eager,fused"`` -> ``("eager", "fused")``; an unknown name is one line with the closest known one."""
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else list(text)
    for name in names:
        if name not in BACKENDS:
            close = get_close_matches(name, BACKENDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConvzooError(f"unknown backend {name!r}{hint}; expected some of {', '.join(BACKENDS)}")
    if not names:
        raise ConvzooError(f"no backend given; expected some of {', '.join(BACKENDS)}")
    return tuple(dict.fromkeys(names))  # in the order given, once each


# --------------------------------------------------------------------------- timing


def machine_line(threads: int | None = None) -> str:
    """Machine, CPU, threads and library versions, the conditions a table was measured under."""
    try:
        import onnxruntime

        runtime = onnxruntime.__version__
    except ImportError:
        runtime = "not installed"
    count = torch.get_num_threads() if threads is None else threads
    return (f"machine {platform.machine()}, CPU {_cpu_name()}, {count} threads, torch {torch.__version__}, "
            f"onnxruntime {runtime}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --------------------------------------------------------------------------- backends


@dataclass
class _Context:
    """What the backends of one model share: its input, a folder for files, int8 calibration."""

    input_size: tuple[int, ...]
    threads: int
    folder: Path
    calibration: Calibration | None
    onnx_path: Path | None = None  # exported once, used by both onnxruntime backends
    onnx_error: Exception | None = None  # and a failed export is not tried twice

    def fp32_onnx(self, model: nn.Module) -> Path:
        if self.onnx_error is not None:
            raise self.onnx_error
        if self.onnx_path is None:
            from convzoo.deploy.export import export_onnx

            path = self.folder / "model.onnx"
            try:
                export_onnx(model, path, input_size=self.input_size, dynamic_batch=True)
            except Exception as error:
                self.onnx_error = error
                raise
            self.onnx_path = path
        return self.onnx_path


def _torch_call(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return model(x)

    return call


def _eager(model: nn.Module, context: _Context) -> Bind:
    return lambda x: _torch_call(model, x)


def _channels_last(model: nn.Module, context: _Context) -> Bind:
    layout = torch.channels_last if len(context.input_size) == 3 else torch.channels_last_3d
    converted = copy.deepcopy(model).to(memory_format=layout)
    return lambda x: _torch_call(converted, x.contiguous(memory_format=layout))


def _compile(model: nn.Module, context: _Context) -> Bind:
    compiled = torch.compile(copy.deepcopy(model), backend="inductor", dynamic=False)

    def bind(x: torch.Tensor) -> Callable[[], Any]:
        # Compile for this batch size now, with the weights frozen into the graph as constants: inductor's
        # setting for CPU inference (it then folds batch norms and pre-packs convolution weights).
        with torch._inductor.config.patch(freezing=True), torch.no_grad():
            compiled(x)
        return _torch_call(compiled, x)

    return bind


def _fused(model: nn.Module, context: _Context) -> Bind:
    from convzoo.deploy.fuse import fuse

    folded = fuse(model)
    return lambda x: _torch_call(folded, x)


def _session_bind(path: Path, threads: int) -> Bind:
    from convzoo.deploy.export import onnx_session

    session = onnx_session(path, threads=threads)
    name = session.get_inputs()[0].name

    def bind(x: torch.Tensor) -> Callable[[], Any]:
        feed = {name: x.numpy()}
        return lambda: session.run(None, feed)

    return bind


def _onnxruntime(model: nn.Module, context: _Context) -> Bind:
    return _session_bind(context.fp32_onnx(model), context.threads)


def _onnxruntime_int8(model: nn.Module, context: _Context) -> Bind:
    from convzoo.deploy.quantize import quantize_onnx

    if context.calibration is None:
        raise ConvzooError("int8 needs calibration batches")
    int8_path = context.folder / "model.int8.onnx"
    quantize_onnx(context.fp32_onnx(model), int8_path, context.calibration.load())
    return _session_bind(int8_path, context.threads)


BUILDERS: dict[str, Callable[[nn.Module, _Context], Bind]] = {
    "eager": _eager,
    "channels_last": _channels_last,
    "compile": _compile,
    "fused": _fused,
    "onnxruntime": _onnxruntime,
    "onnxruntime-int8": _onnxruntime_int8,
}


# --------------------------------------------------------------------------- the benchmark


def one_line(error: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message (a ConvzooError's message alone)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    if isinstance(error, ConvzooError) and lines:
        text = lines[0]  # a convzoo message already says what and why
    elif isinstance(error, ImportError):
        text = f"unavailable ({text})"
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 3] + "..."


def _first_output(output: Any) -> np.ndarray | None:
    """The first output of a backend as an array (onnxruntime returns a list, a network may a tuple)."""
    while isinstance(output, (list, tuple)) and output:
        output = output[0]
    if isinstance(output, torch.Tensor):
        return output.detach().float().contiguous().numpy()
    return output if isinstance(output, np.ndarray) else None


def _difference(output: Any, reference: np.ndarray | None) -> float | None:
    array = _first_output(output)
    if array is None or reference is None or array.shape != reference.shape:
        return None
    return float(np.abs(array.astype(np.float64) - reference).max())


def _measure(bind: Bind, x: torch.Tensor, reference: np.ndarray | None, warmup: int, repeats: int,
             row: BenchRow) -> None:
    """Fill ``row``: the first warm-up call's time (added to the setup) and difference from eager, then the timing."""
    start = time.perf_counter()
    call = bind(x)
    output = call()
    row.setup_seconds = (row.setup_seconds or 0.0) + time.perf_counter() - start
    row.max_abs_difference = _difference(output, reference)
    row.timing = time_call(call, x.shape[0], warmup=warmup - 1, repeats=repeats)


def _backend_rows(name: str, model: nn.Module, context: _Context, inputs: dict[int, torch.Tensor],
                  references: dict[int, np.ndarray | None], warmup: int, repeats: int) -> list[BenchRow]:
    rows = [BenchRow(name, batch_size) for batch_size in inputs]
    start = time.perf_counter()
    try:
        bind = BUILDERS[name](model, context)
    except Exception as error:  # any failure is this backend's row, never the whole benchmark's
        logger.info("backend %s could not be built", name, exc_info=True)
        for row in rows:
            row.reason = one_line(error)
        return rows
    setup = time.perf_counter() - start
    for row in rows:
        row.setup_seconds = setup
        try:
            _measure(bind, inputs[row.batch_size], references[row.batch_size], warmup, repeats, row)
        except Exception as error:
            logger.info("backend %s failed at batch %d", name, row.batch_size, exc_info=True)
            row.timing, row.reason = None, one_line(error)
    return rows


def benchmark(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    backends: Sequence[str] = BACKENDS,
    batch_sizes: Sequence[int] = (1,),
    threads: int | None = None,
    warmup: int = 3,
    repeats: int = 20,
    calibration: Calibration | None = None,
    name: str | None = None,
) -> BenchReport:
    """Time ``model`` on every backend at every batch size.

    Args:
        model: the network; it is put in eval mode and otherwise left as it is (backends
            that change it work on copies).
        input_size: one input without the batch axis, ``(C, H, W)`` or ``(C, D, H, W)``.
        backends: names from :data:`BACKENDS` (see the module docstring).
        batch_sizes: each backend is timed at each.
        threads: torch and onnxruntime threads (default: torch's current setting).
        warmup: untimed calls per backend and batch size (at least one, which compiles
            where a backend compiles and gives the output compared with eager's).
        repeats: timed calls per backend and batch size.
        calibration: int8 calibration batches (default: :func:`random_calibration`).
        name: the model's name in the report (default: its class name).

    Returns:
        A :class:`BenchReport`, rows in backend order then batch order; a backend that
        failed has ``timing=None`` and a one-line ``reason``.
    """
    backends = parse_backends(backends)
    input_size = tuple(int(s) for s in input_size)
    threads = threads or torch.get_num_threads()
    if "onnxruntime-int8" in backends and calibration is None:
        calibration = random_calibration(input_size)
    model = model.eval()
    inputs = {b: example_batch(b, input_size) for b in dict.fromkeys(batch_sizes)}
    rows: list[BenchRow] = []
    with torch_threads(threads), tempfile.TemporaryDirectory(prefix="convzoo-bench-") as folder:
        context = _Context(input_size, threads, Path(folder), calibration)
        references = {b: _first_output(_torch_call(model, x)()) for b, x in inputs.items()}
        for backend in backends:
            rows += _backend_rows(backend, model, context, inputs, references, max(warmup, 1), repeats)
    return BenchReport(
        model=name or type(model).__name__,
        input_size=input_size,
        threads=threads,
        warmup=max(warmup, 1),
        repeats=repeats,
        rows=rows,
        calibration=calibration.source if "onnxruntime-int8" in backends else None,
        machine=machine_line(threads),
    )


# --------------------------------------------------------------------------- table and plot


def _cells(report: BenchReport, row: BenchRow) -> list[str]:
    if not row.ok:
        return [row.backend, str(row.batch_size), "-", "-", "-", "-", "-", "-", row.reason]
    speedup = report.speedup(row)
    difference = "-" if row.max_abs_difference is None else f"{row.max_abs_difference:.1e}"
    setup = "-" if row.setup_seconds is None else f"{row.setup_seconds:.1f}"
    return [row.backend, str(row.batch_size), f"{row.timing.median_ms:.2f}", f"{row.timing.p90_ms:.2f}",
            f"{row.timing.images_per_second:.1f}", "-" if speedup is None else f"{speedup:.2f}x", difference,
            setup, ""]


def format_report(report: BenchReport) -> list[str]:
    """The report as lines: the conditions, an aligned table (one row per backend and batch size), notes."""
    header = ["backend", "batch", "median ms", "p90 ms", "images/s", "vs eager", "max |diff|", "setup s", "reason"]
    table = [header] + [_cells(report, row) for row in report.rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        + ("  " + cells[-1] if cells[-1] else "")
        for cells in table
    ]
    size = "x".join(map(str, report.input_size))
    notes = [
        f"{report.model}, input {size}; {report.machine}",
        *lines,
        f"per batch: {report.warmup} warm-up calls, then median and p90 of {report.repeats} timed calls; "
        "max |diff|: largest difference from eager's output on the same batch; setup: building the backend "
        "(export, quantisation) and its first call at the batch size (compilation)",
    ]
    if report.calibration:
        notes.append(f"int8 calibration: {report.calibration}")
    return notes


def plot_report(report: BenchReport, path: str | Path) -> Path:
    """A bar chart of images/s per backend, one bar per batch size; failed backends marked. Written atomically."""
    from matplotlib.figure import Figure

    from convzoo.train.checkpoint import atomic_path

    backends = list(dict.fromkeys(row.backend for row in report.rows))
    batch_sizes = list(dict.fromkeys(row.batch_size for row in report.rows))
    fig = Figure(figsize=(1.2 * len(backends) + 3, 4.2), dpi=100)
    ax = fig.add_subplot()
    width = 0.8 / len(batch_sizes)
    for j, batch_size in enumerate(batch_sizes):
        rows = [report.row(backend, batch_size) for backend in backends]
        xs = [i + (j - (len(batch_sizes) - 1) / 2) * width for i in range(len(backends))]
        ax.bar(xs, [row.timing.images_per_second if row.ok else 0.0 for row in rows], width,
               label=f"batch {batch_size}", zorder=3)
        for x, row in zip(xs, rows):
            if not row.ok:
                ax.annotate("failed", (x, 0), textcoords="offset points", xytext=(0, 3), ha="center",
                            rotation=90, fontsize=8, color="gray")
    ax.set_xticks(range(len(backends)), backends, rotation=20, ha="right")
    ax.set_ylabel("images/s (median latency)")
    ax.set_title(f"{report.model}, {'x'.join(map(str, report.input_size))}, {report.threads} threads", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3, zorder=0)
    ax.legend(fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        fig.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    return path
