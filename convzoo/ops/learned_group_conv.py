"""Learned group convolution: let training choose which inputs each group of filters sees.

Paper: CondenseNet: An Efficient DenseNet using Learned Group Convolutions
(Gao Huang, Shichen Liu, Laurens van der Maaten, Kilian Q. Weinberger, CVPR 2018)
https://arxiv.org/abs/1711.09224

A grouped conv fixes in advance that group ``g`` of the filters reads input block ``g``.
In a DenseNet layer the input is a concatenation of all earlier feature maps, and no
fixed split fits it. CondenseNet instead starts from a dense conv whose ``O`` filters are
split into ``G`` groups and learns, for each group, which ``I / C`` of the ``I`` inputs to
keep (``C`` is the *condensation factor*). Training runs in stages (paper Sec. 3):

1. *Condensing stages* (``C - 1`` of them). During each, a group-lasso term pushes all
   filters of a group to give up the same input columns together:

       L_lasso = sum_g sum_j sqrt( sum_{o in g} W_{o,j}^2 )              (the paper's group lasso)

   (:meth:`LearnedGroupConv2d.group_lasso`). At the end of a stage the importance of
   input ``j`` to group ``g`` is the L1 norm of its column, ``sum_{o in g} |W_{o,j}|``,
   and every group drops its ``I / C`` least important remaining inputs: a binary mask
   on the weight zeroes them for good (:meth:`~LearnedGroupConv2d.condense_step`). After
   ``C - 1`` stages each group keeps exactly ``I / C`` inputs.
2. *Optimisation stage*: training goes on with the final mask (no more pruning, and the
   reference drops the lasso term).

At test time the mask is exploited: each group's kept inputs are gathered by an
index-select (groups may pick the same input, so the gathered tensor has ``G I / C``
channels), a standard ``nn.Conv2d(groups=G)`` convolves them, and the outputs are put
back in their original order (:meth:`~LearnedGroupConv2d.to_grouped`,
:class:`CondensedConv2d`). The result equals the masked conv exactly and costs

    params = O * (I / C) * k^2 (+ O bias),   MACs = H' W' O (I / C) k^2,

``1/C`` of the dense conv; the index-select and the permutation move data only.

Where the channel shuffle sits. As in the reference implementation, output channel ``o``
belongs to group ``o mod G`` (groups are interleaved, not contiguous). The converted
grouped conv computes the groups contiguously, so it is followed by
:func:`~convzoo.ops.channel_shuffle.channel_shuffle` with ``G`` groups, which interleaves
them back. This is the channel shuffle CondenseNet puts after the learned 1x1 group conv
at test time, between it and the layer's 3x3 group conv (BN-ReLU-LGC 1x1-*shuffle*-BN-ReLU-
GConv 3x3): it makes every group of the 3x3 conv receive outputs from every learned group.
Training with interleaved groups and converting with a shuffle are the same network.

Deviations:
    * The reference ``LearnedGroupConv`` also holds the pre-activation BN-ReLU (and a
      dropout) in front of the conv; here the module is the conv alone, so the pre-activation
      is the caller's. The reference condenses only 1x1 convs; any ``kernel_size`` works
      here, the mask and the importance covering all kernel taps of a column.
    * The reference advances stages from the epoch counter inside ``forward``; here the
      training loop calls :meth:`~LearnedGroupConv2d.condense_step` (the paper's schedule:
      one step after each of the first ``C - 1`` equal shares of the first half of
      training). Ties in importance are broken by the lower input index (stable sort).
    * :meth:`~LearnedGroupConv2d.group_lasso` clamps each squared column norm at ``1e-12``
      before the square root (the reference at ``1e-6``): small live columns keep their
      exact norm, and a pruned (zero) column still gets a zero, not infinite, gradient.

Both modules trace with :mod:`torch.fx` and accept ``channels_last`` inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.ops.channel_shuffle import ChannelShuffle

__all__ = ["CondensedConv2d", "LearnedGroupConv2d", "group_lasso"]


def group_lasso(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``sum_g sum_j ||W_{g,j}||_2`` for a conv weight ``(O, I, k, k)`` whose output ``o`` is in group ``o % groups``.

    ``W_{g,j}`` is the column of input ``j`` in group ``g``: the weights of all the group's
    filters (and kernel taps) on that input. Each squared norm is clamped at ``1e-12``, so a
    zero column contributes ``1e-6`` and no gradient.
    """
    squares = weight.square().unflatten(0, (-1, groups)).transpose(0, 1)  # (G, O/G, I, k, k)
    return squares.sum(dim=(1, 3, 4)).clamp(min=1e-12).sqrt().sum()


class LearnedGroupConv2d(nn.Module):
    """A conv whose ``G`` interleaved filter groups learn, by pruning in stages, which ``I / C`` inputs they read.

    The forward pass is the dense conv with the weight multiplied by the binary ``mask``
    buffer (shape ``(O, I, 1, 1)``); the stage counter is the ``stage`` buffer, so both
    survive a checkpoint. Output channel ``o`` belongs to group ``o % groups``.

    Args:
        in_channels: channels of the input (``I``), divisible by ``condense_factor``.
        out_channels: channels of the output (``O``), divisible by ``groups``.
        kernel_size: side of the kernel (CondenseNet uses 1).
        stride: stride of the conv.
        padding: padding of the conv; ``None`` for "same" (``dilation * (kernel_size - 1) // 2``).
        dilation: dilation of the conv.
        groups: number of filter groups ``G``.
        condense_factor: ``C``; each group keeps ``in_channels / C`` inputs after ``C - 1``
            calls of :meth:`condense_step`. ``None`` for ``C = G`` (CondenseNet's choice).
        bias: whether the conv has a bias.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')`` with ``H' = floor((H + 2p - d(k - 1) - 1) / s) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        groups: int = 4,
        condense_factor: int | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        condense_factor = groups if condense_factor is None else condense_factor
        if groups < 1 or condense_factor < 1:
            raise ValueError(f"groups and condense_factor must be positive, got {groups} and {condense_factor}")
        if out_channels % groups:
            raise ValueError(f"out_channels ({out_channels}) must be divisible by groups ({groups})")
        if in_channels % condense_factor:
            raise ValueError(f"in_channels ({in_channels}) must be divisible by condense_factor ({condense_factor})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
        self.padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        self.groups, self.condense_factor = groups, condense_factor
        # Same initialisation as nn.Conv2d (Kaiming-uniform with a = sqrt(5)).
        reference = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)
        self.weight = nn.Parameter(reference.weight.detach().clone())  # (O, I, k, k)
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None
        self.register_buffer("mask", torch.ones(out_channels, in_channels, 1, 1))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))

    @property
    def num_stages(self) -> int:
        """Condensing stages: ``C - 1``."""
        return self.condense_factor - 1

    @property
    def kept_inputs(self) -> int:
        """Inputs each group reads at the current stage: ``I - stage * I / C``."""
        return self.in_channels - int(self.stage) * (self.in_channels // self.condense_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.mask  # pruned columns are zero (and get no gradient)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation)  # (B, O, H', W')

    def _by_group(self, values: torch.Tensor) -> torch.Tensor:
        """``(O, I, ...) -> (G, O/G, I, ...)``: output channel ``o = j * G + g`` goes to ``[g, j]``."""
        return values.unflatten(0, (-1, self.groups)).transpose(0, 1)

    def group_importance(self) -> torch.Tensor:
        """``(G, I)``: L1 norm of each input's column within each group, ``sum_{o in g, taps} |W_{o,j}|``."""
        masked = (self.weight * self.mask).abs()
        return self._by_group(masked).sum(dim=(1, 3, 4))

    def group_lasso(self) -> torch.Tensor:
        """The group-lasso regulariser: the sum over groups and inputs of the L2 norm of the column."""
        return group_lasso(self.weight * self.mask, self.groups)

    def group_mask(self) -> torch.Tensor:
        """``(G, I)`` booleans: the inputs each group still reads."""
        return self._by_group(self.mask[..., 0, 0]).any(dim=1)

    @torch.no_grad()
    def condense_step(self) -> None:
        """End a condensing stage: every group drops its ``I / C`` least important remaining inputs."""
        if int(self.stage) >= self.num_stages:
            raise RuntimeError(f"all {self.num_stages} condensing stages are done; each group keeps {self.kept_inputs}")
        importance = self.group_importance().masked_fill(~self.group_mask(), float("inf"))  # pruned inputs last
        order = importance.sort(dim=1, stable=True).indices  # (G, I), least important first
        drop = order[:, : self.in_channels // self.condense_factor]  # (G, I/C)
        keep = torch.ones(self.groups, self.in_channels, dtype=torch.bool, device=self.mask.device)
        keep.scatter_(1, drop, False)
        # (G, I) -> (O, I): row o takes its group's mask, o = j * G + g.
        rows = keep.repeat(self.out_channels // self.groups, 1)
        self.mask.mul_(rows[..., None, None].to(self.mask.dtype))
        self.stage.add_(1)

    @torch.no_grad()
    def to_grouped(self) -> "CondensedConv2d":
        """A standard grouped conv with an input index and an output shuffle, equal to this masked conv."""
        rows = self._by_group(self.mask[..., 0, 0] != 0)  # (G, O/G, I)
        kept = rows.any(dim=1)  # (G, I)
        counts = kept.sum(dim=1)
        if not torch.equal(kept, rows.all(dim=1)) or not bool((counts == counts[0]).all()):
            raise ValueError("the mask must keep the same inputs for every filter of a group, as many in each group")
        per_group = int(counts[0])
        index = kept.nonzero()[:, 1].view(self.groups, per_group)  # (G, I_kept), ascending within each group
        weight = self._by_group(self.weight)  # (G, O/G, I, k, k)
        gather = index[:, None, :, None, None].expand(-1, weight.shape[1], -1, *weight.shape[3:])
        weight = weight.gather(2, gather).flatten(0, 1)  # (O, I_kept, k, k), groups contiguous
        conv = nn.Conv2d(
            self.groups * per_group, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.dilation, groups=self.groups, bias=self.bias is not None,
        ).to(self.weight)
        conv.weight.copy_(weight)
        if self.bias is not None:
            conv.bias.copy_(self._by_group(self.bias).flatten())
        return CondensedConv2d(index.flatten(), conv)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, groups={self.groups}, condense_factor={self.condense_factor}, "
            f"bias={self.bias is not None}"
        )


class CondensedConv2d(nn.Module):
    """The test-time form of a learned group conv: index-select, grouped conv, channel shuffle.

    Built by :meth:`LearnedGroupConv2d.to_grouped`.

    Args:
        index: ``(G * I_kept,)`` input channels to gather, group by group (buffer ``index``).
        conv: the grouped conv over the gathered channels, ``groups = G``; its output
            groups are contiguous.

    Shape:
        - Input: ``(B, I, H, W)``
        - Output: ``(B, conv.out_channels, H', W')``, channel ``o`` from group ``o % G``
    """

    def __init__(self, index: torch.Tensor, conv: nn.Conv2d) -> None:
        super().__init__()
        if index.numel() != conv.in_channels:
            raise ValueError(f"index selects {index.numel()} channels, the conv takes {conv.in_channels}")
        self.register_buffer("index", index.to(torch.long))
        self.conv = conv
        self.shuffle = ChannelShuffle(conv.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.index_select(1, self.index)  # (B, G * I_kept, H, W): each group's inputs, side by side
        x = self.conv(x)  # (B, O, H', W'), group g in channels g*O/G .. (g+1)*O/G - 1
        return self.shuffle(x)  # (B, O, H', W'), group g in channels g, g + G, ...
