"""Side-by-side comparison of networks: parameters, MACs, memory traffic, receptive field
and, when asked, measured CPU latency.

MACs say how much arithmetic a network does; they do not say how long it takes. Ma et
al. make this the first point of ShuffleNet V2: FLOPs are an *indirect* metric of speed,
and networks with the same FLOPs run at different speeds because of memory access cost
(MAC in their notation, not to be confused with multiply-accumulates here) and the degree
of parallelism. :func:`compare` puts the counts next to a measurement so the gap shows.

Paper: ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (Ningning
Ma, Xiangyu Zhang, Hai-Tao Zheng, Jian Sun, ECCV 2018) https://arxiv.org/abs/1807.11164

Conventions:
    * ``params``, ``macs`` and ``activation_bytes`` are those of
      :func:`convzoo.analysis.profile` at the same input and batch size (so **FLOPs =
      2 x MACs**, and MACs count only convolutions, linear layers and matrix products).
      All counts are for one batch of ``batch_size`` inputs.
    * ``memory_access_bytes`` is an *estimate* of the memory traffic of one forward pass,
      after ShuffleNet V2's memory access cost: every parameter is read once, and every
      leaf-layer call reads each of its input tensors once and writes each of its output
      tensors once; point-wise ATen ops outside leaf modules (a residual ``x + identity``)
      count the same way. Every element is 4 bytes (float32), whatever the dtype. No
      cache is modelled: a tensor written by one layer and read by the next counts twice,
      as it would if it did not stay in cache. Views and reshapes are free.
    * ``receptive_field`` is the theoretical receptive field (one side, input pixels) at
      the last ``feature_info`` stage, else at the output; ``"global"`` when that map
      sees the whole input; ``None`` when it cannot be computed.
    * Latency (``latency=True``) is measured on the CPU, in eval mode under
      :func:`torch.no_grad`, on a random-initialised model with a ``torch.randn`` batch:
      ``warmup`` untimed passes, then the median of ``repeats`` timed passes, in
      milliseconds per batch. ``throughput`` is ``batch_size / latency`` in images/s and
      ``achieved_gflops`` is ``2 x MACs / latency`` in GFLOP/s; compare it with
      :func:`matmul_gflops`, what the same machine reaches on a large float32 matmul.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from convzoo.analysis.profile import profile, tensors_in
from convzoo.analysis.receptive_field import ReceptiveFieldError, receptive_field
from convzoo.analysis.timing import time_call, torch_threads

__all__ = [
    "ComparisonRow",
    "ComparisonResult",
    "compare",
    "format_comparison",
    "plot_comparison",
    "memory_access_bytes",
    "matmul_gflops",
]

logger = logging.getLogger(__name__)

BYTES_PER_ELEMENT = 4  # the estimate assumes float32 throughout


# --------------------------------------------------------------------------- results


@dataclass
class ComparisonRow:
    """One model in a comparison; latency fields are ``None`` unless latency was measured."""

    name: str
    input_size: tuple[int, ...]
    params: int
    macs: int
    activation_bytes: int
    memory_access_bytes: int
    receptive_field: int | float | str | tuple | None
    latency_ms: float | None = None
    throughput: float | None = None
    achieved_gflops: float | None = None
    note: str = ""

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs."""
        return 2 * self.macs


@dataclass
class ComparisonResult:
    """The rows of :func:`compare`, and how they were obtained."""

    rows: list[ComparisonRow]
    batch_size: int = 1
    latency: bool = False
    repeats: int | None = None
    threads: int | None = None
    torch_version: str = field(default_factory=lambda: torch.__version__)

    def __getitem__(self, name: str) -> ComparisonRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict; latency fields only when measured."""
        rows = []
        for row in self.rows:
            d = asdict(row)
            d["input_size"] = list(row.input_size)
            d["flops"] = row.flops
            if isinstance(row.receptive_field, tuple):
                d["receptive_field"] = list(row.receptive_field)
            if not self.latency:
                for key in ("latency_ms", "throughput", "achieved_gflops"):
                    d.pop(key)
            rows.append(d)
        return {
            "batch_size": self.batch_size,
            "latency": self.latency,
            "repeats": self.repeats if self.latency else None,
            "threads": self.threads,
            "torch_version": self.torch_version,
            "flops_convention": "FLOPs = 2 x MACs",
            "memory_access_model": (
                "float32 bytes of every parameter read once, plus the inputs and outputs of every "
                "leaf-layer call (and point-wise op outside a leaf) read/written once"
            ),
            "rows": rows,
        }


# --------------------------------------------------------------------------- memory access


class _PointwiseTraffic(TorchDispatchMode):
    """Adds the tensor traffic of point-wise ops run outside any leaf module."""

    def __init__(self, state: dict) -> None:
        super().__init__()
        self.state = state

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.state["depth"] == 0 and torch.Tag.pointwise in func.tags:
            tensors = [t for t in tensors_in((args, kwargs or {}))] + list(tensors_in(out))
            self.state["elements"] += sum(t.numel() for t in tensors)
        return out


def memory_access_bytes(model: nn.Module, input_size: Sequence[int], *, batch_size: int = 1) -> int:
    """Estimated bytes moved by one forward pass (see the module docstring for the model).

    ``params x 4`` plus, for every leaf-module call, ``4 x`` (input elements + output
    elements), plus the same for point-wise ATen ops outside leaf modules. The model runs
    once in eval mode under ``torch.no_grad`` on its own device (meta is free).
    """
    state = {"depth": 0, "elements": 0}
    leaves = [m for m in model.modules() if next(m.children(), None) is None]

    def pre(_module: nn.Module, inputs: tuple) -> None:
        if state["depth"] == 0:
            state["elements"] += sum(t.numel() for t in tensors_in(inputs))
        state["depth"] += 1

    def post(_module: nn.Module, _inputs: tuple, output: Any) -> None:
        state["depth"] -= 1
        if state["depth"] == 0:
            state["elements"] += sum(t.numel() for t in tensors_in(output))

    handles = [h for m in leaves for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("meta"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _PointwiseTraffic(state):
            model(torch.empty(batch_size, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return BYTES_PER_ELEMENT * (params + state["elements"])


# --------------------------------------------------------------------------- timing


def matmul_gflops(size: int = 1024, repeats: int = 10, *, threads: int | None = None, warmup: int = 2) -> float:
    """The machine's float32 GFLOP/s on a ``size x size`` matmul (``2 size^3`` FLOPs), median of ``repeats``.

    The reference for :attr:`ComparisonRow.achieved_gflops`: close to the best a dense
    kernel reaches on this CPU with this torch build and thread count.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g)
    b = torch.randn(size, size, generator=g)
    with torch_threads(threads):
        seconds = time_call(lambda: torch.mm(a, b), warmup=warmup, repeats=repeats).median_ms / 1e3
    return 2 * size**3 / seconds / 1e9


def _time_model(model: nn.Module, shape: tuple[int, ...], repeats: int, warmup: int) -> float:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        return time_call(lambda: model(x), warmup=warmup, repeats=repeats).median_ms / 1e3


# --------------------------------------------------------------------------- compare


def _resolve_input(model: nn.Module, requested: tuple[int, ...] | None, default: tuple[int, ...] | None):
    """The input ``(C, *spatial)`` a model runs at, and a note when it is not the one asked for."""
    fixed = getattr(model, "fixed_input_size", None)
    in_chans = getattr(model, "in_chans", None)
    if fixed is not None:
        own = (in_chans or (requested or default or (1,))[0], fixed, fixed)
        if requested is not None and tuple(requested) != own:
            return own, "fixed input size: keeps its own"
        return own, "fixed input size"
    size = requested if requested is not None else default
    if size is None:
        raise ValueError(f"input_size is required for a {type(model).__name__} module, e.g. (3, 224, 224)")
    size = tuple(int(s) for s in size)
    if in_chans is not None and size[0] != in_chans:
        return (in_chans, *size[1:]), f"takes {in_chans} input channels"
    return size, ""


def _last_receptive_field(model: nn.Module, input_size: tuple[int, ...]):
    try:
        rf = receptive_field(model, input_size)
    except ReceptiveFieldError as err:
        logger.info("receptive field not computed: %s", err)
        return None
    last = rf.stages[-1] if rf.stages else rf.output
    return None if last is None else last.size


def compare(
    names_or_models: Sequence[str | nn.Module] | Mapping[str, str | nn.Module],
    input_size: Sequence[int] | None = None,
    *,
    latency: bool = False,
    batch_size: int = 1,
    repeats: int = 10,
    warmup: int = 2,
    threads: int | None = None,
) -> ComparisonResult:
    """Compare networks by parameters, MACs, memory traffic, receptive field and (optionally) latency.

    Args:
        names_or_models: registry names or modules (a mapping gives each a label). A name
            is built on the meta device for the counts, and once more with random weights
            on the CPU only when ``latency`` is asked. A module is used as given (it must
            have real weights for ``latency``).
        input_size: one input without the batch dimension, e.g. ``(3, 224, 224)``; each
            name's registry default when ``None``. A model with a fixed input size
            (LeNet-5: 1x32x32) keeps its own, and the row says so.
        latency: also measure CPU latency, throughput and achieved GFLOP/s.
        batch_size: inputs per batch; all counts and latencies are per batch.
        repeats: timed passes per model (the median is reported).
        warmup: untimed passes before timing.
        threads: ``torch.set_num_threads`` during timing (restored after); the current
            setting when ``None``.

    Raises:
        UnknownModelError: (a ConvzooError) for a name that is not registered.
    """
    from convzoo.registry import create_model, get_entry, meta_model

    if isinstance(names_or_models, Mapping):
        items = list(names_or_models.items())
    else:
        items = [(m if isinstance(m, str) else type(m).__name__, m) for m in names_or_models]
    requested = None if input_size is None else tuple(int(s) for s in input_size)
    entries = {label: get_entry(m) for label, m in items if isinstance(m, str)}  # unknown names fail first

    rows = []
    for label, item in items:
        if isinstance(item, str):
            model = meta_model(item)
            size, note = _resolve_input(model, requested, tuple(entries[label].input_size))
        else:
            model = item
            size, note = _resolve_input(model, requested, None)
        prof = profile(model, size, batch_size=batch_size)
        row = ComparisonRow(
            name=label,
            input_size=size,
            params=prof.params,
            macs=prof.macs,
            activation_bytes=prof.activation_bytes,
            memory_access_bytes=memory_access_bytes(model, size, batch_size=batch_size),
            receptive_field=_last_receptive_field(model, size),
            note=note,
        )
        if latency:
            if isinstance(item, str):
                torch.manual_seed(0)
                model = create_model(item)
            elif any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
                raise ValueError(f"{label}: latency needs a model with real weights, not one on the meta device")
            with torch_threads(threads):
                seconds = _time_model(model, (batch_size, *size), repeats, warmup)
            row.latency_ms = seconds * 1e3
            row.throughput = batch_size / seconds
            row.achieved_gflops = 2 * prof.macs / seconds / 1e9
        rows.append(row)
    return ComparisonResult(
        rows=rows,
        batch_size=batch_size,
        latency=latency,
        repeats=repeats if latency else None,
        threads=threads if threads is not None else (torch.get_num_threads() if latency else None),
    )


# --------------------------------------------------------------------------- text and plot


def _human(n: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}"
    return f"{n:.0f}"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _rf(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return str(value)


def format_comparison(result: ComparisonResult) -> str:
    """An aligned text table of ``result``, with the conventions stated under it."""
    header = ["model", "input", "params", "MACs", "FLOPs", "activations", "mem. access", "RF"]
    if result.latency:
        header += ["latency ms", "images/s", "GFLOP/s"]
    table = [header]
    for row in result.rows:
        cells = [
            row.name + (" *" if row.note else ""),
            "x".join(str(d) for d in row.input_size),
            _human(row.params),
            _human(row.macs),
            _human(row.flops),
            _mib(row.activation_bytes),
            _mib(row.memory_access_bytes),
            _rf(row.receptive_field),
        ]
        if result.latency:
            cells += [f"{row.latency_ms:.2f}", f"{row.throughput:.1f}", f"{row.achieved_gflops:.1f}"]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [
        "",
        f"per batch of {result.batch_size}; FLOPs = 2 x MACs (MACs: conv + linear + matmul, as profile())",
        "mem. access: estimate, float32 bytes of the parameters read once + every layer's inputs and outputs "
        "read/written once (ShuffleNet V2's memory access cost)",
        "RF: theoretical receptive field (input pixels) at the last feature map",
    ]
    if result.latency:
        lines.append(
            f"latency: CPU, median of {result.repeats} runs after warm-up, eval mode, no_grad, "
            f"{result.threads} threads, torch {result.torch_version}; GFLOP/s = 2 x MACs / latency"
        )
    for row in result.rows:
        if row.note:
            lines.append(f"* {row.name}: {row.note} ({'x'.join(str(d) for d in row.input_size)})")
    return "\n".join(lines)


def plot_comparison(
    result: ComparisonResult, path: str | None = None, *, reference_gflops: float | None = None, title: str | None = None
):
    """Scatter of measured latency against MACs, log-log, one labelled point per model.

    Args:
        result: a :func:`compare` result with ``latency=True``.
        path: where to save the figure (PNG by extension); not saved when ``None``.
        reference_gflops: draw the latency a model would have at this rate (e.g.
            :func:`matmul_gflops`), a straight line on log axes.
        title: figure title.

    Returns:
        The matplotlib :class:`~matplotlib.figure.Figure`.
    """
    if not result.latency:
        raise ValueError("plot_comparison needs latency: call compare(..., latency=True)")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    ax = fig.add_subplot()
    xs = [row.macs for row in result.rows]
    ys = [row.latency_ms for row in result.rows]
    ax.scatter(xs, ys, zorder=3)
    for row, x, y in zip(result.rows, xs, ys):
        ax.annotate(row.name, (x, y), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if reference_gflops:
        lo, hi = min(xs) / 2, max(xs) * 2
        grid = [lo * (hi / lo) ** (i / 20) for i in range(21)]
        ax.plot(grid, [2 * m / (reference_gflops * 1e9) * 1e3 for m in grid], "--", color="gray", zorder=2,
                label=f"at matmul rate ({reference_gflops:.0f} GFLOP/s)")
        ax.legend(loc="upper left", fontsize=9)
    ax.set_xlabel(f"MACs per batch of {result.batch_size} (FLOPs = 2 x MACs)")
    ax.set_ylabel("latency per batch (ms, median)")
    ax.set_title(title or f"CPU latency vs MACs, batch {result.batch_size}, {result.threads} threads")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(0.15)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig

