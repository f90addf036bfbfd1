"""Dense pose as a picture: the image, the part map and the U and V maps, side by side.

DensePose shows its IUV output as three images over the person: the part index ``I`` in
a palette and the chart coordinates ``U`` and ``V`` as colour ramps. :func:`draw_iuv`
writes the four titled panels as one PNG. Part ``k`` always has the same colour
(:func:`part_colours`: black background, then matplotlib's ``tab20`` colours in order,
repeated past 20 parts), so pictures of different images and runs read alike; U and V
share one colour bar from 0 to 1 and are black on the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from convzoo.errors import ConvzooError
from convzoo.tasks.pose.dense import iuv_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["dense_pose_figure", "draw_iuv", "part_colours"]

IUV = torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def part_colours(num_parts: int) -> np.ndarray:
    """``(num_parts + 1, 3)`` float RGB in [0, 1]: black for the background, then ``tab20``'s colours in order."""
    import matplotlib

    palette = np.asarray(matplotlib.colormaps["tab20"].colors)
    body = palette[np.arange(num_parts) % len(palette)]
    return np.concatenate([np.zeros((1, 3)), body], axis=0)


def _image(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """A ``(C, H, W)`` image in [0, 1] as ``(H, W, 3)`` float: gray repeated, more than 3 channels: the first 3."""
    pixels = np.asarray(image.detach().cpu().float() if isinstance(image, torch.Tensor) else image, dtype=np.float32)
    if pixels.ndim != 3 or pixels.shape[0] not in (1, 3, 4):
        raise ConvzooError(f"draw_iuv expects an image of shape (C, H, W) with 1, 3 or 4 channels, got {pixels.shape}")
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    return np.clip(np.moveaxis(pixels[:3], 0, -1), 0.0, 1.0)


def _iuv(prediction: IUV) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(parts, u, v)`` as ``(H, W)`` arrays from a network output ``(3P + 1, H, W)`` or a ``(parts, u, v)`` triple."""
    if isinstance(prediction, torch.Tensor):
        if prediction.dim() == 4 and prediction.shape[0] == 1:
            prediction = prediction[0]
        if prediction.dim() != 3:
            raise ConvzooError(f"draw_iuv draws one example: an output (3P + 1, H, W), got {tuple(prediction.shape)}")
        index, u, v = iuv_map(prediction.detach().cpu().float())
        return index.long().numpy(), u.numpy(), v.numpy()
    if len(prediction) != 3:
        raise ConvzooError(f"draw_iuv takes a network output or a (parts, u, v) triple, got {len(prediction)} maps")
    parts, u, v = (torch.as_tensor(m).detach().cpu() for m in prediction)
    if parts.dim() != 2 or u.shape != parts.shape or v.shape != parts.shape:
        raise ConvzooError(
            f"draw_iuv's (parts, u, v) are three (H, W) maps, got shapes "
            f"{tuple(parts.shape)}, {tuple(u.shape)}, {tuple(v.shape)}"
        )
    return parts.long().numpy(), u.float().numpy(), v.float().numpy()


def dense_pose_figure(
    image: torch.Tensor | np.ndarray, prediction: IUV, *, part_names: Sequence[str] | None = None
) -> Figure:
    """Titled panels: the image, its parts in :func:`part_colours`, and the U and V maps on the body.

    Args:
        image: ``(C, H, W)`` in [0, 1].
        prediction: a dense-pose network's output for the image, ``(3P + 1, H, W)`` (parts by
            argmax, U and V of the chosen part), or ``(parts, u, v)``: three ``(H, W)`` maps
            (labels, or a prediction already decoded).
        part_names: names of parts 1..P; when given, a legend of the parts shown.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    picture = _image(image)
    parts, u, v = _iuv(prediction)
    if parts.shape != picture.shape[:2]:
        raise ConvzooError(f"draw_iuv's maps are {parts.shape[0]}x{parts.shape[1]} but the image is "
                           f"{picture.shape[0]}x{picture.shape[1]}; they must be the same size")
    if parts.size and parts.min() < 0:
        raise ConvzooError(f"draw_iuv's part indices must be 0 (background) or more, got {int(parts.min())}")
    num_parts = max(int(parts.max()) if parts.size else 0, len(part_names or ()))
    colours = part_colours(num_parts)
    body = parts > 0
    height, width = parts.shape
    side = 3.0  # inches per panel
    figure = Figure(figsize=(4 * side + 0.8, side * height / width + 0.6), dpi=min(max(width / side, 100), 200),
                    layout="constrained")
    axes = figure.subplots(1, 4)
    axes[0].imshow(picture)
    axes[0].set_title("image", fontsize=9)
    axes[1].imshow(colours[parts], interpolation="nearest")
    axes[1].set_title(f"parts I ({int(np.unique(parts[body]).size)} shown)", fontsize=9)
    ramp_colours = matplotlib.colormaps["viridis"].with_extremes(bad="black")  # masked: the background
    for axis, name, values in ((axes[2], "U", u), (axes[3], "V", v)):
        ramp = axis.imshow(np.ma.masked_where(~body, values), cmap=ramp_colours, vmin=0.0, vmax=1.0,
                           interpolation="nearest")
        axis.set_title(f"{name} on the body", fontsize=9)
    figure.colorbar(ramp, ax=list(axes[2:]), shrink=0.8)
    if part_names:
        shown = sorted(set(np.unique(parts[body]).tolist()))
        handles = [Patch(color=colours[k], label=part_names[k - 1]) for k in shown if k <= len(part_names)]
        if handles:
            axes[1].legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=2,
                           frameon=False)
    for axis in axes:
        axis.set_axis_off()
    return figure


def draw_iuv(
    image: torch.Tensor | np.ndarray, prediction: IUV, path: str | Path, *, part_names: Sequence[str] | None = None
) -> Path:
    """Write :func:`dense_pose_figure`'s panels (same arguments) to ``path`` as a PNG; returns the path."""
    path = Path(path)
    figure = dense_pose_figure(image, prediction, part_names=part_names)
    try:
        figure.savefig(path, format="png", bbox_inches="tight", pad_inches=0.05)
    except (ValueError, OSError) as error:
        raise ConvzooError(f"cannot write {path}: {error}") from None
    return path
