"""Training targets of pose networks: Gaussian heatmaps, part affinity fields and ignore masks.

A heatmap network learns, per joint, a map that is a Gaussian bump at the joint
(Tompson et al. 2014; the Stacked Hourglass, Newell et al. 2016; Xiao et al. 2018): the
value at pixel ``p`` is ``exp(-|p - x|^2 / (2 sigma^2))`` for the keypoint ``x``, the
maximum over the people of an image. A bottom-up network also learns, per limb, a part
affinity field (PAF, Cao et al. 2017, Eq. 8-9): the unit vector ``v = (x_b - x_a) / |x_b -
x_a|`` of the limb on the pixels within ``limb_width`` of the segment (``0 <= v . (p - x_a)
<= |x_b - x_a|`` and ``|v_perp . (p - x_a)| <= limb_width``), averaged over the people
whose limbs cover the pixel (Eq. 9), and zero elsewhere.

Every target is one tensor per example, ``(2, C, h, w)``: ``[0]`` the maps in the
network's channel order, ``[1]`` the per-pixel loss weights (0 where a joint is
unlabelled or a region is ignored).

Coordinates. Pixel ``(0, 0)`` covers ``[-0.5, 0.5]^2`` at every resolution, and a map of
stride ``s`` tiles the input with ``s x s`` cells: map pixel ``i`` covers input pixels
``s i .. s i + s - 1`` and sits at their centre ``s i + (s - 1) / 2``. Hence
``x_map = (x + 0.5) / s - 0.5`` (:func:`to_heatmap_pixels`) and back
``x = (x_map + 0.5) s - 0.5`` (:func:`to_input_pixels`). This is where a network whose
downsamplings are 2x2 poolings puts its outputs (VGG in OpenPose; CMU's target code
places its grid at ``s / 2 - 0.5 + s i``), and it is the one mapping under which a mirrored
map is the map of the mirrored image (sides multiple of ``s``), so flip testing needs no shift.

Papers: Stacked Hourglass Networks for Human Pose Estimation (Newell, Yang, Deng, ECCV
2016) https://arxiv.org/abs/1603.06937; Realtime Multi-Person 2D Pose Estimation using
Part Affinity Fields (Cao, Simon, Wei, Sheikh, CVPR 2017) https://arxiv.org/abs/1611.08050

Deviations: Xiao et al.'s and HRNet's code centre the Gaussian on the keypoint's
nearest pixel and map coordinates by ``x / s``; here the bump is centred on the sub-pixel
keypoint and the cell-centre mapping above is used. CMU's PAF code marks the pixels of
the segment's bounding box (grown by the width) within ``limb_width`` of the limb's
line; here the paper's condition (projection within the segment) is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from convzoo.data.pose.skeleton import COCO_TO_OPENPOSE, OPENPOSE_COCO, Skeleton
from convzoo.errors import ConvzooError

__all__ = [
    "bottom_up_target",
    "coco_to_openpose",
    "gaussian_heatmaps",
    "ignore_mask",
    "part_affinity_fields",
    "to_heatmap_pixels",
    "to_input_pixels",
    "top_down_target",
]

_COCO_SHOULDERS = (5, 6)
_OPENPOSE_NECK = 1


def _check_keypoints(keypoints: torch.Tensor, dims: int, joints: int | None = None) -> None:
    """One-line errors for a keypoint tensor of the wrong shape or with visibility outside 0-2."""
    expected = "(" + ", ".join(["N", "J", "3"][3 - dims :]) + ")"
    if keypoints.dim() != dims or keypoints.shape[-1] != 3:
        raise ConvzooError(f"keypoints must have shape {expected} (x, y, v); got {tuple(keypoints.shape)}")
    if joints is not None and keypoints.shape[-2] != joints:
        raise ConvzooError(f"keypoints must have {joints} joints; got {keypoints.shape[-2]}")
    visibility = keypoints[..., 2]
    bad = (visibility != 0) & (visibility != 1) & (visibility != 2)
    if bad.any():
        raise ConvzooError(f"keypoint visibility must be 0, 1 or 2; got {visibility[bad][0].item()}")


def _map_size(input_size: Sequence[int], stride: int) -> tuple[int, int]:
    """The ``(h, w)`` of a stride-``stride`` map of an ``(H, W)`` input: whole cells only, as pooling gives."""
    height, width = (int(value) for value in input_size)
    if height < stride or width < stride:
        raise ConvzooError(f"input size {(height, width)} is smaller than the output stride {stride}")
    return height // stride, width // stride


def to_heatmap_pixels(points: torch.Tensor, stride: int) -> torch.Tensor:
    """``(..., 2+)`` points from input pixels to the pixels of a stride-``stride`` map (other columns kept)."""
    moved = points.clone() if points.is_floating_point() else points.float()
    moved[..., :2] = (points[..., :2] + 0.5) / stride - 0.5
    return moved


def to_input_pixels(points: torch.Tensor, stride: int) -> torch.Tensor:
    """``(..., 2+)`` points from the pixels of a stride-``stride`` map to input pixels (other columns kept)."""
    moved = points.clone() if points.is_floating_point() else points.float()
    moved[..., :2] = (points[..., :2] + 0.5) * stride - 0.5
    return moved


def _inside(points: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Whether ``(..., 2+)`` points lie on an ``(h, w)`` map, whose pixels span ``[-0.5, w - 0.5]``."""
    height, width = size
    x, y = points[..., 0], points[..., 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def _window_gaussian(offsets: torch.Tensor, sigma: float) -> torch.Tensor:
    """``exp(-d^2 / (2 sigma^2))`` for ``|d| <= 3 sigma``, 0 outside the window."""
    return torch.exp(-offsets.square() / (2 * sigma**2)) * (offsets.abs() <= 3 * sigma)


def gaussian_heatmaps(
    keypoints: torch.Tensor,
    size: Sequence[int],
    sigma: float = 2.0,
    single_person: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per joint, the maximum over the people of a Gaussian at the keypoint, in a window of radius 3 sigma.

    The window is the square ``|dx|, |dy| <= 3 sigma`` around the (sub-pixel) keypoint,
    clipped by the map's edges; the Gaussian is separable, so it is built as the outer
    product of its row and column profiles for every person and joint at once.

    Args:
        keypoints: ``(N, J, 3)`` in *map* pixels (:func:`to_heatmap_pixels` of input ones);
            unlabelled keypoints (``v == 0``) get no bump.
        size: ``(h, w)`` of the map.
        sigma: the Gaussian's standard deviation in map pixels.
        single_person: a top-down target: a joint's weights are 0 where no person has it
            labelled inside the map (nothing there to learn). Otherwise (bottom-up) every
            weight is 1: an absent joint is a map of zeros to learn. ``None``: ``N == 1``.

    Returns:
        ``(maps, weights)``, both ``(J, h, w)`` float32.
    """
    _check_keypoints(keypoints, dims=3)
    height, width = (int(value) for value in size)
    people, joints = keypoints.shape[:2]
    points = keypoints.float()
    columns = torch.arange(width, dtype=torch.float32, device=keypoints.device)
    rows = torch.arange(height, dtype=torch.float32, device=keypoints.device)
    along_x = _window_gaussian(columns - points[..., 0:1], sigma)  # (N, J, w)
    along_y = _window_gaussian(rows - points[..., 1:2], sigma)  # (N, J, h)
    labelled = points[..., 2] > 0  # (N, J)
    bumps = along_y[..., :, None] * along_x[..., None, :] * labelled[..., None, None]  # (N, J, h, w)
    maps = bumps.amax(dim=0) if people else bumps.new_zeros(joints, height, width)
    if single_person is None:
        single_person = people == 1
    weights = torch.ones_like(maps)
    if single_person:
        learnable = (labelled & _inside(points, (height, width))).any(dim=0)  # (J,)
        weights = weights * learnable[:, None, None]
    return maps, weights


def part_affinity_fields(
    keypoints: torch.Tensor,
    limbs: Sequence[tuple[int, int]],
    size: Sequence[int],
    limb_width: float = 1.0,
    paf_channels: Sequence[tuple[int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenPose's part affinity fields (Cao et al. 2017, Eq. 8-9), every person and limb at once.

    Args:
        keypoints: ``(N, K, 3)`` in map pixels; a limb is drawn for a person when both its
            ends are labelled (``v > 0``) and distinct.
        limbs: ``(a, b)`` part pairs; the field points from ``a`` to ``b``.
        size: ``(h, w)`` of the map.
        limb_width: the limb's half-width ``sigma_l`` in map pixels; the field also reaches
            this far past both ends, as in CMU's code (Eq. 8 stops at the ends).
        paf_channels: per limb, its ``(x, y)`` output channels (a skeleton's
            ``paf_channels``); ``None``: limb ``l`` in channels ``2l, 2l + 1``.

    Returns:
        ``(fields, counts)``: fields ``(2L, h, w)`` float32; counts ``(L, h, w)`` int64,
        in limb order, the number of people whose limb covers each pixel (Eq. 9's ``n_c(p)``).
    """
    _check_keypoints(keypoints, dims=3)
    height, width = (int(value) for value in size)
    limb_index = torch.as_tensor(limbs, dtype=torch.long, device=keypoints.device).reshape(-1, 2)  # (L, 2)
    start = keypoints.float()[:, limb_index[:, 0]]  # (N, L, 3)
    end = keypoints.float()[:, limb_index[:, 1]]
    vector = end[..., :2] - start[..., :2]  # (N, L, 2)
    length = vector.norm(dim=-1)  # (N, L)
    drawn = (start[..., 2] > 0) & (end[..., 2] > 0) & (length > 0)
    unit = vector / length.clamp_min(1e-12)[..., None]  # (N, L, 2): Eq. 8's v
    columns = torch.arange(width, dtype=torch.float32, device=keypoints.device)
    rows = torch.arange(height, dtype=torch.float32, device=keypoints.device)
    dx = columns - start[..., 0, None, None]  # (N, L, 1, w)
    dy = rows[:, None] - start[..., 1, None, None]  # (N, L, h, 1)
    ux, uy = unit[..., 0, None, None], unit[..., 1, None, None]
    along = dx * ux + dy * uy  # (N, L, h, w)
    across = (dx * uy - dy * ux).abs()
    # Eq. 8 bounds the projection by [0, l]; CMU's code (putVecMaps) lets it run limb_width past both ends,
    # so that a limb shorter than a map pixel (a shoulder seen from the side) still has a field.
    reach = (along >= -limb_width) & (along <= length[..., None, None] + limb_width)
    on_limb = reach & (across <= limb_width) & drawn[..., None, None]
    counts = on_limb.sum(dim=0)  # (L, h, w)
    summed = torch.einsum("nlhw,nlc->lchw", on_limb.float(), unit)  # (L, 2, h, w)
    mean = summed / counts.clamp_min(1)[:, None]  # Eq. 9
    channels = paf_channels or [(2 * limb, 2 * limb + 1) for limb in range(len(limb_index))]
    if len(channels) != len(limb_index):
        raise ConvzooError(f"paf_channels has {len(channels)} pairs for {len(limb_index)} limbs")
    fields = mean.new_zeros(2 * len(limb_index), height, width)
    order = torch.as_tensor(channels, dtype=torch.long, device=keypoints.device)  # (L, 2)
    fields[order.flatten()] = mean.flatten(0, 1)
    return fields, counts


def ignore_mask(
    size: Sequence[int],
    boxes: torch.Tensor | None = None,
    masks: torch.Tensor | None = None,
    stride: int = 1,
) -> torch.Tensor:
    """A ``(h, w)`` weight map: 0 on the cells that touch a region to ignore, 1 elsewhere.

    Regions to ignore are those the annotation does not label: crowds and people without
    keypoints (OpenPose's ``mask_miss``). A map cell is ignored when any part of it lies
    in a region, so an unlabelled person is never taught as background.

    Args:
        size: ``(h, w)`` of the map.
        boxes: ``(M, 4)`` ``x1, y1, x2, y2`` in input pixels, as edges (an image of
            width ``W`` spans ``[-0.5, W - 0.5]``).
        masks: ``(M, H, W)`` or ``(H, W)``, nonzero where ignored, at the input's resolution.
        stride: the map's stride over the input.
    """
    height, width = (int(value) for value in size)
    device = boxes.device if boxes is not None else masks.device if masks is not None else None
    ignored = torch.zeros(height, width, dtype=torch.bool, device=device)
    if boxes is not None and boxes.numel():
        if boxes.dim() != 2 or boxes.shape[1] != 4:
            raise ConvzooError(f"ignore boxes must have shape (M, 4) (x1, y1, x2, y2); got {tuple(boxes.shape)}")
        corners = (boxes.float() + 0.5) / stride - 0.5  # map pixels; cell i spans [i - 0.5, i + 0.5]
        columns = torch.arange(width, dtype=torch.float32, device=device)
        rows = torch.arange(height, dtype=torch.float32, device=device)
        in_x = (columns + 0.5 > corners[:, 0, None]) & (columns - 0.5 < corners[:, 2, None])  # (M, w)
        in_y = (rows + 0.5 > corners[:, 1, None]) & (rows - 0.5 < corners[:, 3, None])  # (M, h)
        ignored |= (in_y[:, :, None] & in_x[:, None, :]).any(dim=0)
    if masks is not None and masks.numel():
        if masks.dim() not in (2, 3):
            raise ConvzooError(f"ignore masks must have shape (H, W) or (M, H, W); got {tuple(masks.shape)}")
        union = (masks != 0).reshape(-1, *masks.shape[-2:]).any(dim=0).float()  # (H, W)
        cells = F.max_pool2d(union[None, None], stride, stride, ceil_mode=True)[0, 0] > 0  # (ceil(H/s), ceil(W/s))
        cells = cells[:height, :width]
        ignored[: cells.shape[0], : cells.shape[1]] |= cells
    return (~ignored).float()


def bottom_up_target(
    keypoints: torch.Tensor,
    skeleton: Skeleton = OPENPOSE_COCO,
    *,
    size: Sequence[int],
    stride: int = 8,
    sigma: float = 7 / 8,
    limb_width: float = 1.0,
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """OpenPose's training target: PAFs, part confidence maps and the background map.

    Args:
        keypoints: ``(N, P, 3)`` in input pixels, in ``skeleton``'s part order
            (:func:`coco_to_openpose` for COCO's); ``N`` may be 0.
        skeleton: the layout whose limbs and ``paf_channels`` order the PAF channels.
        size: ``(H, W)`` of the input; the maps are ``(H // stride, W // stride)``.
        stride: the network's output stride.
        sigma: the confidence maps' standard deviation in map pixels (CMU's 7 input
            pixels at stride 8 by default).
        limb_width: the PAFs' half-width in map pixels (CMU's 1).
        ignore: an ``(h, w)`` weight map from :func:`ignore_mask`, applied to every channel.

    Returns:
        ``(2, 2L + P + 1, h, w)``: ``[0]`` the PAFs (``2L``), the part maps (``P``) and the
        background ``1 - max`` of the part maps; ``[1]`` the weights.
    """
    _check_keypoints(keypoints, dims=3, joints=skeleton.num_joints)
    height, width = _map_size(size, stride)
    points = to_heatmap_pixels(keypoints, stride)
    fields, _ = part_affinity_fields(points, skeleton.limbs, (height, width), limb_width, skeleton.paf_channels or None)
    parts, _ = gaussian_heatmaps(points, (height, width), sigma, single_person=False)
    background = (1 - parts.amax(dim=0, keepdim=True)).clamp_min(0)
    maps = torch.cat([fields, parts, background])  # (2L + P + 1, h, w)
    weights = torch.ones_like(maps)
    if ignore is not None:
        if tuple(ignore.shape) != (height, width):
            raise ConvzooError(f"ignore mask must have the maps' shape {(height, width)}; got {tuple(ignore.shape)}")
        weights = weights * ignore.to(maps)
    return torch.stack([maps, weights])


def top_down_target(
    keypoints: torch.Tensor,
    input_size: Sequence[int],
    stride: int = 4,
    sigma: float = 2.0,
) -> torch.Tensor:
    """A single person's heatmap target: ``(2, J, H // stride, W // stride)`` (maps, weights).

    Args:
        keypoints: ``(J, 3)`` in the crop's input pixels.
        input_size: ``(H, W)`` of the crop.
        stride: the network's output stride.
        sigma: the Gaussian's standard deviation in map pixels (2 at 64x64, as Newell et al.).
    """
    _check_keypoints(keypoints, dims=2)
    size = _map_size(input_size, stride)
    maps, weights = gaussian_heatmaps(to_heatmap_pixels(keypoints, stride)[None], size, sigma, single_person=True)
    return torch.stack([maps, weights])


def coco_to_openpose(keypoints: torch.Tensor) -> torch.Tensor:
    """COCO's 17 keypoints ``(..., 17, 3)`` as OpenPose's 18 parts ``(..., 18, 3)``.

    The neck, which COCO does not annotate, is the shoulders' midpoint, labelled only
    where both shoulders are, with the lower of their visibilities.
    """
    if keypoints.dim() < 2 or tuple(keypoints.shape[-2:]) != (17, 3):
        raise ConvzooError(f"COCO keypoints must have shape (..., 17, 3); got {tuple(keypoints.shape)}")
    parts = keypoints.new_zeros(*keypoints.shape[:-2], 18, 3)
    parts[..., list(COCO_TO_OPENPOSE), :] = keypoints
    left, right = keypoints[..., _COCO_SHOULDERS[0], :], keypoints[..., _COCO_SHOULDERS[1], :]
    visibility = torch.minimum(left[..., 2], right[..., 2])
    labelled = (visibility > 0)[..., None]
    neck = torch.cat([(left[..., :2] + right[..., :2]) / 2, visibility[..., None]], dim=-1)
    parts[..., _OPENPOSE_NECK, :] = torch.where(labelled, neck, torch.zeros_like(neck))
    return parts
