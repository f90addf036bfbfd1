"""What a network's attention blocks do with one image: channel weights and spatial maps.

Attention blocks compute weights from the input itself, so each image gets its own.
:func:`capture_attention` runs one image through a model and records, for every
attention block it holds:

- channel weights, one number per channel in ``(0, 1)``: the gate ``s`` of a
  squeeze-and-excitation block (Hu et al., Eq. 3) and of CBAM's channel gate, and for a
  selective-kernel conv the softmax weight its largest kernel receives in each channel
  (Li et al. plot the same to show that larger objects favour the larger kernel), and for a
  split-attention conv the r-softmax weight of its last split;
- spatial maps over the block's feature map: CBAM's spatial gate ``M_s`` (one value per
  position), the context-pooling weights of a global-context block (one map shared by
  every query), and, for the pairwise blocks, the weights one query position gives every
  other: a non-local block's ``f(x_i, x_j) / C(x)`` row, DANet's position-attention row,
  and criss-cross attention composed over its ``R`` passes (one pass reaches only the
  query's row and column; two reach the whole map, as Huang et al. argue).

:func:`plot_channel_weights` draws one heat plot per stage (rows: blocks, columns:
channels) and :func:`plot_spatial_maps` the maps over the image. Blocks are assigned to
the stage of the model's ``feature_info`` whose output first follows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.blocks import (
    ChannelGate,
    CrissCrossAttention,
    DualAttention,
    GlobalContextBlock,
    NonLocalBlock,
    PositionAttention,
    SelectiveKernel,
    SpatialGate,
    SplitAttention,
    SqueezeExcite,
)
from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["AttentionMaps", "ChannelWeights", "SpatialMap", "capture_attention", "plot_channel_weights",
           "plot_spatial_maps", "spatial_maps_figure"]


@dataclass
class ChannelWeights:
    """One block's weight per channel for the image.

    Attributes:
        block: the block's module name, e.g. ``"layer2.1.se"``.
        kind: ``"se"``, ``"cbam"`` (its channel gate), ``"sk"`` (the largest kernel's share) or
            ``"splat"`` (the last split's share; the gate itself for radix 1).
        stage: index into the model's ``feature_info``.
        weights: ``(C,)``, each in ``[0, 1]``.
    """

    block: str
    kind: str
    stage: int
    weights: torch.Tensor


@dataclass
class SpatialMap:
    """One block's attention over the positions of its feature map.

    Attributes:
        block: the block's module name.
        kind: ``"cbam"``, ``"gc"``, ``"nonlocal"``, ``"cc"`` or ``"da"``.
        stage: index into the model's ``feature_info``.
        weights: ``(h, w)`` at the block's (or, for a sub-sampled non-local block, its keys') resolution.
        query: ``(row, col)`` of the query position on the block's input map for pairwise
            blocks; ``None`` where the map does not depend on a query.
        query_grid: ``(h, w)`` of the block's input map, on which ``query`` lies.
    """

    block: str
    kind: str
    stage: int
    weights: torch.Tensor
    query: tuple[int, int] | None = None
    query_grid: tuple[int, int] | None = None


@dataclass
class AttentionMaps:
    """Every attention block's weights for one image; ``stages`` names the ``feature_info`` modules."""

    channel: list[ChannelWeights] = field(default_factory=list)
    spatial: list[SpatialMap] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready statistics of every map (the maps themselves are in the plots)."""
        def stats(weights: torch.Tensor) -> dict[str, Any]:
            return {"shape": list(weights.shape), "min": weights.min().item(), "mean": weights.mean().item(),
                    "max": weights.max().item()}

        return {
            "channel": [{"block": c.block, "kind": c.kind, "stage": c.stage, **stats(c.weights)} for c in self.channel],
            "spatial": [{"block": s.block, "kind": s.kind, "stage": s.stage, "query": s.query,
                         "query_grid": s.query_grid, **stats(s.weights)} for s in self.spatial],
        }


def _stage_of(model: nn.Module) -> Callable[[str], int]:
    """Block name -> index of the first ``feature_info`` stage whose output comes at or after it."""
    order = {name: index for index, (name, _) in enumerate(model.named_modules())}
    stages = [info["module"] for info in getattr(model, "feature_info", [])]

    def stage(block: str) -> int:
        for index, module in enumerate(stages):
            if block == module or block.startswith(module + ".") or order[module] > order[block]:
                return index
        return max(len(stages) - 1, 0)

    return stage


def _query_cell(query: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """The cell of an ``(h, w)`` grid that holds the query, given as fractions of the image's height and width."""
    return min(int(query[0] * size[0]), size[0] - 1), min(int(query[1] * size[1]), size[1] - 1)


def criss_cross_dense(attn: torch.Tensor) -> torch.Tensor:
    """One criss-cross pass's weights ``(H, W, H + W)`` as a dense ``(HW, HW)`` matrix (row: query).

    Entry ``[k]`` of the first ``H`` weights of query ``(i, j)`` is key ``(k, j)``, on its
    column; entry ``[H + l]`` is key ``(i, l)``, on its row.
    """
    height, width = attn.shape[:2]
    rows = torch.arange(height)[:, None, None]
    cols = torch.arange(width)[None, :, None]
    column_keys = (torch.arange(height)[None, None, :] * width + cols).expand(height, width, height)
    row_keys = (rows * width + torch.arange(width)[None, None, :]).expand(height, width, width)
    keys = torch.cat([column_keys, row_keys], dim=-1).reshape(height * width, -1)
    dense = torch.zeros(height * width, height * width, dtype=attn.dtype)
    return dense.scatter_add_(1, keys, attn.reshape(height * width, -1))


class _Recorder:
    """Forward hooks that keep the first image's attention weights of every block they watch."""

    def __init__(self, model: nn.Module, query: tuple[float, float]) -> None:
        self.query = query
        self.stage = _stage_of(model)
        self.maps = AttentionMaps(stages=[info["module"] for info in getattr(model, "feature_info", [])])
        self.criss_cross: dict[str, list[torch.Tensor]] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []
        for name, module in model.named_modules():
            self._watch(name, module)

    def _hook(self, module: nn.Module, record: Callable[..., None], pre: bool = False) -> None:
        if pre:
            self.handles.append(module.register_forward_pre_hook(lambda _m, inputs: record(inputs[0].detach())))
        else:
            self.handles.append(module.register_forward_hook(lambda _m, _i, output: record(output.detach())))

    def _channel(self, name: str, kind: str) -> Callable[[torch.Tensor], None]:
        return lambda weights: self.maps.channel.append(ChannelWeights(name, kind, self.stage(name), weights))

    def _spatial(self, name: str, kind: str, grid: tuple[int, int] | None = None):
        """Records a map; for a pairwise block, ``grid`` is the size of the map the query lies on."""
        query = _query_cell(self.query, grid) if grid is not None else None
        return lambda weights: self.maps.spatial.append(
            SpatialMap(name, kind, self.stage(name), weights, query, grid)
        )

    def _watch(self, name: str, module: nn.Module) -> None:
        if isinstance(module, SqueezeExcite):
            self._hook(module.gate, lambda s: self._channel(name, "se")(s[0].flatten()))  # (B, C, 1, 1)
        elif isinstance(module, ChannelGate):
            block = name.rsplit(".", 1)[0]
            self._hook(module.gate, lambda s: self._channel(block, "cbam")(s[0].flatten()))
        elif isinstance(module, SpatialGate):
            block = name.rsplit(".", 1)[0]
            self._hook(module.gate, lambda m: self._spatial(block, "cbam")(m[0, 0]))  # (B, 1, H, W)
        elif isinstance(module, SelectiveKernel):
            self._hook(module.attn, lambda a: self._channel(name, "sk")(a[0, -1].flatten()))  # (B, M, C, 1, 1)
        elif isinstance(module, GlobalContextBlock):
            self._hook(module, lambda x: self._global_context(name, module, x), pre=True)
        elif isinstance(module, NonLocalBlock) and module.dims == 2:
            self._hook(module, lambda x: self._non_local(name, module, x), pre=True)
        elif isinstance(module, SplitAttention):  # (B, R * C, 1, 1), split-major
            last_split = lambda a: a[0].flatten().unflatten(0, (module.radix, -1))[-1]  # noqa: E731
            self._hook(module.rsoftmax, lambda a: self._channel(name, "splat")(last_split(a)))
        elif isinstance(module, DualAttention):  # calls its position module's residual, not its forward
            self._hook(module, lambda x: self._position(name, module.pam, x), pre=True)
        elif isinstance(module, PositionAttention):
            self._hook(module, lambda x: self._position(name, module, x), pre=True)
        elif isinstance(module, CrissCrossAttention):
            self._hook(module.softmax, lambda a: self.criss_cross.setdefault(name, []).append(a[0]))

    def _global_context(self, name: str, block: GlobalContextBlock, x: torch.Tensor) -> None:
        weights = block.softmax(block.conv_attn(x[:1]).flatten(1))  # (1, N)
        self._spatial(name, "gc")(weights[0].view(x.shape[2:]))

    def _non_local(self, name: str, block: NonLocalBlock, x: torch.Tensor) -> None:
        affinity = block.affinity(x[:1])[0]  # (N, M)
        keys = tuple(block.pool(x[:1, :1]).shape[2:])  # (h', w'): halved where keys are sub-sampled
        row, col = _query_cell(self.query, x.shape[2:])
        self._spatial(name, "nonlocal", tuple(x.shape[2:]))(affinity[row * x.shape[3] + col].view(keys))

    def _position(self, name: str, block: PositionAttention, x: torch.Tensor) -> None:
        attn = block.attention(x[:1])[0]  # (N, N)
        row, col = _query_cell(self.query, x.shape[2:])
        self._spatial(name, "da", tuple(x.shape[2:]))(attn[row * x.shape[3] + col].view(x.shape[2:]))

    def finish(self) -> AttentionMaps:
        for handle in self.handles:
            handle.remove()
        for name, passes in self.criss_cross.items():
            height, width = passes[0].shape[:2]
            composed = criss_cross_dense(passes[0].double())
            for attn in passes[1:]:
                composed = criss_cross_dense(attn.double()) @ composed  # pass r mixes what pass r - 1 gathered
            row, col = _query_cell(self.query, (height, width))
            self._spatial(name, "cc", (height, width))(composed[row * width + col].view(height, width).float())
        return self.maps


@torch.no_grad()
def capture_attention(model: nn.Module, image: torch.Tensor, query: tuple[float, float] = (0.5, 0.5)) -> AttentionMaps:
    """Run ``image`` through ``model`` in eval mode and record every attention block's weights.

    Args:
        model: a network holding SE, CBAM, SK, GC, non-local (2D), criss-cross or DANet
            position-attention blocks, anywhere.
        image: ``(C, H, W)`` or ``(1, C, H, W)``, normalised as the model expects.
        query: the query position of pairwise blocks, as fractions ``(row, col)`` of the
            image's height and width; the centre by default.

    Raises:
        ConvzooError: when the model holds no attention block this module can read.
    """
    if not all(0 <= q <= 1 for q in query):
        raise ConvzooError(f"the query must be fractions of the image's height and width in [0, 1], got {query}")
    batch = image.unsqueeze(0) if image.dim() == 3 else image
    recorder = _Recorder(model, query)
    if not recorder.handles:
        raise ConvzooError(
            f"{type(model).__name__} has no attention block to show (SE, SK, CBAM, GC, non-local, criss-cross, "
            "DANet); train one with --model-kwargs attn_layer=se, or a model such as seresnet50"
        )
    was_training = model.training
    model.eval()
    try:
        model(batch)
    finally:
        model.train(was_training)
        maps = recorder.finish()
    return maps


def plot_channel_weights(maps: AttentionMaps, path: str | Path, title: str = "") -> None:
    """One heat plot per stage: a row per block, a column per channel, colour = weight in [0, 1]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not maps.channel:
        raise ConvzooError("no channel attention to plot (the model has no SE, SK or CBAM block)")
    stages = sorted({c.stage for c in maps.channel})
    figure, axes = plt.subplots(len(stages), 1, figsize=(10, 1.2 + 0.35 * len(maps.channel) + 0.6 * len(stages)),
                                squeeze=False)
    for axis, stage in zip(axes[:, 0], stages):
        rows = [c for c in maps.channel if c.stage == stage]
        width = max(c.weights.numel() for c in rows)
        grid = torch.full((len(rows), width), float("nan"))
        for index, row in enumerate(rows):
            grid[index, : row.weights.numel()] = row.weights.float()
        image = axis.imshow(grid.numpy(), aspect="auto", vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
        axis.set_yticks(range(len(rows)), [f"{c.block} ({c.kind})" for c in rows], fontsize=7)
        name = f" ({maps.stages[stage]})" if stage < len(maps.stages) else ""
        axis.set_title(f"stage {stage}{name}: {width} channels", fontsize=9)
        figure.colorbar(image, ax=axis, fraction=0.02, pad=0.01)
    axes[-1, 0].set_xlabel("channel")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# Maps of at most this many positions are too coarse to read as a picture: their values are written on them.
TINY_MAP = 4


def _tiny_map_note(spatial: SpatialMap, image_size: tuple[int, int]) -> str:
    """Why a map of one to four positions looks like a flat tint over the image."""
    h, w = spatial.weights.shape
    if h * w == 1:
        softmax = "" if spatial.kind == "cbam" else " (a softmax over one position is 1)"
        return f"1x1 map: one value, the whole image{softmax}"
    cell = f"{image_size[0] / h:.3g}x{image_size[1] / w:.3g}"
    return f"{h}x{w} map: {h * w} values, one per {cell}-px block"


def _draw_spatial(figure: Figure, axis: Axes, spatial: SpatialMap, shown: Any, size: tuple[int, int]) -> None:
    """One map over the image, with its colour bar, its size, and, for a tiny map, its values."""
    height, width = size
    h, w = spatial.weights.shape
    tiny = h * w <= TINY_MAP
    # A tiny map's positions are blocks: bilinear upsampling would invent a gradient between them.
    upsampled = F.interpolate(spatial.weights[None, None].float(), size=size, mode="nearest" if tiny else "bilinear",
                              align_corners=None if tiny else False)[0, 0]
    axis.imshow(shown, cmap="gray")
    # A gate's scale is (0, 1); a softmax's from 0 to its largest weight, so a uniform map reads uniform.
    vmax = 1.0 if spatial.kind == "cbam" else max(spatial.weights.max().item(), 1e-12)
    overlay = axis.imshow(upsampled.numpy(), cmap="jet", alpha=0.5, vmin=0.0, vmax=vmax)
    figure.colorbar(overlay, ax=axis, fraction=0.046, pad=0.02, label="gate" if spatial.kind == "cbam" else "weight")
    label = f"{spatial.block} ({spatial.kind})" + ("" if tiny else f", {h}x{w}")
    if spatial.query is not None and spatial.query_grid is not None:
        (row, col), (qh, qw) = spatial.query, spatial.query_grid
        axis.plot((col + 0.5) * width / qw - 0.5, (row + 0.5) * height / qh - 0.5, "w+", markersize=12)
        label += ", + query"
    if tiny:
        label += "\n" + _tiny_map_note(spatial, size)
        for (i, j), value in zip(((i, j) for i in range(h) for j in range(w)), spatial.weights.flatten().tolist()):
            axis.text((j + 0.5) * width / w - 0.5, (i + 0.5) * height / h - 0.5, f"{value:.3g}", ha="center",
                      va="center", fontsize=9, color="white", bbox={"facecolor": "black", "alpha": 0.5, "pad": 1})
    axis.set_title(label, fontsize=8)


def spatial_maps_figure(maps: AttentionMaps, image: torch.Tensor, title: str = "") -> Figure:
    """The image, then each spatial map upsampled over it, with a colour bar each.

    Colours run from 0 to 1 for CBAM's gate and from 0 to the map's largest weight for the
    softmax maps. A cross marks a pairwise block's query. Deep blocks of a small input
    have maps of 1x1 or 2x2 positions, which tint the whole image or a quarter of it
    evenly; such maps are drawn as blocks, their values written on them, and their
    titles say what one position covers.

    Args:
        image: ``(H, W)`` or ``(3, H, W)`` with values in [0, 1] (un-normalised).
    """
    from matplotlib.figure import Figure

    if not maps.spatial:
        raise ConvzooError("no spatial attention to plot (the model has no CBAM, GC, non-local, criss-cross or DANet "
                           "block)")
    size = tuple(image.shape[-2:])
    shown = image.permute(1, 2, 0).numpy() if image.dim() == 3 else image.numpy()
    panels = 1 + len(maps.spatial)
    columns = min(panels, 4)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(3.4 * columns, 3.3 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes.flat[0].imshow(shown, cmap="gray")
    axes.flat[0].set_title("image", fontsize=8)
    for axis, spatial in zip(axes.flat[1:], maps.spatial):
        _draw_spatial(figure, axis, spatial, shown, size)
    if title:
        figure.suptitle(title)
    return figure


def plot_spatial_maps(maps: AttentionMaps, image: torch.Tensor, path: str | Path, title: str = "") -> None:
    """Save :func:`spatial_maps_figure` as a PNG."""
    spatial_maps_figure(maps, image, title).savefig(path, dpi=120)
