"""The effective receptive field: how much each input pixel actually moves one output unit.

Paper: Understanding the Effective Receptive Field in Deep Convolutional Neural Networks
(Luo, Li, Urtasun, Zemel, NeurIPS 2016) https://arxiv.org/abs/1701.04128

The theoretical receptive field (RF) of a unit is every input pixel that can reach it.
Luo et al. measure how much each of those pixels *does* reach it: set the gradient of
the loss with respect to the feature map to 1 at the central unit and 0 elsewhere
(Sec. 2), backpropagate to the input, and read ``|dy_center / dx|``. For a stack of
``n`` linear convolutions with positive weights the map is the ``n``-fold convolution of
the kernel with itself, so by the central limit theorem it tends to a Gaussian whose
standard deviation grows like ``sqrt(n)`` (Sec. 2.2), while the RF grows like ``n``: the
ERF occupies a shrinking fraction of the RF.

Here the map is ``|grad|`` summed over input channels and averaged over ``samples``
Gaussian inputs (or a batch of real images), normalised to sum to 1. Its size is
reported as the radius of the smallest centred square holding 50% and 95% of the
contribution (see :class:`ERFResult`).

Deviations:
    * The gradient is seeded on every channel of the central unit (the sum over
      channels), not on a single channel, so one map describes the whole feature map.
    * The computation runs in float64 by default: deep into the RF edge the
      contributions fall below float32's smallest number (for 40 layers of a
      ``[1, 2, 1]`` kernel, the RF corner holds ``16**-40 ~ 1e-48``) and would read 0.
    * The model runs in eval mode (batch norm with running statistics) on a copy, so
      the model passed in is left untouched.

Where the unit sits. The measured unit ``(h // 2, w // 2)`` has its RF centred at input
position ``offset + unit * stride`` per axis (see :mod:`convzoo.analysis.receptive_field`),
which is often not the image centre: an even-sized map has no middle unit, and stride-2
layers padded by ``k // 2`` put unit 0 at the top-left pixel (ResNet-18 on a 96x96 image:
a 3x3 map whose units sit at 0, 32 and 64 px, the middle one 15.5 px up-left of the image
centre). The image edge then cuts the ERF on the near side, so its centroid, on which the
radii are measured, lies nearer the image centre than the RF's centre. These are
properties of the network and the image size, not of the plot; :func:`erf_figure`
marks both centres and says so in its caption.
"""

from __future__ import annotations

import copy
import math
import os
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from convzoo.analysis.receptive_field import ReceptiveField

__all__ = ["ERFResult", "effective_receptive_field", "erf_figure", "square_radius", "plot_erf"]


def _cumulative_square_mass(contributions: torch.Tensor, center: tuple[int, int]) -> torch.Tensor:
    """Mass inside the square of half-width ``k`` (side ``2k + 1``) around ``center``, for k = 0, 1, ..."""
    height, width = contributions.shape
    rows = (torch.arange(height) - center[0]).abs()
    cols = (torch.arange(width) - center[1]).abs()
    chebyshev = torch.maximum(rows[:, None], cols[None, :])  # (H, W) ring index of each pixel
    rings = torch.zeros(int(chebyshev.max()) + 1, dtype=contributions.dtype)
    rings.index_add_(0, chebyshev.flatten(), contributions.flatten())
    return rings.cumsum(0)


def square_radius(contributions: torch.Tensor, fraction: float, center: tuple[int, int] | None = None) -> float:
    """Half side, in pixels, of the smallest square around ``center`` that holds ``fraction`` of the mass.

    Pixels are unit squares, so the square of side ``2k + 1`` pixels has radius ``k + 0.5``
    and a single pixel has radius 0.5; a map spread uniformly over a ``3x3`` RF has radius
    1.5 = RF / 2 at 100%. Between two whole squares the radius is interpolated linearly in
    the enclosed mass, from radius 0 (mass 0), so the measure varies smoothly with depth.

    Args:
        contributions: ``(H, W)`` non-negative map; it need not be normalised.
        fraction: mass to enclose, in ``(0, 1]``.
        center: ``(row, col)`` of the squares' centre; the map's centroid when ``None``.
    """
    if not 0 < fraction <= 1:
        raise ERFError(f"fraction must be in (0, 1], got {fraction}")
    contributions = contributions.detach().to(torch.float64).cpu()
    total = contributions.sum()
    if not total > 0:
        raise ERFError("the contribution map is zero everywhere; no radius can be measured")
    if center is None:
        center = _centroid(contributions)
    cumulative = _cumulative_square_mass(contributions / total, center)
    # Rounding can leave the total a hair below 1; the whole map then counts as holding it.
    k = int(torch.searchsorted(cumulative, torch.tensor(fraction - 1e-12, dtype=torch.float64)))
    k = min(k, len(cumulative) - 1)
    inner_mass = float(cumulative[k - 1]) if k > 0 else 0.0
    inner_radius = k - 0.5 if k > 0 else 0.0
    outer_radius = k + 0.5
    step = float(cumulative[k]) - inner_mass
    if step <= 0:
        return outer_radius
    return inner_radius + (outer_radius - inner_radius) * min(1.0, max(0.0, (fraction - inner_mass) / step))


def _centroid(contributions: torch.Tensor) -> tuple[int, int]:
    """Contribution-weighted mean position, rounded to the nearest pixel."""
    height, width = contributions.shape
    total = contributions.sum()
    row = (contributions.sum(1) * torch.arange(height, dtype=contributions.dtype)).sum() / total
    col = (contributions.sum(0) * torch.arange(width, dtype=contributions.dtype)).sum() / total
    return int(torch.round(row)), int(torch.round(col))



class ERFError(ConvzooError, ValueError):
    """The effective receptive field cannot be measured as asked."""


@dataclass
class ERFResult:
    """The effective receptive field of the central unit of one feature map.

    Attributes:
        contributions: ``(H, W)`` float64 map over the input, non-negative, summing to 1:
            the share of ``|d unit / d pixel|`` each input pixel holds.
        unit: ``(row, col)`` of the unit in the feature map, ``(h // 2, w // 2)``.
        feature_shape: ``(C, h, w)`` of the feature map the unit belongs to.
        stage: the ``feature_info`` index measured, or ``None`` for the last feature map.
        samples: number of inputs averaged over.
        center: ``(row, col)`` input pixel the squares are centred on (the map's
            centroid, rounded).
        radius_50: half side, in pixels, of the smallest centred square holding 50% of
            the contribution (see :func:`square_radius`).
        radius_95: the same for 95%.
        sigma: root-mean-square distance from the centroid along one axis,
            ``sqrt((var_row + var_col) / 2)``, in pixels; the Gaussian's standard
            deviation when the ERF is Gaussian.
        theoretical_size: side of the theoretical RF in pixels, when known.
        dtype: floating-point type the gradients were computed in.
    """

    contributions: torch.Tensor
    unit: tuple[int, int]
    feature_shape: tuple[int, int, int]
    stage: int | None
    samples: int
    center: tuple[int, int]
    radius_50: float
    radius_95: float
    sigma: float
    theoretical_size: int | None = None
    dtype: torch.dtype = field(default=torch.float64)

    def radius(self, fraction: float) -> float:
        """Half side of the smallest centred square holding ``fraction`` of the contribution."""
        return square_radius(self.contributions, fraction, self.center)

    @property
    def ratio_50(self) -> float | None:
        """``radius_50 / (theoretical_size / 2)``, or ``None`` without a theoretical size."""
        return None if not self.theoretical_size else self.radius_50 / (self.theoretical_size / 2)

    @property
    def ratio_95(self) -> float | None:
        """``radius_95 / (theoretical_size / 2)``, or ``None`` without a theoretical size."""
        return None if not self.theoretical_size else self.radius_95 / (self.theoretical_size / 2)

    def summary(self) -> dict:
        """The scalar results, JSON-ready (for the command line)."""
        return {
            "input_size": list(self.contributions.shape),
            "feature_shape": list(self.feature_shape),
            "stage": self.stage,
            "unit": list(self.unit),
            "samples": self.samples,
            "center": list(self.center),
            "radius_50": self.radius_50,
            "radius_95": self.radius_95,
            "sigma": self.sigma,
            "theoretical_size": self.theoretical_size,
            "ratio_50": self.ratio_50,
            "ratio_95": self.ratio_95,
            "dtype": str(self.dtype).removeprefix("torch."),
        }


class _StopForward(Exception):
    """Raised by the stage hook once the stage's output is captured: later layers are not run."""


def _feature_map(model: nn.Module, x: torch.Tensor, stage: int | None) -> torch.Tensor:
    """The feature map of ``x``: ``forward_features`` (or ``forward``) output, or a stage's output."""
    if stage is None:
        features = model.forward_features(x) if hasattr(model, "forward_features") else model(x)
        if features.dim() != 4:
            raise ERFError(
                f"{type(model).__name__} returns a feature map of shape {tuple(features.shape)}; "
                "the effective receptive field needs a (B, C, H, W) map"
            )
        return features
    info = getattr(model, "feature_info", None)
    if not info:
        raise ERFError(f"{type(model).__name__} has no feature_info, so stage={stage} cannot be measured")
    if not -len(info) <= stage < len(info):
        raise ERFError(f"stage must index feature_info ({len(info)} stages), got {stage}")
    module = model.get_submodule(info[stage]["module"])
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)
        raise _StopForward

    handle = module.register_forward_hook(hook)
    try:
        if hasattr(model, "forward_features"):
            model.forward_features(x)
        else:
            model(x)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ERFError(f"stage {stage} ({info[stage]['module']}) did not run in the forward pass")
    return captured[0]


def effective_receptive_field(
    model: nn.Module,
    input_size: Sequence[int] | None = None,
    *,
    inputs: torch.Tensor | None = None,
    samples: int = 16,
    stage: int | None = None,
    seed: int = 0,
    theoretical_size: int | None = None,
    batch_size: int = 8,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device | None = None,
) -> ERFResult:
    """Measure the effective receptive field of the central unit of a feature map.

    Args:
        model: the network; a copy runs in eval mode in ``dtype``, the model itself is
            not changed. A classifier's ``forward_features`` gives the feature map;
            another module's ``forward`` must return a ``(B, C, H, W)`` map.
        input_size: ``(C, H, W)`` of the random inputs; taken from ``inputs`` when given.
        inputs: a ``(B, C, H, W)`` batch of real (already normalised) images to average
            over instead of Gaussian noise; ``samples`` is then ignored.
        samples: number of standard Gaussian inputs to average over.
        stage: index into ``model.feature_info`` (negative counts from the end), or
            ``None`` for the last feature map (``forward_features``).
        seed: seed of the Gaussian inputs.
        theoretical_size: side of the theoretical receptive field in pixels, if known;
            the result then reports ERF radius / (RF / 2).
        batch_size: inputs per forward/backward pass.
        dtype: floating-point type of the computation. Keep float64 for deep networks:
            float32 underflows to 0 towards the RF edge.
        device: where to compute; the model's device when ``None``.

    Returns:
        An :class:`ERFResult`.
    """
    if inputs is not None:
        if inputs.dim() != 4:
            raise ERFError(f"inputs must be a (B, C, H, W) batch, got shape {tuple(inputs.shape)}")
        if input_size is not None and tuple(input_size) != tuple(inputs.shape[1:]):
            raise ERFError(f"input_size {tuple(input_size)} does not match inputs of shape {tuple(inputs.shape)}")
        input_size = tuple(inputs.shape[1:])
        samples = inputs.shape[0]
    elif input_size is None:
        raise ERFError("give input_size (C, H, W) or a batch of inputs")
    elif len(input_size) != 3:
        raise ERFError(f"input_size must be (C, H, W), got {tuple(input_size)}")
    if samples < 1:
        raise ERFError(f"samples must be at least 1, got {samples}")
    input_size = tuple(int(side) for side in input_size)

    if device is None:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    # A copy, so the caller's model keeps its dtype, mode and gradients.
    net = copy.deepcopy(model).to(device=device, dtype=dtype).eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)

    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(input_size[1:], dtype=dtype, device=device)  # (H, W)
    unit = feature_shape = None
    for start in range(0, samples, batch_size):
        count = min(batch_size, samples - start)
        if inputs is not None:
            x = inputs[start:start + count].to(device=device, dtype=dtype)
        else:
            x = torch.randn(count, *input_size, generator=generator, dtype=dtype).to(device)
        x.requires_grad_(True)
        features = _feature_map(net, x, stage)  # (B, C, h, w)
        feature_shape = tuple(features.shape[1:])
        unit = (features.shape[2] // 2, features.shape[3] // 2)
        # Sec. 2: dL/dy = 1 at the central unit (every channel), 0 elsewhere. The samples
        # do not interact in eval mode, so one backward pass gives each its own gradient.
        (gradient,) = torch.autograd.grad(features[:, :, unit[0], unit[1]].sum(), x)  # (B, C, H, W)
        total += gradient.abs().sum(dim=(0, 1))
    contributions = (total / samples).detach().to("cpu", torch.float64)
    mass = contributions.sum()
    if not mass > 0:
        raise ERFError(
            f"the central unit's gradient is zero on every input pixel (in {dtype}): the unit is "
            "inactive for these inputs (a closed ReLU) or the gradient underflowed; try other "
            "inputs, more samples or float64"
        )
    contributions = contributions / mass
    center = _centroid(contributions)
    height, width = contributions.shape
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    row_mean = (contributions.sum(1) * rows).sum()
    col_mean = (contributions.sum(0) * cols).sum()
    row_var = (contributions.sum(1) * (rows - row_mean) ** 2).sum()
    col_var = (contributions.sum(0) * (cols - col_mean) ** 2).sum()
    return ERFResult(
        contributions=contributions,
        unit=unit,
        feature_shape=feature_shape,
        stage=stage,
        samples=samples,
        center=center,
        radius_50=square_radius(contributions, 0.5, center),
        radius_95=square_radius(contributions, 0.95, center),
        sigma=math.sqrt(float(row_var + col_var) / 2),
        theoretical_size=theoretical_size,
        dtype=dtype,
    )


@dataclass(frozen=True)
class _RFBox:
    """Where the measured unit's theoretical RF lies on the input: centre ``(row, col)`` and side per axis."""

    center: tuple[float, float]
    size: tuple[float, float]
    located: bool  # False: only the size is known, and the square is drawn on the ERF's centroid


def _rf_box(result: ERFResult, rf: ReceptiveField | None) -> _RFBox | None:
    """The unit's RF from ``rf`` (centre = offset + unit * stride per axis), else sized by ``theoretical_size``."""
    same_map = rf is not None and tuple(rf.shape[-2:]) == result.feature_shape[1:]
    if same_map and not any(axis.is_global for axis in rf.axes):
        rows, cols = rf.axes
        center = (float(rows.offset + result.unit[0] * rows.jump), float(cols.offset + result.unit[1] * cols.jump))
        return _RFBox(center, (float(rows.size), float(cols.size)), located=True)
    if result.theoretical_size:
        return _RFBox(tuple(map(float, result.center)), (float(result.theoretical_size),) * 2, located=False)
    return None


def _erf_caption(result: ERFResult, box: _RFBox | None, rf: ReceptiveField | None) -> str:
    """Says where the measured unit's RF lies and why that need not be the image centre."""
    height, width = result.contributions.shape
    h, w = result.feature_shape[1:]
    lines = [f"unit {result.unit} of the {h}x{w} feature map; image centre ({(height - 1) / 2:g}, {(width - 1) / 2:g})"]
    if box is not None and box.located:
        lines[0] += f"; the unit's RF is centred at ({box.center[0]:g}, {box.center[1]:g}) (+)"
        if h % 2 == 0 or w % 2 == 0:
            lines.append("an even-sized map has no middle unit: this is the lower-right of the central ones")
        elif max(abs(box.center[0] - (height - 1) / 2), abs(box.center[1] - (width - 1) / 2)) >= 1:
            rows = rf.axes[0]
            units = ", ".join(f"{float(rows.offset + i * rows.jump):g}" for i in range(h))
            lines.append(f"the strided layers' padding puts unit 0 at row {float(rows.offset):g}, so the units sit at "
                         f"rows {units}: not symmetric about the image centre")
    if box is not None:
        outside = any(c - s / 2 < -0.5 or c + s / 2 > n - 0.5 for c, s, n in zip(box.center, box.size, (height, width)))
        where = "" if box.located else ", drawn on the ERF centroid: its position was not given"
        if outside:
            lines.append(f"the RF ({box.size[0]:g}x{box.size[1]:g} px{where}) reaches beyond the {height}x{width} "
                         "image: its edges lie outside the picture")
        elif where:
            lines.append(f"RF square{where}")
    center = result.center
    if box is not None and box.located and max(abs(center[0] - box.center[0]), abs(center[1] - box.center[1])) > 1:
        lines.append(f"the 50%/95% squares are centred on the ERF's centroid {center} (x), which the image edge "
                     "pulls toward the image centre")
    return "\n".join(textwrap.fill(line, 88) for line in lines)


def _draw_map(figure: Figure, axes: Axes, result: ERFResult, log: bool) -> None:
    """The contribution heatmap, its colour bar and axis labels."""
    from matplotlib.colors import LogNorm

    data = result.contributions.numpy()
    if log:
        peak = float(data.max())
        positive = data[data > 0]
        floor = max(float(positive.min()) if positive.size else peak * 1e-12, peak * 1e-12)
        image = axes.imshow(data.clip(min=floor), cmap="magma", norm=LogNorm(vmin=floor, vmax=peak))
    else:
        image = axes.imshow(data, cmap="magma")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of |gradient|" + (" (log)" if log else ""))
    axes.set_xlim(-0.5, data.shape[1] - 0.5)
    axes.set_ylim(data.shape[0] - 0.5, -0.5)
    axes.set_xlabel("input column (px)")
    axes.set_ylabel("input row (px)")


def _draw_squares(axes: Axes, result: ERFResult, box: _RFBox | None) -> None:
    """The 50% and 95% squares on the centroid (x), and the theoretical RF on its centre (+)."""
    from matplotlib.patches import Rectangle

    row, col = result.center
    squares = [((row, col), (result.radius_50,) * 2, f"50%: r={result.radius_50:.1f}", "cyan", "-"),
               ((row, col), (result.radius_95,) * 2, f"95%: r={result.radius_95:.1f}", "lime", "-")]
    if box is not None:
        label = f"RF: {box.size[0]:g}x{box.size[1]:g} px"
        squares.append((box.center, (box.size[0] / 2, box.size[1] / 2), label, "white", "--"))
    for (y, x), (ry, rx), label, colour, style in squares:
        # Pixel (r, c) covers [c - 0.5, c + 0.5] in imshow's coordinates, so a square of
        # radius k + 0.5 around pixel c covers pixels c - k to c + k exactly.
        axes.add_patch(Rectangle((x - rx, y - ry), 2 * rx, 2 * ry, fill=False, edgecolor=colour, linestyle=style,
                                 linewidth=1.2, label=label))
    axes.plot(col, row, "x", color="cyan", markersize=7, linestyle="none", label="ERF centroid")
    if box is not None and box.located:
        axes.plot(box.center[1], box.center[0], "+", color="white", markersize=10, linestyle="none", label="RF centre")


def erf_figure(
    result: ERFResult,
    *,
    log: bool = False,
    title: str | None = None,
    model: str | None = None,
    rf: ReceptiveField | None = None,
) -> Figure:
    """The contribution map as a heatmap with the 50% and 95% squares, the theoretical RF and a caption.

    The 50% and 95% squares are centred on the map's centroid (the radii's centre). The
    dashed square is the unit's theoretical RF where ``rf`` places it: at
    ``offset + unit * stride`` per axis, which is often not the image centre. An even-sized
    map has no middle unit (``(h // 2, w // 2)`` is the lower-right of the central ones),
    and networks whose stride-2 layers pad by ``k // 2`` put unit 0 at the top-left pixel,
    so, e.g., ResNet-18's 3x3 map of a 96x96 image has its units at 0, 32 and 64 px and the
    middle one 15.5 px up-left of the image centre. Where the image edge then cuts the ERF
    on one side, the centroid moves toward the image centre, away from the RF's centre.
    The caption under the map states these facts for the figure at hand.

    Args:
        result: what :func:`effective_receptive_field` returned.
        log: colour by ``log10`` of the contribution, which shows the tail out to the
            RF edge (values below ``1e-12`` of the peak are clipped).
        title: figure title; the model (if given) and a summary of the result when ``None``.
        model: the model's name, for the default title.
        rf: the theoretical receptive field of the measured feature map (a stage of
            :func:`~convzoo.analysis.receptive_field.receptive_field`), which places the RF
            square; without it the square of ``result.theoretical_size`` is drawn on the
            centroid.
    """
    from matplotlib.figure import Figure

    box = _rf_box(result, rf)
    caption = _erf_caption(result, box, rf)
    lines = caption.count("\n") + 1
    # Heights in inches: the map, the legend's two rows, the caption's lines.
    heights = (4.6, 0.45, 0.13 * lines + 0.05)
    figure = Figure(figsize=(6, sum(heights) + 0.2), layout="constrained")
    axes, legend_axes, caption_axes = figure.subplots(3, 1, height_ratios=heights)
    _draw_map(figure, axes, result, log)
    _draw_squares(axes, result, box)
    if title is None:
        where = "last feature map" if result.stage is None else f"stage {result.stage}"
        name = f"{model}: " if model else ""
        title = f"{name}ERF of the central unit, {where} ({result.samples} inputs)"
    axes.set_title(title, fontsize=9)
    for notes in (legend_axes, caption_axes):
        notes.set_axis_off()
    # A grey box, so the white RF entries show; below the map, so it hides none of it.
    legend_axes.legend(*axes.get_legend_handles_labels(), loc="center", ncols=3, fontsize=7, facecolor="0.35",
                       labelcolor="white", framealpha=1.0)
    # Out of the layout: the heights above leave it room, and its width must not squeeze the map.
    caption_axes.text(0.5, 1.0, caption, ha="center", va="top", fontsize=7, transform=caption_axes.transAxes,
                      in_layout=False)
    return figure


def plot_erf(
    result: ERFResult,
    path: str | os.PathLike,
    *,
    log: bool = False,
    title: str | None = None,
    model: str | None = None,
    rf: ReceptiveField | None = None,
    dpi: int = 100,
) -> None:
    """Save :func:`erf_figure` (same arguments) to ``path``, the format following its suffix, at ``dpi``."""
    erf_figure(result, log=log, title=title, model=model, rf=rf).savefig(os.fspath(path), dpi=dpi)
