"""Selective kernel: let each channel choose its receptive field from the input.

Paper: Selective Kernel Networks (Xiang Li, Wenhai Wang, Xiaolin Hu, Jian Yang, CVPR 2019)
https://arxiv.org/abs/1903.06586

The neurons of the visual cortex adapt the size of their receptive field to the stimulus;
a conv layer has one fixed kernel size. A selective kernel (SK) conv runs several kernels
side by side and mixes their outputs with weights computed from the input itself, per
channel, in three steps (Sec. 3.1, Fig. 1):

- split: ``M`` branches convolve the input with different kernels, each a grouped conv, a
  norm and a ReLU. The paper's two branches are a 3x3 conv and a 5x5 one, the 5x5 done as
  a 3x3 conv with dilation 2, which sees the same 5x5 window at the cost of a 3x3;
- fuse: the branches' outputs are summed, ``U = U_1 + U_2`` (Eq. 1), global-average
  pooled to ``s`` (Eq. 2), and squeezed by a fully connected layer with a norm and a ReLU
  to ``z = delta(B(W s))`` of ``d = max(C / r, L)`` channels (Eqs. 3, 4), a reduction
  ``r`` with a floor ``L`` (32 in the paper) so narrow layers keep a useful width;
- select: a second fully connected layer gives ``M`` logits per channel, a softmax across
  the branches turns them into weights ``a_c + b_c = 1`` (Eq. 5), and the output mixes the
  branches channel by channel, ``V_c = a_c U_1c + b_c U_2c`` (Eq. 6).

With one branch the softmax is 1 and an SK conv is its branch: a conv, a norm and a ReLU.

:class:`SelectiveKernelBasic` and :class:`SelectiveKernelBottleneck` are ResNet's blocks
with the SK conv in place of a 3x3 conv, with the constructor of
:class:`convzoo.blocks.residual.BasicBlock`/``Bottleneck`` so :class:`convzoo.models.resnet.ResNet`
stacks them. The fully connected layers are 1x1 convs on the pooled ``(B, C, 1, 1)`` map.
The submodules carry timm's names (``paths``, ``attn.fc_reduce``, ``attn.bn``,
``attn.fc_select``); the conv-norm-act units are :class:`ConvNormAct`, keyed ``0``/``1``
where timm has ``conv``/``bn`` (see :func:`convzoo.models.sknet.SKResNet.remap_state_dict`).

Deviations:
    - ``split_input`` (timm's option, on in the basic block): each branch convolves its own
      ``1 / M`` of the input channels rather than all of them, which keeps the parameters
      of the ungrouped convs of SK-ResNet-18/34 down. The paper's SKNets split nothing.
    - The basic block's defaults (``r = 8``, ``L = 16``, split input) are those of timm's
      ``skresnet18``/``skresnet34``; the paper has only bottleneck SKNets.
    - The fully connected layers have no bias (a norm follows the first; the paper does
      not say for the second), as in timm.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

import torch
from torch import nn

from convzoo.blocks.residual import _check_shortcut
from convzoo.ops.conv_norm_act import ConvNormAct

__all__ = ["SelectiveKernel", "SelectiveKernelAttention", "SelectiveKernelBasic", "SelectiveKernelBottleneck"]

LayerFactory = Callable[..., nn.Module]


class SelectiveKernelAttention(nn.Module):
    """Fuse and select (Eqs. 1-5): per-channel softmax weights of the branches from their sum.

    Args:
        channels: channels ``C`` of each branch.
        num_branches: number of branches ``M``.
        attn_channels: width ``d`` of the squeezed descriptor ``z``.
        norm_layer: builds the norm after the first fully connected layer.
        act_layer: builds the activation after that norm.

    Shape:
        - Input: ``(B, M, C, H, W)``, the branches' outputs stacked
        - Output: ``(B, M, C, 1, 1)``, weights summing to 1 over ``M``
    """

    def __init__(
        self,
        channels: int,
        num_branches: int = 2,
        attn_channels: int = 32,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        self.num_branches = num_branches
        self.fc_reduce = nn.Conv2d(channels, attn_channels, kernel_size=1, bias=False)
        self.bn = norm_layer(attn_channels)
        self.act = act_layer()
        self.fc_select = nn.Conv2d(attn_channels, channels * num_branches, kernel_size=1, bias=False)

    def forward(self, branches: torch.Tensor) -> torch.Tensor:
        s = branches.sum(1).mean((2, 3), keepdim=True)  # Eqs. (1), (2): (B, C, 1, 1)
        z = self.act(self.bn(self.fc_reduce(s)))  # Eq. (3): (B, d, 1, 1)
        logits = self.fc_select(z).unflatten(1, (self.num_branches, -1))  # (B, M, C, 1, 1)
        return logits.softmax(dim=1)  # Eq. (5)


class SelectiveKernel(nn.Module):
    """Split, fuse, select: branches with different kernels mixed per channel by attention.

    Args:
        in_channels: channels of the input.
        out_channels: channels of each branch and of the output.
        kernel_sizes: the window of each branch; each is a 3x3 conv dilated to span it
            (5 -> dilation 2), so the sizes must be odd and at least 3.
        stride: stride of every branch.
        dilation: dilation of the module, multiplying each branch's own.
        groups: groups of every branch's conv.
        reduction: ``r`` of Eq. (4).
        min_attn_channels: the floor ``L`` of Eq. (4).
        split_input: give each branch its own ``1 / M`` of the input channels (timm's option).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int] = (3, 5),
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        reduction: int = 16,
        min_attn_channels: int = 32,
        split_input: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if not kernel_sizes or any(k < 3 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd sizes >= 3, got {tuple(kernel_sizes)}")
        self.num_branches = len(kernel_sizes)
        self.split_input = split_input
        branch_in = in_channels
        if split_input:
            if in_channels % self.num_branches:
                raise ValueError(f"in_channels={in_channels} does not split into {self.num_branches} branches")
            branch_in = in_channels // self.num_branches
        self.branch_in_channels = branch_in
        # A k x k window as a 3x3 kernel with dilation (k - 1) / 2.
        self.paths = nn.ModuleList(
            ConvNormAct(
                branch_in, out_channels, kernel_size=3, stride=stride, dilation=dilation * (k - 1) // 2,
                groups=groups, norm_layer=norm_layer, act_layer=act_layer,
            )
            for k in kernel_sizes
        )
        attn_channels = max(out_channels // reduction, min_attn_channels)  # Eq. (4)
        self.attn = SelectiveKernelAttention(out_channels, self.num_branches, attn_channels, norm_layer, act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split_input:
            inputs = torch.split(x, self.branch_in_channels, dim=1)
            branches = [path(inputs[m]) for m, path in enumerate(self.paths)]  # indexed: fx cannot iterate a split
        else:
            branches = [path(x) for path in self.paths]
        u = torch.stack(branches, dim=1)  # split: (B, M, C, H', W')
        weights = self.attn(u)  # fuse and select: (B, M, C, 1, 1)
        return (u * weights).sum(dim=1)  # Eq. (6): (B, C, H', W')


class SelectiveKernelBasic(nn.Module):
    """ResNet's basic block with an SK conv as its first 3x3 conv (timm's SK-ResNet-18/34).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output (``expansion`` is 1).
        stride: stride of the SK conv.
        downsample: the shortcut's projection; ``None`` for identity.
        groups: must be 1 (as in ResNet's basic block).
        base_width: must be 64.
        dilation: dilation of both convs.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module applied before the addition; ``None`` for none.
        reduction, min_attn_channels, split_input: of the :class:`SelectiveKernel`.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | None = None,
        reduction: int = 8,
        min_attn_channels: int = 16,
        split_input: bool = True,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"the basic SK block takes groups=1, base_width=64, got {groups}, {base_width}")
        _check_shortcut(in_channels, out_channels, stride, downsample)
        self.conv1 = SelectiveKernel(
            in_channels, out_channels, stride=stride, dilation=dilation, reduction=reduction,
            min_attn_channels=min_attn_channels, split_input=split_input, norm_layer=norm_layer, act_layer=act_layer,
        )
        self.conv2 = ConvNormAct(out_channels, out_channels, 3, dilation=dilation, norm_layer=norm_layer, act_layer=None)
        self.se = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.act = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale, so the block starts as an identity."""
        if getattr(self.conv2[1], "weight", None) is not None:
            nn.init.zeros_(self.conv2[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)  # (B, out_channels, H', W')
        out = self.se(self.conv2(out))
        out += self.downsample(x)
        return self.act(out)


class SelectiveKernelBottleneck(nn.Module):
    """ResNe(X)t's bottleneck with an SK conv as its 3x3 conv: the block of SKNet-50 (paper Table 1).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output, ``expansion`` (4) times the bottleneck's width
            in a plain ResNet.
        stride: stride of the SK conv.
        downsample: the shortcut's projection; ``None`` for identity.
        groups: groups of the SK conv's branches (ResNeXt's cardinality, 32 in SKNet-50).
        base_width: channels per group per 64 bottleneck channels (4 in SKNet-50).
        dilation: dilation of the SK conv.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: builds an attention module applied before the addition; ``None`` for none.
        reduction, min_attn_channels, split_input: of the :class:`SelectiveKernel`; the
            defaults are the paper's (``r = 16``, ``L = 32``, no split).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)``
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | None = None,
        reduction: int = 16,
        min_attn_channels: int = 32,
        split_input: bool = False,
    ) -> None:
        super().__init__()
        if out_channels % self.expansion:
            raise ValueError(f"out_channels={out_channels} is not a multiple of {self.expansion}")
        _check_shortcut(in_channels, out_channels, stride, downsample)
        width = int(out_channels // self.expansion * (base_width / 64)) * groups
        self.conv1 = ConvNormAct(in_channels, width, 1, norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = SelectiveKernel(
            width, width, stride=stride, dilation=dilation, groups=groups, reduction=reduction,
            min_attn_channels=min_attn_channels, split_input=split_input, norm_layer=norm_layer, act_layer=act_layer,
        )
        self.conv3 = ConvNormAct(width, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        self.se = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.act = act_layer()

    def zero_init_last(self) -> None:
        """Zero the last norm's scale, so the block starts as an identity."""
        if getattr(self.conv3[1], "weight", None) is not None:
            nn.init.zeros_(self.conv3[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)  # (B, width, H, W)
        out = self.conv2(out)  # (B, width, H', W')
        out = self.se(self.conv3(out))  # (B, out_channels, H', W')
        out += self.downsample(x)
        return self.act(out)
