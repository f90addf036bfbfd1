"""ResNeSt: ResNets whose bottlenecks use split-attention convs.

Paper: ResNeSt: Split-Attention Networks (Hang Zhang, Chongruo Wu, Zhongyue Zhang, Yi Zhu,
Haibin Lin, Zhi Zhang, Yue Sun, Tong He, Jonas Mueller, R. Manmatha, Mu Li, Alexander
Smola, arXiv 2020) https://arxiv.org/abs/2004.08955

ResNeSt keeps the ResNet layout (a stem, four stages of bottlenecks at 64, 128, 256, 512
channels, average pooling, a linear layer) and changes what happens inside it:

- the 3x3 conv of every bottleneck becomes a split-attention conv
  (:mod:`convzoo.blocks.split_attention`): ``R`` splits of each of ``K`` cardinal groups,
  weighted per channel by an r-softmax over the splits' global context. The ImageNet
  models use radix 2, cardinality 1 and width 64 ("2s1x64d");
- the "ResNet-D" tweaks of Bag of Tricks (He et al., CVPR 2019), Sec. 4.1 of the paper:
  a deep stem of three 3x3 convs (32, 32, 64 channels for ResNeSt-50; 64, 64, 128 for
  ResNeSt-101) in place of the 7x7 conv, and shortcuts that downsample with a 2x2 average
  pool before their 1x1 conv ("avg_down"), so no input position is skipped;
- a strided block downsamples with a 3x3 average pool after its split-attention conv
  ("avd"), which then runs at stride 1.

Stage layout (Table 1 style; the widths are the bottlenecks', a block outputs four times
as many channels)::

    stem       3x3/2 conv, 3x3 conv, 3x3 conv, 3x3/2 max-pool   224 -> 56
    layer1     ResNeSt bottlenecks at  64, stride 1             56
    layer2     ResNeSt bottlenecks at 128, stride 2 (avd)       28
    layer3     ResNeSt bottlenecks at 256, stride 2 (avd)       14
    layer4     ResNeSt bottlenecks at 512, stride 2 (avd)        7
    head       global average pool, linear

Deviations:
    None in the architecture. Names and keys follow timm (``resnest50d``, ``resnest101e``),
    whose checkpoints load unmapped. The training recipe (label smoothing, mixup,
    AutoAugment, DropBlock, dropout 0.2 before the classifier) is not part of the model;
    ``resnest101e`` was trained at 256x256.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

from torch import nn

from convzoo.blocks.attention import get_attn
from convzoo.blocks.split_attention import ResNeStBottleneck
from convzoo.models.resnet import STAGE_STRIDES, STAGE_WIDTHS, ResNetLayout
from convzoo.registry import Paper, register_model

__all__ = ["ResNeSt", "resnest50d", "resnest101e"]

LayerFactory = Callable[..., nn.Module]

PAPER = Paper(
    title="ResNeSt: Split-Attention Networks",
    authors=(
        "Hang Zhang, Chongruo Wu, Zhongyue Zhang, Yi Zhu, Haibin Lin, Zhi Zhang, Yue Sun, Tong He, "
        "Jonas Mueller, R. Manmatha, Mu Li, Alexander Smola"
    ),
    venue="arXiv",
    year=2020,
    url="https://arxiv.org/abs/2004.08955",
)

DEVIATIONS = "None in the architecture; timm's layout and keys (deep stem, avg_down shortcuts, avd after the split attention)."

class ResNeSt(ResNetLayout):
    """A ResNet-D with split-attention bottlenecks: deep stem, four stages, average pool, linear layer.

    Args:
        layers: number of blocks in each of the four stages.
        num_classes: outputs of the last layer; 0 for none (the pooled features).
        in_chans: channels of the input image.
        stem_width: channels of the stem's first two convs; the third has twice as many.
        groups: cardinal groups K of the split-attention convs.
        width_per_group: channels per cardinal group per 64 bottleneck channels.
        radix: splits R of the split-attention convs.
        avd: stride blocks with a 3x3 average pool rather than a strided conv.
        avd_first: put that pool before the split-attention conv rather than after it.
        zero_init_residual: zero the last norm of every block, so each starts as identity.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
        attn_layer: an attention module on every block's residual branch before the
            addition, by name (:func:`~convzoo.blocks.attention.get_attn`) or factory;
            ``None`` (the paper's ResNeSt) for none. timm's ResNeSt refuses this option.

    Shape:
        - Input: ``(B, in_chans, H, W)``, any ``H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv and pool pads (the shortcut pools round up), so even a 1x1 input leaves a 1x1 map.
    min_input_size = 1

    def __init__(
        self,
        layers: Sequence[int],
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        stem_width: int = 32,
        groups: int = 1,
        width_per_group: int = 64,
        radix: int = 2,
        avd: bool = True,
        avd_first: bool = False,
        zero_init_residual: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        attn_layer: LayerFactory | str | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of 4 stages, got {tuple(layers)}")
        self.in_chans = in_chans
        self.num_classes = num_classes

        # Deep stem: three 3x3 convs replace the 7x7 (ResNet-C); the last one's norm and act are bn1, act1.
        stem_out = 2 * stem_width
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem_width, kernel_size=3, stride=2, padding=1, bias=False),
            norm_layer(stem_width),
            act_layer(),
            nn.Conv2d(stem_width, stem_width, kernel_size=3, padding=1, bias=False),
            norm_layer(stem_width),
            act_layer(),
            nn.Conv2d(stem_width, stem_out, kernel_size=3, padding=1, bias=False),
        )
        self.bn1 = norm_layer(stem_out)
        self.act1 = act_layer()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.feature_info = [dict(num_chs=stem_out, reduction=2, module="act1")]

        block_options = dict(
            groups=groups, base_width=width_per_group, radix=radix, avd=avd, avd_first=avd_first,
            act_layer=act_layer, attn_layer=get_attn(attn_layer) if isinstance(attn_layer, str) else attn_layer,
        )
        in_channels, reduction = stem_out, 4
        for index, (num_blocks, width, stride) in enumerate(zip(layers, STAGE_WIDTHS, STAGE_STRIDES)):
            reduction *= stride
            out_channels = width * ResNeStBottleneck.expansion
            stage = _make_stage(in_channels, out_channels, num_blocks, stride, norm_layer, **block_options)
            self.add_module(f"layer{index + 1}", stage)
            self.feature_info.append(dict(num_chs=out_channels, reduction=reduction, module=f"layer{index + 1}"))
            in_channels = out_channels

        self._add_head(in_channels, num_classes, zero_init_residual)


def avg_down_shortcut(in_channels: int, out_channels: int, stride: int, norm_layer: LayerFactory) -> nn.Sequential:
    """A projection shortcut that averages 2x2 windows, then applies a 1x1 conv and a norm (ResNet-D).

    A strided 1x1 conv would drop three quarters of the positions; the pool keeps them all.
    The pool rounds up and ignores padding, as in timm, so odd sizes give the blocks' size.
    """
    pool = (
        nn.AvgPool2d(kernel_size=2, stride=stride, ceil_mode=True, count_include_pad=False)
        if stride > 1 else nn.Identity()
    )
    return nn.Sequential(
        pool, nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False), norm_layer(out_channels)
    )


def _make_stage(
    in_channels: int, out_channels: int, num_blocks: int, stride: int, norm_layer: LayerFactory, **block_options: Any
) -> nn.Sequential:
    """A first block that may stride and project its shortcut, then ``num_blocks - 1`` identity blocks."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = avg_down_shortcut(in_channels, out_channels, stride, norm_layer)
    blocks = [ResNeStBottleneck(in_channels, out_channels, stride, downsample, norm_layer=norm_layer, **block_options)]
    for _ in range(num_blocks - 1):
        blocks.append(ResNeStBottleneck(out_channels, out_channels, norm_layer=norm_layer, **block_options))
    return nn.Sequential(*blocks)


@register_model(
    family="resnest", paper=PAPER, timm="resnest50d", deviations=DEVIATIONS,
    notes={"config": "2s1x64d (radix 2, cardinality 1, width 64)", "imagenet_top1_224": "81.13% (paper abstract)"},
)
def resnest50d(**kwargs: Any) -> ResNeSt:
    """ResNeSt-50: (3, 4, 6, 3) split-attention bottlenecks, deep stem 32-32-64, 27.5M parameters."""
    return ResNeSt((3, 4, 6, 3), stem_width=32, **kwargs)


@register_model(
    family="resnest", paper=PAPER, input_size=(3, 256, 256), timm="resnest101e", deviations=DEVIATIONS,
    notes={"config": "2s1x64d (radix 2, cardinality 1, width 64)", "imagenet_top1_256": "82.83% (paper)"},
)
def resnest101e(**kwargs: Any) -> ResNeSt:
    """ResNeSt-101: (3, 4, 23, 3) split-attention bottlenecks, deep stem 64-64-128, 48.3M parameters."""
    return ResNeSt((3, 4, 23, 3), stem_width=64, **kwargs)
