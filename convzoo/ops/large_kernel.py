"""Large-kernel depthwise conv (SLaK): a 51x51 kernel as two 51x5 strips and a 5x5, merged after training.

Paper: More ConvNets in the 2020s: Scaling up Kernels Beyond 51x51 using Sparsity
(Shiwei Liu, Tianlong Chen, Xiaohan Chen, Xuxi Chen, Qiao Xiao, Boqian Wu, Tommi Kärkkäinen,
Mykola Pechenizkiy, Decebal Constantin Mocanu, Zhangyang Wang, ICLR 2023)
https://arxiv.org/abs/2207.03620

RepLKNet (Ding et al., CVPR 2022, https://arxiv.org/abs/2203.06717) showed that a
depthwise conv with a very large kernel (31x31) trains well if a small kernel (5x5) runs
in parallel with it during training and is merged into it afterwards. Beyond that size
the dense kernel stops paying off. SLaK decomposes the ``k x k`` kernel (``k = 51``) into
two parallel rectangular ones, ``k x s`` and ``s x k`` (``s = 5``), keeping RepLKNet's
small ``s' x s'`` branch, each branch a depthwise conv followed by batch norm:

    y = BN_1(W_{k x s} * x) + BN_2(W_{s x k} * x) + BN_3(W_{s' x s'} * x)

Every branch is centred on the same point and keeps the map size, so the sum is linear in
``x`` and is itself one depthwise conv once the norms are frozen (eval mode):
:meth:`LargeKernelConv2d.reparameterize` folds each BN into its conv
(``w' = w gamma / sqrt(var + eps)``, ``b' = beta - mean gamma / sqrt(var + eps)``),
zero-pads every kernel to ``k x k`` around its centre, and adds the kernels and the
biases into one dense ``k x k`` depthwise conv with a bias, with the same outputs.

Cost per channel and output pixel (depthwise, ``groups = in_channels``): the branches
take ``2 k s + s'^2`` weights and MACs, the merged kernel ``k^2``: 535 against 2601 at
``k = 51, s = s' = 5``. So the decomposed form is the *cheaper* one at large ``k``; merging
gives one kernel to inspect, and one conv where a dense depthwise kernel runs faster
(RepLKNet's argument). With ``groups`` smaller than ``in_channels`` every count is
multiplied by ``in_channels / groups``.

Deviations:
    * SLaK's sparsity is not implemented: it trains the decomposed kernels sparse (dynamic
      sparse training, pruning and regrowing weights) and widens the network 1.3x; here
      every weight is dense.
    * The small branch may be left out (``small_kernel_size=None``); the strip width and
      the small kernel are separate arguments (SLaK uses 5 for both).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LargeKernelConv2d", "large_kernel_taps"]


def large_kernel_taps(kernel_size: int, strip_width: int = 5, small_kernel_size: int | None = 5) -> int:
    """Weights per (output, input-in-group) channel pair of the decomposed kernel: ``2 k s + s'^2``.

    The dense kernel it stands for has ``k^2``; both are also the MACs per output pixel
    and channel pair.

    >>> large_kernel_taps(51), 51 * 51
    (535, 2601)
    """
    return 2 * kernel_size * strip_width + (small_kernel_size or 0) ** 2


def _conv_bn(channels_in: int, channels_out: int, kernel: tuple[int, int], stride: int, groups: int) -> nn.Sequential:
    conv = nn.Conv2d(channels_in, channels_out, kernel, stride, (kernel[0] // 2, kernel[1] // 2), groups=groups,
                     bias=False)
    return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(channels_out)))


def _fold(branch: nn.Sequential, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The branch's BN folded into its kernel, which is zero-padded to ``kernel_size`` around its centre."""
    conv, bn = branch.conv, branch.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # gamma / sqrt(var + eps)
    weight = conv.weight * scale.view(-1, 1, 1, 1)
    pad_h, pad_w = (kernel_size - conv.kernel_size[0]) // 2, (kernel_size - conv.kernel_size[1]) // 2
    return F.pad(weight, (pad_w, pad_w, pad_h, pad_h)), bn.bias - bn.running_mean * scale


class LargeKernelConv2d(nn.Module):
    """A ``k x k`` (depthwise) conv as parallel ``k x s``, ``s x k`` and ``s' x s'`` conv+BN branches, summed.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output; ``None`` for ``in_channels``.
        kernel_size: ``k``, odd: the side of the kernel the branches make up.
        stride: stride of every branch.
        groups: groups of every branch; ``None`` for ``in_channels`` (depthwise, as in SLaK).
        strip_width: ``s``, odd: the short side of the two rectangular kernels.
        small_kernel_size: ``s'``, odd: side of the small square branch; ``None`` for none.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')`` with ``H' = floor((H - 1) / stride) + 1``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        kernel_size: int = 51,
        stride: int = 1,
        groups: int | None = None,
        strip_width: int = 5,
        small_kernel_size: int | None = 5,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        groups = in_channels if groups is None else groups
        for name, size in (("kernel_size", kernel_size), ("strip_width", strip_width),
                           ("small_kernel_size", small_kernel_size or 1)):
            if size % 2 == 0:
                raise ValueError(f"{name} must be odd so that every branch shares the kernel's centre, got {size}")
        if strip_width > kernel_size or (small_kernel_size or 0) > kernel_size:
            raise ValueError(f"strip_width {strip_width} and small_kernel_size {small_kernel_size} must not exceed "
                             f"kernel_size {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.groups = stride, groups
        self.strip_width, self.small_kernel_size = strip_width, small_kernel_size
        self.tall = _conv_bn(in_channels, out_channels, (kernel_size, strip_width), stride, groups)  # k x s
        self.wide = _conv_bn(in_channels, out_channels, (strip_width, kernel_size), stride, groups)  # s x k
        self.small = (
            _conv_bn(in_channels, out_channels, (small_kernel_size, small_kernel_size), stride, groups)
            if small_kernel_size else None
        )
        self.reparam: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reparam is not None:
            return self.reparam(x)  # (B, C_out, H', W'): one dense k x k conv
        out = self.tall(x) + self.wide(x)  # (B, C_out, H', W')
        if self.small is not None:
            out = out + self.small(x)
        return out

    @torch.no_grad()
    def merged_kernel(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The dense ``(C_out, C_in / groups, k, k)`` kernel and ``(C_out,)`` bias the branches add up to (eval-mode BN)."""
        if self.reparam is not None:
            return self.reparam.weight.detach().clone(), self.reparam.bias.detach().clone()
        branches = [b for b in (self.tall, self.wide, self.small) if b is not None]
        folded = [_fold(branch, self.kernel_size) for branch in branches]
        return sum(w for w, _ in folded), sum(b for _, b in folded)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one ``k x k`` conv with a bias that gives the same outputs in eval mode."""
        if self.reparam is not None:
            return
        weight, bias = self.merged_kernel()
        k = self.kernel_size
        conv = nn.Conv2d(self.in_channels, self.out_channels, k, self.stride, k // 2, groups=self.groups, bias=True)
        conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        self.reparam = conv
        self.tall = self.wide = self.small = None  # the branches' parameters and statistics leave the state dict

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, strip_width={self.strip_width}, "
                f"small_kernel_size={self.small_kernel_size}, stride={self.stride}, groups={self.groups}, "
                f"reparameterized={self.reparam is not None}")
