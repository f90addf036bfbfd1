"""OpenPose's bottom-up grouping: parts from confidence maps, people from part affinity fields.

Cao et al. (Sec. 2.3-2.4) find every part of every person first and then decide which
parts belong together:

1. Part candidates are the local maxima of each confidence map above a threshold
   (non-maximum suppression).
2. Every pair of candidates ``(d_a, d_b)`` of a limb's two parts is scored by the line
   integral of the limb's PAF along the segment (Eq. 10): the mean, over ``samples``
   evenly spaced points of the segment (Eq. 11), of the field's dot product with the
   segment's unit vector. The reference implementation adds a distance prior,
   ``min(0.5 h / |d_b - d_a| - 1, 0)`` for a map of height ``h``, which penalises
   segments longer than half the image; a candidate is kept when more than
   ``min_fraction`` (80%) of its samples exceed ``paf_threshold`` (0.05) and its score is
   positive.
3. Per limb type, a greedy bipartite matching keeps the highest-scoring candidates,
   each part used at most once (Eq. 13-14, relaxed as in the paper).
4. People are assembled limb by limb in the skeleton's order: a limb that shares a
   part with a person extends it, one that joins two people without a common part merges
   them, and one that touches nobody starts a new person (except the skeleton's
   redundant limbs, those between two parts the tree of earlier limbs already reaches,
   such as OpenPose's ear-shoulder limbs). People with fewer than ``min_parts`` parts or
   a mean score per part under ``min_mean_score`` are dropped.

Paper: Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields (Cao, Simon,
Wei, Sheikh, CVPR 2017) https://arxiv.org/abs/1611.08050

Deviations: the reference upsamples the maps to the input's size before finding peaks;
here peaks are found at the maps' resolution and refined to sub-pixel positions by a
parabola through the log scores of the peak and its two neighbours in x and in y (exact
for a Gaussian bump), and the PAF is sampled bilinearly instead of at the nearest pixel.
A part a person already has is kept when a later limb proposes another peak for it (the
reference overwrites it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from convzoo.data.pose.skeleton import OPENPOSE_COCO, Skeleton
from convzoo.data.pose.targets import to_input_pixels
from convzoo.errors import ConvzooError

__all__ = ["Person", "find_peaks", "group_people", "limb_scores", "match_limbs"]

# Neighbour offsets (dy, dx); those before the centre in raster order must be strictly lower,
# so a plateau of equal values gives one peak, its first pixel (as OpenPose's C++ kernel).
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


@dataclass(frozen=True)
class Person:
    """One person found by :func:`group_people`.

    Attributes:
        keypoints: ``(P, 3)``: x, y and ``v`` (2 where the part was found, 0 where not,
            with x = y = 0).
        part_scores: ``(P,)`` the confidence-map peak of each part found, 0 elsewhere.
        score: the reference's person score: the sum of its parts' peaks and its limbs' scores.
    """

    keypoints: torch.Tensor
    part_scores: torch.Tensor
    score: float


def _gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of ``(P, h, w)`` maps, edges replicated."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-offsets.square() / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    planes = maps[:, None]  # (P, 1, h, w)
    planes = F.conv2d(F.pad(planes, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    planes = F.conv2d(F.pad(planes, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return planes[:, 0]


def _parabola_offset(lower: torch.Tensor, centre: torch.Tensor, higher: torch.Tensor) -> torch.Tensor:
    """The vertex of the parabola through the logs of three neighbouring values, in [-0.5, 0.5]."""
    floor = 1e-12
    log_lower, log_centre, log_higher = (value.clamp_min(floor).log() for value in (lower, centre, higher))
    curvature = 2 * log_centre - log_lower - log_higher
    usable = (curvature > 1e-6) & torch.isfinite(lower) & torch.isfinite(higher)
    offset = 0.5 * (log_higher - log_lower) / torch.where(usable, curvature, torch.ones_like(curvature))
    return torch.where(usable, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)


def find_peaks(
    maps: torch.Tensor,
    threshold: float = 0.1,
    smooth_sigma: float | None = None,
    refine: bool = True,
) -> list[torch.Tensor]:
    """Local maxima of each confidence map (3x3 non-maximum suppression) above ``threshold``.

    Args:
        maps: ``(P, h, w)`` part confidence maps.
        threshold: the least score of a peak (the reference's 0.1).
        smooth_sigma: smooth the maps by a Gaussian of this standard deviation (map
            pixels) first, as the reference does; ``None``: no smoothing.
        refine: move each peak to the vertex of the log-parabola through its neighbours.

    Returns:
        per part, a ``(K, 3)`` tensor of ``(x, y, score)`` in map pixels, in raster order.
    """
    if maps.dim() != 3:
        raise ConvzooError(f"confidence maps must have shape (P, h, w); got {tuple(maps.shape)}")
    maps = maps.float()
    if smooth_sigma:
        maps = _gaussian_blur(maps, smooth_sigma)
    height, width = maps.shape[-2:]
    padded = F.pad(maps, (1, 1, 1, 1), value=-math.inf)  # (P, h + 2, w + 2)

    def neighbour(dy: int, dx: int) -> torch.Tensor:
        return padded[:, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    is_peak = maps > threshold
    for dy, dx in _NEIGHBOURS:
        earlier = (dy, dx) < (0, 0)
        is_peak &= maps > neighbour(dy, dx) if earlier else maps >= neighbour(dy, dx)
    part, y, x = is_peak.nonzero(as_tuple=True)
    scores = maps[part, y, x]
    offset_x = offset_y = torch.zeros_like(scores)
    if refine:
        offset_x = _parabola_offset(neighbour(0, -1)[part, y, x], scores, neighbour(0, 1)[part, y, x])
        offset_y = _parabola_offset(neighbour(-1, 0)[part, y, x], scores, neighbour(1, 0)[part, y, x])
    peaks = torch.stack([x + offset_x, y + offset_y, scores], dim=-1)  # (K_total, 3)
    counts = torch.bincount(part, minlength=len(maps)).tolist()
    return list(peaks.split(counts))


def limb_scores(
    paf_x: torch.Tensor,
    paf_y: torch.Tensor,
    a_peaks: torch.Tensor,
    b_peaks: torch.Tensor,
    samples: int = 10,
    paf_threshold: float = 0.05,
    min_fraction: float = 0.8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The PAF line integral (Eq. 10-11) of every candidate segment from an ``a`` peak to a ``b`` peak.

    Args:
        paf_x, paf_y: ``(h, w)`` the limb's field.
        a_peaks, b_peaks: ``(Ka, 3)`` and ``(Kb, 3)`` peaks ``(x, y, score)`` in map pixels.
        samples: points per segment, both ends included.
        paf_threshold: the dot product a sample must exceed to count as on the limb.
        min_fraction: the fraction of samples that must exceed it.

    Returns:
        ``(scores, valid)``, both ``(Ka, Kb)``: the mean dot product plus the distance prior,
        and whether the candidate passes both of the reference's criteria.
    """
    start = a_peaks[:, None, :2].float()  # (Ka, 1, 2)
    vector = b_peaks[None, :, :2].float() - start  # (Ka, Kb, 2)
    if not vector.numel():
        empty = vector.new_zeros(vector.shape[:2])
        return empty, empty.bool()
    length = vector.norm(dim=-1).clamp_min(1e-6)  # (Ka, Kb)
    unit = vector / length[..., None]
    steps = torch.linspace(0, 1, samples, device=vector.device)
    points = start[..., None, :] + steps[:, None] * vector[..., None, :]  # (Ka, Kb, S, 2)
    height, width = paf_x.shape
    scale = torch.tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)], device=vector.device)
    grid = (points * scale - 1).reshape(1, -1, samples, 2)  # grid_sample's [-1, 1], corners at pixel centres
    field = torch.stack([paf_x, paf_y]).float()[None]  # (1, 2, h, w)
    sampled = F.grid_sample(field, grid, mode="bilinear", padding_mode="zeros", align_corners=True)  # (1, 2, K, S)
    sampled = sampled[0].permute(1, 2, 0).reshape(*vector.shape[:2], samples, 2)  # (Ka, Kb, S, 2)
    dots = (sampled * unit[..., None, :]).sum(dim=-1)  # (Ka, Kb, S)
    prior = (0.5 * height / length - 1).clamp_max(0)
    scores = dots.mean(dim=-1) + prior
    valid = ((dots > paf_threshold).sum(dim=-1) > min_fraction * samples) & (scores > 0)
    return scores, valid


def match_limbs(scores: torch.Tensor, valid: torch.Tensor) -> list[tuple[int, int, float]]:
    """Greedy bipartite matching: valid candidates by decreasing score, each peak used once.

    Returns:
        ``(i, j, score)`` for each limb kept: ``a`` peak ``i`` joined to ``b`` peak ``j``.
    """
    pairs = valid.nonzero().tolist()
    values = scores[valid].tolist()
    order = sorted(range(len(pairs)), key=lambda k: -values[k])
    used_a: set[int] = set()
    used_b: set[int] = set()
    matches: list[tuple[int, int, float]] = []
    limit = min(scores.shape) if scores.numel() else 0
    for k in order:
        i, j = pairs[k]
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        matches.append((i, j, values[k]))
        if len(matches) == limit:
            break
    return matches


@dataclass
class _Assembly:
    """A person being assembled: per part the index of its peak (-1: none), total score, part count."""

    parts: list[int]
    score: float
    count: int


def _tree_limbs(limbs: Sequence[tuple[int, int]]) -> list[bool]:
    """Per limb, whether it may start a person: not a redundant limb between two parts already reached."""
    reached: set[int] = set()
    starts = []
    for a, b in limbs:
        starts.append(not (a in reached and b in reached))
        reached.update((a, b))
    return starts


def _add_part(person: _Assembly, part: int, index: int, gain: float) -> None:
    if person.parts[part] < 0:
        person.parts[part] = index
        person.count += 1
        person.score += gain


def _join(
    people: list[_Assembly],
    limb: tuple[int, int],
    match: tuple[int, int, float],
    peaks: list[torch.Tensor],
    may_start: bool,
) -> None:
    """Add one matched limb to the people being assembled (the reference's subset update)."""
    a, b = limb
    i, j, limb_score = match
    owners = [person for person in people if person.parts[a] == i or person.parts[b] == j][:2]
    peak_b = float(peaks[b][j, 2])
    if len(owners) == 2:
        first, second = owners
        if not any(p >= 0 and q >= 0 for p, q in zip(first.parts, second.parts)):
            first.parts = [max(p, q) for p, q in zip(first.parts, second.parts)]
            first.count += second.count
            first.score += second.score + limb_score
            people.remove(second)
            return
    if owners:
        _add_part(owners[0], b, j, peak_b + limb_score)
    elif may_start:
        parts = [-1] * len(peaks)
        parts[a], parts[b] = i, j
        people.append(_Assembly(parts, float(peaks[a][i, 2]) + peak_b + limb_score, 2))


def _to_person(assembly: _Assembly, peaks: list[torch.Tensor], stride: int) -> Person:
    keypoints = torch.zeros(len(peaks), 3)
    part_scores = torch.zeros(len(peaks))
    for part, index in enumerate(assembly.parts):
        if index >= 0:
            x, y, score = peaks[part][index].tolist()
            keypoints[part] = torch.tensor([x, y, 2.0])
            part_scores[part] = score
    found = keypoints[:, 2:] > 0
    keypoints = torch.where(found, to_input_pixels(keypoints, stride), keypoints)
    return Person(keypoints, part_scores, assembly.score)


def group_people(
    maps: torch.Tensor,
    pafs: torch.Tensor,
    skeleton: Skeleton = OPENPOSE_COCO,
    *,
    threshold: float = 0.1,
    smooth_sigma: float | None = None,
    samples: int = 10,
    paf_threshold: float = 0.05,
    min_fraction: float = 0.8,
    min_parts: int = 4,
    min_mean_score: float = 0.4,
    stride: int = 1,
) -> list[Person]:
    """The people in one image's confidence maps and PAFs (Cao et al. Sec. 2.3-2.4).

    Args:
        maps: ``(P, h, w)`` or ``(P + 1, h, w)`` confidence maps (a background map last is ignored).
        pafs: ``(2L, h, w)`` in ``skeleton.paf_channels`` order (limb order where it has none).
        skeleton: parts, limbs and PAF channels; OpenPose's COCO body model by default.
        threshold: the least peak of a part (the reference's 0.1).
        smooth_sigma: Gaussian smoothing of the maps before peak finding (map pixels).
        samples, paf_threshold, min_fraction: the limb scoring of :func:`limb_scores`.
        min_parts: the fewest parts a person may have (the reference's 4).
        min_mean_score: the least total score per part (the reference's 0.4).
        stride: the maps' stride: keypoints are returned in input pixels of that stride.

    Returns:
        the people found, highest score first.
    """
    parts, limbs = skeleton.num_joints, len(skeleton.limbs)
    if maps.dim() != 3 or maps.shape[0] not in (parts, parts + 1):
        raise ConvzooError(f"confidence maps must have shape ({parts} or {parts + 1}, h, w); got {tuple(maps.shape)}")
    if pafs.shape != (2 * limbs, *maps.shape[1:]):
        raise ConvzooError(f"PAFs must have shape {(2 * limbs, *maps.shape[1:])}; got {tuple(pafs.shape)}")
    peaks = find_peaks(maps[:parts], threshold, smooth_sigma)
    channels = skeleton.paf_channels or [(2 * limb, 2 * limb + 1) for limb in range(limbs)]
    people: list[_Assembly] = []
    for limb, (x_channel, y_channel), may_start in zip(skeleton.limbs, channels, _tree_limbs(skeleton.limbs)):
        a, b = limb
        scores, valid = limb_scores(
            pafs[x_channel], pafs[y_channel], peaks[a], peaks[b], samples, paf_threshold, min_fraction
        )
        for match in match_limbs(scores, valid):
            _join(people, limb, match, peaks, may_start)
    kept = [person for person in people if person.count >= min_parts and person.score / person.count >= min_mean_score]
    kept.sort(key=lambda person: -person.score)
    return [_to_person(person, peaks, stride) for person in kept]
