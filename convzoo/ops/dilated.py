"""Dilated (atrous) convolution: a kernel with holes, and the receptive field it buys.

Paper: Multi-Scale Context Aggregation by Dilated Convolutions (Fisher Yu, Vladlen Koltun,
ICLR 2016) https://arxiv.org/abs/1511.07122

A dilated convolution with dilation ``d`` reads its ``k`` taps ``d`` pixels apart
(Eq. 2 of the paper, along one axis):

    y[i] = sum_a w[a] x[i + d a],    a = 0 .. k - 1

It is therefore the ordinary convolution with a *zero-inserted* kernel: put ``d - 1``
zeros between neighbouring taps (:func:`dilate_kernel`), which gives a kernel of side

    k_eff = d (k - 1) + 1                                    (:func:`dilated_kernel_size`)

that costs nothing extra: the ``k^2`` multiplications per output stay ``k^2``, and the
zeros are never multiplied. The output size is the usual formula with ``k_eff`` in place
of ``k``, so ``padding = d (k - 1) / 2`` keeps the size at stride 1.

Stacked at stride 1, each layer adds ``d_l (k_l - 1)`` to the receptive field:

    r = 1 + sum_l d_l (k_l - 1)                              (:func:`dilated_receptive_field`)

With 3x3 kernels and dilations doubling, ``1, 2, 4, ..., 2^i``, the field after layer
``i + 1`` is ``2^(i+2) - 1`` on a side: it grows exponentially while the parameters grow
linearly, without pooling away resolution (the paper's Sec. 2; 1, 2, 4 give 15).
:class:`ContextModule` is the paper's basic context module built on that idea (Table 1):
seven 3x3 convs with dilations 1, 1, 2, 4, 8, 16, 1 (receptive fields 3, 5, 9, 17, 33,
65, 67), each followed by a ReLU, and a final 1x1 conv, all ``C`` channels wide and
initialised to the identity, so that the untrained module passes its (rectified) input
through.

A stack whose dilations share a factor sees only a sparse grid of its field (dilations
2, 2, 2 never touch an odd offset): the "gridding" artefact that Wang et al.'s hybrid
dilated convolution (WACV 2018, https://arxiv.org/abs/1702.08502) avoids by choosing
dilations such as 1, 2, 5 (or 1, 2, 4) with no common factor.

Deviations: the paper's context module runs on the class-score maps of a front end
(``C`` = number of classes) and is trained after it; here it is a standalone module of
any width. Every layer is padded by ``d (k - 1) / 2`` so that the output keeps the input's
size. Biases start at zero with the identity weights.
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

import torch
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["ContextModule", "dilate_kernel", "dilated_kernel_size", "dilated_receptive_field"]

IntPair = Union[int, tuple[int, int]]


def dilated_kernel_size(kernel_size: int, dilation: int) -> int:
    """Side of the zero-inserted kernel a dilated conv equals: ``d (k - 1) + 1``."""
    if kernel_size < 1 or dilation < 1:
        raise ValueError(f"kernel_size and dilation must be positive, got {kernel_size} and {dilation}")
    return dilation * (kernel_size - 1) + 1


def dilate_kernel(weight: torch.Tensor, dilation: IntPair) -> torch.Tensor:
    """Insert ``d - 1`` zeros between the taps of a ``(..., kh, kw)`` kernel.

    ``F.conv2d(x, dilate_kernel(w, d))`` equals ``F.conv2d(x, w, dilation=d)`` (same stride
    and padding). Differentiable in ``weight``.

    Args:
        weight: a kernel ``(..., kh, kw)``, e.g. a conv weight ``(N, C / groups, kh, kw)``.
        dilation: ``d`` or ``(dh, dw)``.

    Returns:
        ``(..., dh (kh - 1) + 1, dw (kw - 1) + 1)``, the taps at multiples of the dilation, zeros between.
    """
    dh, dw = _pair(dilation)
    kh, kw = weight.shape[-2:]
    dilated = weight.new_zeros(*weight.shape[:-2], dilated_kernel_size(kh, dh), dilated_kernel_size(kw, dw))
    dilated[..., ::dh, ::dw] = weight  # tap (a, b) lands at (dh a, dw b)
    return dilated


def dilated_receptive_field(kernel_sizes: int | Sequence[int], dilations: Sequence[int]) -> int:
    """Receptive field of a stack of stride-1 dilated convs: ``1 + sum_l d_l (k_l - 1)``.

    Args:
        kernel_sizes: one kernel size for every layer, or one per layer.
        dilations: the dilation of each layer, in order.
    """
    kernels = [kernel_sizes] * len(dilations) if isinstance(kernel_sizes, int) else list(kernel_sizes)
    if len(kernels) != len(dilations):
        raise ValueError(f"got {len(kernels)} kernel sizes for {len(dilations)} dilations")
    return 1 + sum(dilated_kernel_size(k, d) - 1 for k, d in zip(kernels, dilations))


def _identity_(conv: nn.Conv2d) -> None:
    """Yu and Koltun's identity initialisation: ``w[n, c, a, b] = 1[n = c] 1[a, b at the centre]``."""
    nn.init.zeros_(conv.weight)
    centre_h, centre_w = conv.kernel_size[0] // 2, conv.kernel_size[1] // 2
    with torch.no_grad():
        conv.weight[:, :, centre_h, centre_w].copy_(torch.eye(conv.out_channels, conv.in_channels))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ContextModule(nn.Sequential):
    """Yu and Koltun's basic context module: 3x3 convs with growing dilations, ReLUs, a final 1x1 conv.

    Children ``0, 2, 4, ...`` are the dilated convs and ``1, 3, 5, ...`` their activations;
    the last child is the 1x1 conv. Weights: ``L (k^2 C^2 + C) + C^2 + C`` for ``L``
    dilated layers (with biases); mult-adds ``(L k^2 + 1) C^2 H W``, whatever the dilations.

    Args:
        channels: width of every layer (``C``).
        dilations: dilation of each ``kernel_size`` conv; the paper's (Table 1) by default.
        kernel_size: side of the dilated kernels (odd).
        act_layer: builds the activation after each dilated conv (the paper's truncation ``max(., 0)``).
        identity_init: initialise every conv to the identity (the paper's); else PyTorch's default.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``
    """

    def __init__(
        self,
        channels: int,
        dilations: Sequence[int] = (1, 1, 2, 4, 8, 16, 1),
        kernel_size: int = 3,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        identity_init: bool = True,
    ) -> None:
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the size, got {kernel_size}")
        layers: list[nn.Module] = []
        for d in dilations:
            layers += [nn.Conv2d(channels, channels, kernel_size, padding=d * (kernel_size - 1) // 2, dilation=d),
                       act_layer()]
        layers.append(nn.Conv2d(channels, channels, 1))
        super().__init__(*layers)
        self.channels, self.dilations, self.kernel_size = channels, tuple(dilations), kernel_size
        if identity_init:
            for module in self:
                if isinstance(module, nn.Conv2d):
                    _identity_(module)

    @property
    def receptive_field(self) -> int:
        """``1 + sum_l d_l (k - 1)``: 67 for the paper's dilations."""
        return dilated_receptive_field(self.kernel_size, self.dilations)
