"""The inverted residual block with a linear bottleneck: MobileNetV2's block, MnasNet's and EfficientNet's MBConv.

Paper: MobileNetV2: Inverted Residuals and Linear Bottlenecks (Mark Sandler, Andrew Howard,
Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen, CVPR 2018) https://arxiv.org/abs/1801.04381

ResNet's bottleneck is wide - narrow - wide, with the shortcut joining the wide ends. The
inverted residual turns it inside out (Table 1 of the paper): narrow - wide - narrow.

- a 1x1 conv *expands* the ``k`` input channels ``t`` times (ReLU6); skipped when ``t = 1``;
- a ``d x d`` depthwise conv filters each of the ``t k`` channels on its own, and carries the
  block's stride (ReLU6); it costs only ``h w t k d^2`` multiply-adds, against
  ``h w t k k'`` for a 1x1 conv, so filtering in the expanded space is cheap;
- a 1x1 conv *projects* back to ``k'`` channels, with **no activation** (the linear
  bottleneck, Sec. 3.2): a ReLU in a low-dimensional space destroys information that a
  wide space could afford to lose, so the narrow tensors stay linear;
- the shortcut joins the narrow ends when the block keeps the resolution and the width.

Memory at inference is dominated by the narrow tensors that flow between blocks, which
is what makes the design mobile-friendly (Sec. 5).

The same block serves the descendants, with options:

- ``kernel_size`` 3 or 5 (MnasNet, EfficientNet), ``act_layer`` (ReLU6, ReLU, SiLU);
- ``attn_layer``: an attention module on the expanded width after the depthwise conv,
  squeeze-and-excitation in MnasNet-A1 and EfficientNet (:mod:`convzoo.blocks.squeeze_excite`);
- ``dw_conv_layer``: builds the depthwise conv, e.g. MixNet's mixed-kernel conv;
  ``expand_conv_layer`` and ``project_conv_layer``: build the 1x1 convs (MixNet groups
  each on its own);
- ``drop_path_rate``: stochastic depth on the residual branch (EfficientNet,
  :mod:`convzoo.ops.stochastic_depth`).

The state-dict keys follow the reference each network's checkpoints come from; the
three torchvision families group the same layers differently (``key_layout``):

================  ================  ===============================================
layout            branch attribute  entries of the branch (``t > 1``)
================  ================  ===============================================
``efficientnet``  ``block``         0 expand, 1 depthwise, 2 attention, 3 project
``mobilenet_v2``  ``conv``          0 expand, 1 depthwise, 2 project conv, 3 its norm
``mnasnet``       ``layers``        every conv, norm and activation one by one
================  ================  ===============================================

where expand and depthwise are conv - norm - activation units keyed ``0``, ``1``, ``2``
(as :class:`convzoo.ops.ConvNormAct`). The layouts are the same network: only the names of
the parameters differ. timm names the layers of all three alike (``conv_pw``, ``bn1``,
``conv_dw``, ...; :data:`TIMM_NAMES`); :meth:`InvertedResidual.timm_key_map` and
:func:`remap_timm_state_dict` translate them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Mapping

import torch
from torch import nn

from convzoo.ops.conv_norm_act import same_padding
from convzoo.ops.stochastic_depth import StochasticDepth

__all__ = [
    "InvertedResidual", "KeyLayout", "KEY_LAYOUTS", "TIMM_NAMES",
    "depthwise_conv", "make_divisible", "pointwise_conv", "remap_timm_state_dict",
]

LayerFactory = Callable[..., nn.Module]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, never more than 10% below ``value``.

    The rule of the MobileNet reference code, which torchvision and timm share: widths that
    are multiples of 8 use the hardware well, and rounding must not shrink a layer much.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def depthwise_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    """A bias-free ``k x k`` depthwise conv (one filter per channel) with "same" padding."""
    return nn.Conv2d(
        in_channels, out_channels, kernel_size, stride=stride, padding=same_padding(kernel_size),
        groups=in_channels, bias=False,
    )


def pointwise_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A bias-free 1x1 conv: the expansion and the linear projection."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)


def _unit(conv: nn.Module, norm: nn.Module, act: nn.Module | None) -> nn.Sequential:
    """Conv, norm and (optional) activation keyed ``0``, ``1``, ``2``, like :class:`ConvNormAct`."""
    return nn.Sequential(conv, norm, *([act] if act is not None else []))


@dataclass(frozen=True)
class KeyLayout:
    """How a reference names the layers of the block's branch.

    Attributes:
        branch: name of the ``nn.Sequential`` that holds the branch.
        flat_units: units (``"expand"``, ``"depthwise"``, ``"project"``) whose conv, norm
            and activation are separate entries of the branch rather than one nested unit.
    """

    branch: str
    flat_units: frozenset[str] = frozenset()


KEY_LAYOUTS: dict[str, KeyLayout] = {
    "efficientnet": KeyLayout("block"),
    "mobilenet_v2": KeyLayout("conv", frozenset({"project"})),
    "mnasnet": KeyLayout("layers", frozenset({"expand", "depthwise", "project"})),
}


# timm's names for the layers of its InvertedResidual (with an expansion, ``True``) and of
# its DepthwiseSeparableConv (``t = 1``, ``False``): name -> (unit, part), where part 0 is
# the conv, 1 the norm, and a string a submodule of the attention.
TIMM_NAMES: dict[bool, dict[str, tuple[str, int | str]]] = {
    True: {
        "conv_pw": ("expand", 0), "bn1": ("expand", 1),
        "conv_dw": ("depthwise", 0), "bn2": ("depthwise", 1),
        "se.conv_reduce": ("attention", "fc1"), "se.conv_expand": ("attention", "fc2"),
        "conv_pwl": ("project", 0), "bn3": ("project", 1),
    },
    False: {
        "conv_dw": ("depthwise", 0), "bn1": ("depthwise", 1),
        "se.conv_reduce": ("attention", "fc1"), "se.conv_expand": ("attention", "fc2"),
        "conv_pw": ("project", 0), "bn2": ("project", 1),
    },
}


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise conv, optional attention, linear 1x1 projection, and a shortcut.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side of the depthwise kernel.
        stride: stride of the depthwise conv.
        expand_ratio: the expansion factor ``t``; ``1`` leaves out the expansion conv.
        expanded_channels: width of the depthwise stage; ``round(in_channels * expand_ratio)``
            when ``None``.
        norm_layer: builds a norm from a channel count.
        act_layer: builds the activation of the expansion and depthwise units from no arguments.
        dw_conv_layer: builds the depthwise conv as ``dw_conv_layer(channels, channels,
            kernel_size, stride)``.
        expand_conv_layer: builds the expansion conv as ``expand_conv_layer(in_channels, out_channels)``.
        project_conv_layer: builds the projection conv, likewise.
        attn_layer: builds an attention module from the expanded width, applied after the
            depthwise unit; ``None`` for none.
        drop_path_rate: probability of dropping the residual branch per sample in training
            (stochastic depth); only blocks with a shortcut use it.
        key_layout: ``"efficientnet"``, ``"mobilenet_v2"`` or ``"mnasnet"``, see :data:`KEY_LAYOUTS`.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')``, ``H' = ceil(H / stride)`` for odd kernels
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        expand_ratio: float = 6,
        *,
        expanded_channels: int | None = None,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU6, inplace=True),
        dw_conv_layer: LayerFactory = depthwise_conv,
        expand_conv_layer: LayerFactory = pointwise_conv,
        project_conv_layer: LayerFactory = pointwise_conv,
        attn_layer: LayerFactory | None = None,
        drop_path_rate: float = 0.0,
        key_layout: str = "efficientnet",
    ) -> None:
        super().__init__()
        if key_layout not in KEY_LAYOUTS:
            raise ValueError(f"unknown key_layout {key_layout!r}; expected one of {', '.join(KEY_LAYOUTS)}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        layout = KEY_LAYOUTS[key_layout]
        mid = round(in_channels * expand_ratio) if expanded_channels is None else expanded_channels
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.use_residual = stride == 1 and in_channels == out_channels

        units: list[tuple[str, nn.Module]] = []
        if mid != in_channels or expand_ratio != 1:
            units.append(("expand", _unit(expand_conv_layer(in_channels, mid), norm_layer(mid), act_layer())))
        units.append(("depthwise", _unit(dw_conv_layer(mid, mid, kernel_size, stride), norm_layer(mid), act_layer())))
        if attn_layer is not None:
            units.append(("attention", attn_layer(mid)))
        units.append(("project", _unit(project_conv_layer(mid, out_channels), norm_layer(out_channels), None)))  # linear

        entries: list[nn.Module] = []
        self._positions: dict[str, int] = {}  # unit -> index of its first entry in the branch
        for name, unit in units:
            self._positions[name] = len(entries)
            entries.extend(unit if name in layout.flat_units else [unit])
        self._branch, self._layout = layout.branch, layout
        self.add_module(layout.branch, nn.Sequential(*entries))
        if self.use_residual and drop_path_rate > 0:
            self.stochastic_depth = StochasticDepth(drop_path_rate, "row")
        else:
            self.stochastic_depth = None

    def unit_key(self, unit: str, part: int | str) -> str:
        """Our name of a layer of the branch: ``part`` 0 (conv) or 1 (norm) of ``unit``, or a submodule of the attention."""
        position = self._positions[unit]
        if unit in self._layout.flat_units:
            return f"{self._branch}.{position + int(part)}"
        return f"{self._branch}.{position}.{part}"

    def timm_key_map(self) -> dict[str, str]:
        """timm's names of this block's layers (``conv_pw``, ``bn1``, ``se.conv_reduce``, ...) -> ours."""
        names = TIMM_NAMES["expand" in self._positions]
        return {timm: self.unit_key(unit, part) for timm, (unit, part) in names.items() if unit in self._positions}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = getattr(self, self._branch)(x)  # (B, out_channels, H', W')
        if not self.use_residual:
            return out
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out)
        return out + x


def remap_timm_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    renames: Mapping[str, str],
    blocks: Mapping[str, tuple[str, InvertedResidual]],
) -> dict[str, torch.Tensor]:
    """Translate the keys of a timm MobileNet-family checkpoint (MobileNetV2, MnasNet, EfficientNet).

    Args:
        state_dict: timm's state dict.
        renames: timm module name -> ours, for the layers outside the blocks
            (``conv_stem``, ``bn1``, ``conv_head``, ``bn2``, ``classifier``, ...).
        blocks: timm block name (``blocks.<stage>.<index>``) -> (our module path, our block);
            the layers inside are renamed by :meth:`InvertedResidual.timm_key_map`.

    A layer is renamed by its longest named prefix, so the groups of a mixed conv
    (``conv_dw.1.weight``) follow their layer. Keys that match nothing pass unchanged.
    """
    maps = {timm: (path, block.timm_key_map()) for timm, (path, block) in blocks.items()}
    remapped = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        block, local = ".".join(parts[:3]), parts[3:]
        if block in maps and _rename(local, maps[block][1]) is not None:
            path, local_map = maps[block]
            key = f"{path}.{_rename(local, local_map)}"
        else:
            key = _rename(parts, renames) or key
        remapped[key] = value
    return remapped


def _rename(parts: list[str], names: Mapping[str, str]) -> str | None:
    """``parts`` joined, with its longest prefix found in ``names`` renamed; ``None`` if no prefix is."""
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in names:
            return ".".join([names[prefix], *parts[end:]])
    return None
