"""Spherical kernel convolution on point clouds: a conv whose kernel is a grid of bins in a ball.

Paper: Spherical Kernel for Efficient Graph Convolution on 3D Point Clouds
(Huan Lei, Naveed Akhtar, Ajmal Mian, IEEE TPAMI 2020; arXiv 2019) https://arxiv.org/abs/1909.09287

A point cloud has no pixel grid, so a ``k x k`` kernel has nothing to index. SPH3D-GCN
builds the grid around each point instead. Take the neighbours of point ``x_i`` within a
ball of radius ``rho`` and look at the offset ``d = x_j - x_i`` of each in spherical
coordinates: azimuth ``theta in [0, 2 pi)``, elevation (polar angle from ``+z``)
``phi in [0, pi]`` and radius ``r = |d| in (0, rho]``. Splitting each uniformly into
``n``, ``p`` and ``q`` parts divides the ball into ``n p q`` bins, and the point itself
gets one bin of its own (``r = 0``), ``S = n p q + 1`` bins in all (the defaults
8 x 2 x 3 are, to my knowledge, the paper's). Each bin plays the part of a kernel tap: it owns
a weight, and a neighbour is multiplied by the weight of the bin it falls in.

This module's conv, for output channel ``o`` of point ``i``:

    y_i = b + sum_s W_s^T  mean_{j in N(i), bin(j) = s} f_j,      W_s in R^{C_in x C_out}

neighbours are gathered (``torch.cdist`` then ``topk`` of the ``max_neighbours`` nearest,
those beyond ``rho`` masked out), averaged per bin (a scatter-add; empty bins give zero),
and all bins are contracted with their weights in one einsum. Nothing depends on the order
of the points: permuting the input permutes the output the same way. The point positions
enter only through the (piecewise-constant) bin assignment, so there is no gradient with
respect to them, as in the paper.

Cost, for ``N`` points: ``params = S C_in C_out (+ C_out)`` and ``MACs = N S C_in C_out``
(the einsum). The neighbour search (``N^2`` distances), the gather and the per-bin sums
are additions and data movement, not MACs.

Features are ``(B, C, N)`` (``nn.Conv1d``'s layout), so the 2-D ``channels_last`` memory
format does not apply. :mod:`torch.fx` traces the conv and the classifier, with
:func:`ball_query` kept as a leaf call (its ``min`` with the cloud size needs a
concrete shape).

Deviations:
    * The paper's spherical conv is depthwise separable: each neighbour is scaled
      channel-wise by its bin's weight vector, the results averaged over *all* neighbours,
      then a pointwise layer mixes channels. This is the simpler dense version (a full
      ``C_in x C_out`` matrix per bin, neighbours averaged within each bin), the
      direct analogue of a dense ``k x k`` conv with the bins as taps.
    * Neighbourhoods are the ``max_neighbours`` nearest points inside the ball (the
      paper's range search caps the count the same way; which points it keeps when more
      fall inside is not stated there). The paper builds its graph on a down-sampled
      cloud for pooling layers; this op keeps every point (stride 1).
    * Elevation and radius are split uniformly; I am not certain that the paper's radial
      split is uniform.
"""

from __future__ import annotations

import math

import torch
import torch.fx
from torch import nn

__all__ = ["SphericalConv", "SphericalPointClassifier", "ball_query", "spherical_bins"]


def ball_query(xyz: torch.Tensor, max_neighbours: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The nearest ``min(max_neighbours, N)`` points of every point (itself first) and their distances.

    A conv keeps those within its radius; convs with the same ``max_neighbours`` over the
    same points can share one search (pass it as ``neighbours``).

    Args:
        xyz: ``(B, N, 3)`` positions.
        max_neighbours: neighbours kept per point, nearest first (the point itself included).

    Returns:
        ``index`` ``(B, N, K)`` int64 into the points of the same cloud, and ``distance``
        ``(B, N, K)``, ascending.
    """
    xyz = xyz.detach()
    distance = torch.cdist(xyz, xyz, compute_mode="donot_use_mm_for_euclid_dist")  # (B, N, N), exact: self is 0
    k = min(max_neighbours, xyz.shape[1])
    distance, index = distance.topk(k, dim=-1, largest=False, sorted=True)  # (B, N, K)
    return index, distance


torch.fx.wrap("ball_query")  # a leaf for torch.fx: its min() over the cloud size needs a concrete shape


def spherical_bins(
    offsets: torch.Tensor, radius: float, num_azimuth: int, num_elevation: int, num_radial: int
) -> torch.Tensor:
    """The spherical-kernel bin of each offset: ``0`` for the centre, else ``1 + (r_bin p + e_bin) n + a_bin``.

    Args:
        offsets: ``(..., 3)`` neighbour minus centre.
        radius: ball radius ``rho``; offsets at or beyond it fall in the outermost shell.
        num_azimuth: ``n`` equal sectors of the azimuth ``atan2(y, x)`` over ``[0, 2 pi)``.
        num_elevation: ``p`` equal parts of the polar angle ``acos(z / r)`` over ``[0, pi]``
            (part 0 around ``+z``).
        num_radial: ``q`` equal shells of ``r`` over ``[0, radius]``.

    Returns:
        ``(...)`` int64 bins in ``[0, n p q]``.
    """
    x, y, z = offsets.unbind(-1)
    r = offsets.norm(dim=-1)
    azimuth = torch.remainder(torch.atan2(y, x), 2 * math.pi)  # [0, 2 pi)
    elevation = torch.acos((z / r.clamp_min(1e-30)).clamp(-1.0, 1.0))  # [0, pi]
    a = (azimuth * (num_azimuth / (2 * math.pi))).floor().long().clamp(0, num_azimuth - 1)
    e = (elevation * (num_elevation / math.pi)).floor().long().clamp(0, num_elevation - 1)
    q = (r * (num_radial / radius)).floor().long().clamp(0, num_radial - 1)
    bins = 1 + (q * num_elevation + e) * num_azimuth + a
    return torch.where(r > 0, bins, torch.zeros_like(bins))  # the centre's own bin


class SphericalConv(nn.Module):
    """Dense spherical-kernel conv: neighbours averaged per (azimuth, elevation, radius) bin, a matrix per bin.

    Args:
        in_channels: feature channels of the input points.
        out_channels: feature channels of the output points.
        radius: radius of the neighbourhood ball, in the units of the positions.
        num_azimuth: azimuth sectors ``n``.
        num_elevation: elevation parts ``p``.
        num_radial: radial shells ``q``; the kernel has ``n p q + 1`` bins (the last one
            is the centre point's own).
        max_neighbours: nearest points gathered per point (including itself) before the
            radius mask.
        bias: whether to add a bias.

    Shape:
        - xyz: ``(B, N, 3)`` positions
        - features: ``(B, in_channels, N)``
        - neighbours (optional): ``(index, distance)``, each ``(B, N, K)``, from :func:`ball_query`
        - Output: ``(B, out_channels, N)``, point ``i`` of the output belongs to point ``i`` of the input
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        radius: float,
        num_azimuth: int = 8,
        num_elevation: int = 2,
        num_radial: int = 3,
        max_neighbours: int = 32,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        if min(num_azimuth, num_elevation, num_radial, max_neighbours) < 1:
            raise ValueError("num_azimuth, num_elevation, num_radial and max_neighbours must be positive")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.radius, self.max_neighbours = float(radius), max_neighbours
        self.num_azimuth, self.num_elevation, self.num_radial = num_azimuth, num_elevation, num_radial
        self.num_bins = num_azimuth * num_elevation * num_radial + 1
        bound = 1 / math.sqrt(self.num_bins * in_channels)  # nn.Linear's init, fan-in = all taps
        self.weight = nn.Parameter(torch.empty(self.num_bins, in_channels, out_channels).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound)) if bias else None

    def forward(
        self, xyz: torch.Tensor, features: torch.Tensor, neighbours: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Convolve ``features`` at ``xyz``; ``neighbours`` is a precomputed :func:`ball_query` (else searched here)."""
        if neighbours is None:
            neighbours = ball_query(xyz, self.max_neighbours)
        index, distance = neighbours  # (B, N, K) each
        valid = distance <= self.radius
        neighbours = xyz.gather(1, index.flatten(1).unsqueeze(-1).expand(-1, -1, 3)).view(index.shape + (3,))
        bins = spherical_bins(neighbours - xyz.unsqueeze(2), self.radius,  # (B, N, K)
                              self.num_azimuth, self.num_elevation, self.num_radial)
        bins = bins.masked_fill(~valid, self.num_bins)  # outside the ball: a spare bin, dropped below
        points = features.transpose(1, 2)  # (B, N, C_in)
        gathered = points.gather(1, index.flatten(1).unsqueeze(-1).expand(-1, -1, points.shape[-1]))
        gathered = gathered.view(index.shape + gathered.shape[-1:])  # (B, N, K, C_in)
        sums = gathered.new_zeros(index.shape[:2] + (self.num_bins + 1,) + gathered.shape[-1:])
        sums = sums.scatter_add(2, bins.unsqueeze(-1).expand_as(gathered), gathered)  # (B, N, S + 1, C_in)
        counts = torch.zeros_like(sums[..., 0]).scatter_add(2, bins, torch.ones_like(bins, dtype=sums.dtype))
        counts = counts.clamp_min(1)  # (B, N, S + 1) neighbours per bin
        means = (sums / counts.unsqueeze(-1))[:, :, : self.num_bins]  # (B, N, S, C_in): mean per bin, 0 if empty
        out = torch.einsum("bnsc,sco->bon", means, self.weight)  # (B, C_out, N): sum over bins of W_s^T mean_s
        if self.bias is not None:
            out = out + self.bias.unsqueeze(-1)
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, radius={self.radius}, bins={self.num_azimuth}x"
            f"{self.num_elevation}x{self.num_radial}+1, max_neighbours={self.max_neighbours}, "
            f"bias={self.bias is not None}"
        )


class SphericalPointClassifier(nn.Module):
    """A tiny point-cloud classifier: two spherical convs, a max-pool over points, a linear layer.

    The cloud is first centred and scaled into the unit ball; the first conv's input
    feature is each point's distance from the centroid, which a rotation leaves unchanged
    (the kernels' bins are not rotation invariant, so the orientation is left to the
    training data). The default kernels are 4 x 2 x 2 (+1) bins, smaller than the paper's
    8 x 2 x 3: with a few hundred clouds they generalise better.

    Args:
        num_classes: number of classes.
        channels: output channels of the two spherical convs.
        radii: ball radius of each conv, in units of the normalised cloud.
        max_neighbours: neighbours per point in each conv.
        num_azimuth: azimuth sectors of both kernels.
        num_elevation: elevation parts of both kernels.
        num_radial: radial shells of both kernels.

    Shape:
        - Input: ``(B, N, 3)`` positions
        - Output: ``(B, num_classes)`` logits
    """

    def __init__(
        self,
        num_classes: int = 5,
        channels: tuple[int, int] = (16, 32),
        radii: tuple[float, float] = (0.3, 0.6),
        max_neighbours: int = 16,
        num_azimuth: int = 4,
        num_elevation: int = 2,
        num_radial: int = 2,
    ) -> None:
        super().__init__()
        self.max_neighbours = max_neighbours
        bins = dict(num_azimuth=num_azimuth, num_elevation=num_elevation, num_radial=num_radial,
                    max_neighbours=max_neighbours, bias=False)
        self.conv1 = SphericalConv(1, channels[0], radii[0], **bins)
        self.bn1 = nn.BatchNorm1d(channels[0])
        self.conv2 = SphericalConv(channels[0], channels[1], radii[1], **bins)
        self.bn2 = nn.BatchNorm1d(channels[1])
        self.act = nn.ReLU()
        self.fc = nn.Linear(channels[1], num_classes)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        xyz = xyz - xyz.mean(dim=1, keepdim=True)
        xyz = xyz / xyz.norm(dim=-1).amax(dim=1).clamp_min(1e-12)[:, None, None]  # (B, N, 3) in the unit ball
        neighbours = ball_query(xyz, self.max_neighbours)  # one search for both convs
        x = self.act(self.bn1(self.conv1(xyz, xyz.norm(dim=-1).unsqueeze(1), neighbours)))  # (B, C1, N) from (B, 1, N)
        x = self.act(self.bn2(self.conv2(xyz, x, neighbours)))  # (B, C2, N)
        return self.fc(x.amax(dim=-1))  # (B, num_classes): max over points, order-free
