"""Video networks: 3D convolutions over clips (C3D, R3D-18, MC3-18, R(2+1)D-18).

Papers:
    Learning Spatiotemporal Features with 3D Convolutional Networks (Du Tran, Lubomir
    Bourdev, Rob Fergus, Lorenzo Torresani, Manohar Paluri, ICCV 2015) https://arxiv.org/abs/1412.0767
    A Closer Look at Spatiotemporal Convolutions for Action Recognition (Du Tran, Heng Wang,
    Lorenzo Torresani, Jamie Ray, Yann LeCun, Manohar Paluri, CVPR 2018) https://arxiv.org/abs/1711.11248

A clip is a ``(C, T, H, W)`` volume: ``T`` frames of ``H x W`` pixels. A 2D convolution
over a frame sees no motion; stacking the frames as channels lets only the *first* layer
see time. A 3D convolution slides its ``t x k x k`` kernel over time too, so every layer
keeps (and builds on) the temporal order (see :mod:`convzoo.ops.conv3d`).

**C3D** (2015) is VGG in 3D: eight 3x3x3 convs, five max-pools and two 4096-unit fully
connected layers. Its first pool is 1x2x2, so that time is not merged too early (Sec. 3.2
found 3x3x3 kernels in every layer best). The paper's "C3D feature" is the fc6 activation,
averaged over the clips of a video and L2-normalised, used with a linear SVM (UCF101 82.3%).

**R3D, MC3, R(2+1)D** (2018) put those convolutions in ResNet-18 (Table 1 of the 2018 paper):

- R3D: every conv 3x3x3;
- MC3 ("mixed convolutions"): 3D convs in the stem and ``layer1``, then 2D (1x3x3) convs,
  since motion is modelled early;
- R(2+1)D: every 3x3x3 conv factorised into a 1x3x3 spatial conv to ``M`` channels, batch
  norm, ReLU and a 3x1x1 temporal conv (:class:`convzoo.ops.Conv2Plus1d`), with ``M`` chosen
  so the pair has about the 3D conv's parameters (Sec. 3.5); twice the nonlinearities and,
  the paper finds, easier optimisation.

Deviations:
    - R3D-18, MC3-18 and R(2+1)D-18 follow torchvision's ``VideoResNet`` (keys, strides and
      initialisation), so its state dicts load with identical outputs: strided stages halve
      time too (R3D, R(2+1)D; the 2018 paper's Table 1 does so from conv3_x as well), and in
      R(2+1)D both convs of a block use the ``M`` of the block's first conv (``N_in -> N_out``),
      and the stem is a 1x7x7 conv to 45 channels then a 3x1x1 conv to 64.
    - C3D: pool5 pads height and width by 1, as the released Caffe model, so 16x112x112 clips
      give 512x1x4x4 = 8192 fc6 inputs. The paper reports no initialisation; convs use He
      initialisation and linear layers N(0, 0.01), as the ResNets. Only 16x112x112 clips
      (``fixed_input_size``), since fc6 needs 8192 inputs.
    - C3D's descriptor: ``forward_head(x, pre_logits=True)`` is the interface's pre-logit
      vector, fc7's output; the paper's fc6 descriptor is :meth:`C3D.forward_descriptor`.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Sequence

import torch
import torch.fx
from torch import nn

from convzoo.errors import InputShapeError
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv3d import Conv2Plus1d, conv2plus1d_mid_channels
from convzoo.registry import Paper, register_model

__all__ = ["C3D", "VideoResNet", "c3d", "check_clip_input", "mc3_18", "r2plus1d_18", "r3d_18"]

LayerFactory = Callable[..., nn.Module]
# Builds one conv of a block: (in_channels, out_channels, stride, mid_channels) -> module.
ConvBuilder = Callable[[int, int, int, int], nn.Module]

C3D_PAPER = Paper(
    title="Learning Spatiotemporal Features with 3D Convolutional Networks",
    authors="Du Tran, Lubomir Bourdev, Rob Fergus, Lorenzo Torresani, Manohar Paluri",
    venue="ICCV",
    year=2015,
    url="https://arxiv.org/abs/1412.0767",
)

R21D_PAPER = Paper(
    title="A Closer Look at Spatiotemporal Convolutions for Action Recognition",
    authors="Du Tran, Heng Wang, Lorenzo Torresani, Jamie Ray, Yann LeCun, Manohar Paluri",
    venue="CVPR",
    year=2018,
    url="https://arxiv.org/abs/1711.11248",
)

RESNET_DEVIATIONS = (
    "torchvision's VideoResNet layout, keys and initialisation: strided stages halve time too "
    "(not in MC3's 2D stages); R(2+1)D uses the block's first mid-channel count in both convs and a "
    "1x7x7 (45 channels) + 3x1x1 stem."
)
C3D_DEVIATIONS = (
    "pool5 pads height and width by 1 (released model) so 16x112x112 gives 8192 fc6 inputs; He/N(0, 0.01) "
    "initialisation; fixed 16x112x112 input; pre_logits gives fc7, forward_descriptor the paper's fc6."
)

CLIP_LENGTH = 16  # frames per clip in both papers
KINETICS_CLASSES = 400
PROBE_FRAMES = 4  # frames of the small clips that input_shape gives for a quick run


def check_clip_input(
    x: torch.Tensor, in_chans: int, min_size: int, fixed_size: tuple[int, int, int] | None, model: str
) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is a ``(B, in_chans, T, H, W)`` clip the model can take."""
    if x.dim() != 5 or x.shape[1] != in_chans:
        size = ", ".join(map(str, fixed_size)) if fixed_size else "T, H, W"
        raise InputShapeError(f"{model} expects input of shape (B, {in_chans}, {size}), got {tuple(x.shape)}")
    clip = tuple(x.shape[2:])
    if fixed_size is not None and clip != fixed_size:
        expected = "x".join(map(str, fixed_size))
        raise InputShapeError(
            f"{model} takes only {expected} clips (T x H x W), got {'x'.join(map(str, clip))}; "
            f"resize the input to (B, {in_chans}, {', '.join(map(str, fixed_size))})"
        )
    if min(clip) < min_size:
        raise InputShapeError(f"{model} needs clips of at least {min_size} frames and pixels, got {clip}")


# Keep the check a single node when the model is traced with torch.fx.
torch.fx.wrap("check_clip_input")


class VideoClassifier(ImageClassifier):
    """The classifier interface on clips ``(B, C, T, H, W)``; ``feature_info`` reductions are spatial."""

    # The only (T, H, W) a fixed-size model takes; its H (= W) is also ``fixed_input_size``.
    fixed_clip_size: tuple[int, int, int] | None = None

    def input_shape(self, side: int, frames: int = PROBE_FRAMES) -> tuple[int, int, int, int]:
        """``(C, T, H, W)`` of a clip the model takes: its fixed size, else ``frames`` frames of ``side x side``.

        Code written for images (``(C, side, side)``) asks this to build a clip instead.
        """
        return (self.in_chans, *(self.fixed_clip_size or (frames, side, side)))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is a batch of clips the model takes."""
        check_clip_input(x, self.in_chans, self.min_input_size, self.fixed_clip_size, type(self).__name__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                self._init_linear(module)

    @staticmethod
    def _init_linear(layer: nn.Module) -> None:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)


# ---------------------------------------------------------------- C3D


# The eight convs (name, width) and, after each group, its pool (kernel = stride, padding).
C3D_CONVS: tuple[tuple[tuple[str, ...], int, tuple[int, int, int], tuple[int, int, int]], ...] = (
    (("conv1a",), 64, (1, 2, 2), (0, 0, 0)),  # pool1 keeps time (Sec. 3.2)
    (("conv2a",), 128, (2, 2, 2), (0, 0, 0)),
    (("conv3a", "conv3b"), 256, (2, 2, 2), (0, 0, 0)),
    (("conv4a", "conv4b"), 512, (2, 2, 2), (0, 0, 0)),
    (("conv5a", "conv5b"), 512, (2, 2, 2), (0, 1, 1)),  # released model: 7x7 -> 4x4
)
C3D_FC_INPUTS = 512 * 1 * 4 * 4  # pool5 at 16x112x112


class C3D(VideoClassifier):
    """C3D: eight 3x3x3 convs, five max-pools, fc6 and fc7 of 4096 units, fc8 to the classes.

    Args:
        num_classes: outputs of fc8; 0 for none (the 4096 fc7 features).
        in_chans: channels of the input clip.
        act_layer: builds an activation from no arguments.
        drop_rate: dropout probability after fc6 and fc7.

    Shape:
        - Input: ``(B, in_chans, 16, 112, 112)``
        - Output: ``(B, num_classes)``; :meth:`forward_descriptor`: ``(B, 4096)`` fc6 activations
    """

    fixed_input_size = 112
    fixed_clip_size = (CLIP_LENGTH, 112, 112)

    def __init__(
        self,
        *,
        num_classes: int = 487,
        in_chans: int = 3,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 4096
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        self.feature_info = []
        in_channels, reduction = in_chans, 1
        for index, (convs, width, pool, padding) in enumerate(C3D_CONVS, start=1):
            for name in convs:
                layers[name] = nn.Conv3d(in_channels, width, kernel_size=3, padding=1)
                layers[f"relu{name[4:]}"] = act_layer()
                in_channels = width
            layers[f"pool{index}"] = nn.MaxPool3d(pool, stride=pool, padding=padding)
            reduction *= pool[-1]
            self.feature_info.append(dict(num_chs=width, reduction=reduction, module=f"features.pool{index}"))
        self.features = nn.Sequential(layers)  # (B, 512, 1, 4, 4) at 16x112x112
        self.classifier = nn.Sequential(OrderedDict(
            fc6=nn.Linear(C3D_FC_INPUTS, 4096),
            relu6=act_layer(),
            drop6=nn.Dropout(drop_rate),
            fc7=nn.Linear(4096, 4096),
            relu7=act_layer(),
            drop7=nn.Dropout(drop_rate),
            fc8=classifier_layer(4096, num_classes),
        ))
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 512, 1, 4, 4)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.classifier[:-1](torch.flatten(x, 1))  # (B, 8192) -> fc7 (B, 4096)
        return x if pre_logits else self.classifier.fc8(x)

    def forward_descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """The paper's generic video descriptor: fc6 activations (after ReLU) of clips ``(B, C, 16, 112, 112)``.

        The paper averages them over a video's clips and L2-normalises the mean (Sec. 4).
        """
        self.check_input(x)
        x = torch.flatten(self.forward_features(x), 1)  # (B, 8192)
        return self.classifier.relu6(self.classifier.fc6(x))  # (B, 4096)

    def get_classifier(self) -> nn.Module:
        return self.classifier.fc8

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier.fc8 = classifier_layer(self.num_features, num_classes)
        self._init_linear(self.classifier.fc8)


# ---------------------------------------------------------------- R3D, MC3, R(2+1)D


def conv3d_full(in_channels: int, out_channels: int, stride: int, mid_channels: int) -> nn.Module:
    """A 3x3x3 conv (R3D, and MC3's early layers); ``mid_channels`` is unused."""
    return nn.Conv3d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv3d_spatial(in_channels: int, out_channels: int, stride: int, mid_channels: int) -> nn.Module:
    """A 1x3x3 conv, 2D on each frame (MC3's late layers); strides space only."""
    return nn.Conv3d(in_channels, out_channels, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


def conv2plus1d(in_channels: int, out_channels: int, stride: int, mid_channels: int) -> nn.Module:
    """A (2+1)D conv with the block's mid-channel count (torchvision's rule)."""
    return Conv2Plus1d(in_channels, out_channels, 3, stride, mid_channels=mid_channels)


def _shortcut_stride(conv: ConvBuilder, stride: int) -> tuple[int, int, int]:
    """The projection shortcut strides where the block's conv does: MC3's 2D stages keep time."""
    return (1, stride, stride) if conv is conv3d_spatial else (stride, stride, stride)


class VideoBasicBlock(nn.Module):
    """ResNet's basic block on clips: conv, norm, ReLU, conv, norm, plus the (projected) input, ReLU.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        conv: builds each of the two convs (:func:`conv3d_full`, :func:`conv3d_spatial`, :func:`conv2plus1d`).
        stride: stride of the first conv (and of the shortcut).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        conv: ConvBuilder,
        stride: int = 1,
        norm_layer: LayerFactory = nn.BatchNorm3d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        # torchvision gives both convs the M of the first one, N_in -> N_out (Sec. 3.5's rule).
        mid_channels = conv2plus1d_mid_channels(in_channels, out_channels, 3)
        self.conv1 = nn.Sequential(
            conv(in_channels, out_channels, stride, mid_channels), norm_layer(out_channels), act_layer()
        )
        self.conv2 = nn.Sequential(conv(out_channels, out_channels, 1, mid_channels), norm_layer(out_channels))
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=_shortcut_stride(conv, stride), bias=False),
                norm_layer(out_channels),
            )
        self.relu = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)  # Eq. 1 of ResNet


def basic_stem(in_chans: int, norm_layer: LayerFactory, act_layer: LayerFactory) -> nn.Sequential:
    """R3D's and MC3's stem: a 3x7x7 conv to 64 channels, striding space only."""
    return nn.Sequential(
        nn.Conv3d(in_chans, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        norm_layer(64),
        act_layer(),
    )


def r2plus1d_stem(in_chans: int, norm_layer: LayerFactory, act_layer: LayerFactory) -> nn.Sequential:
    """R(2+1)D's stem, torchvision's: a 1x7x7 conv to 45 channels, then a 3x1x1 conv to 64."""
    return nn.Sequential(
        nn.Conv3d(in_chans, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        norm_layer(45),
        act_layer(),
        nn.Conv3d(45, 64, (3, 1, 1), padding=(1, 0, 0), bias=False),
        norm_layer(64),
        act_layer(),
    )


STAGE_WIDTHS = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)


class VideoResNet(VideoClassifier):
    """A ResNet on clips: a stem, four stages of :class:`VideoBasicBlock`, 3D average pool, linear layer.

    Args:
        stem: builds the stem from ``(in_chans, norm_layer, act_layer)``: :func:`basic_stem` or :func:`r2plus1d_stem`.
        convs: the conv builder of each of the four stages.
        layers: number of blocks in each stage.
        num_classes: outputs of the last layer; 0 for none (the 512 pooled features).
        in_chans: channels of the input clip.
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Shape:
        - Input: ``(B, in_chans, T, H, W)``, any ``T, H, W >= 1``
        - Output: ``(B, num_classes)``
    """

    # Every conv pads by half its kernel, so even a 1x1x1 clip leaves a 1x1x1 map.
    min_input_size = 1

    def __init__(
        self,
        stem: Callable[[int, LayerFactory, LayerFactory], nn.Module],
        convs: Sequence[ConvBuilder],
        layers: Sequence[int] = (2, 2, 2, 2),
        *,
        num_classes: int = KINETICS_CLASSES,
        in_chans: int = 3,
        norm_layer: LayerFactory = nn.BatchNorm3d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if len(convs) != 4 or len(layers) != 4:
            raise ValueError(f"convs and layers must describe 4 stages, got {len(convs)} and {len(layers)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.stem = stem(in_chans, norm_layer, act_layer)
        self.feature_info = [dict(num_chs=64, reduction=2, module="stem")]
        in_channels, reduction = 64, 2
        for index, (conv, num_blocks, width, stride) in enumerate(zip(convs, layers, STAGE_WIDTHS, STAGE_STRIDES)):
            blocks = [VideoBasicBlock(in_channels, width, conv, stride, norm_layer, act_layer)]
            blocks += [VideoBasicBlock(width, width, conv, 1, norm_layer, act_layer) for _ in range(num_blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            reduction *= stride
            self.feature_info.append(dict(num_chs=width, reduction=reduction, module=f"layer{index + 1}"))
            in_channels = width
        self.num_features = in_channels
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_weights()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes for R3D-18 at 16x112x112.
        x = self.stem(x)  # (B, 64, 16, 56, 56)
        x = self.layer1(x)  # (B, 64, 16, 56, 56)
        x = self.layer2(x)  # (B, 128, 8, 28, 28)
        x = self.layer3(x)  # (B, 256, 4, 14, 14)
        return self.layer4(x)  # (B, 512, 2, 7, 7)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)  # (B, 512)
        return x if pre_logits else self.fc(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = classifier_layer(self.num_features, num_classes)
        self._init_linear(self.fc)


# ---------------------------------------------------------------- builders

_VIDEO = dict(family="video", input_size=(3, CLIP_LENGTH, 112, 112))


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="r3d_18",
                deviations=RESNET_DEVIATIONS)
def r3d_18(**kwargs: Any) -> VideoResNet:
    """R3D-18: ResNet-18 with 3x3x3 convs everywhere, 33.4M parameters."""
    return VideoResNet(basic_stem, [conv3d_full] * 4, **kwargs)


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="mc3_18",
                deviations=RESNET_DEVIATIONS)
def mc3_18(**kwargs: Any) -> VideoResNet:
    """MC3-18: 3D convs in the stem and layer1, 2D (1x3x3) convs after, 11.7M parameters."""
    return VideoResNet(basic_stem, [conv3d_full] + [conv3d_spatial] * 3, **kwargs)


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="r2plus1d_18",
                deviations=RESNET_DEVIATIONS)
def r2plus1d_18(**kwargs: Any) -> VideoResNet:
    """R(2+1)D-18: every 3x3x3 conv factorised into 1x3x3 and 3x1x1 (Conv2Plus1d), 31.5M parameters."""
    return VideoResNet(r2plus1d_stem, [conv2plus1d] * 4, **kwargs)


@register_model(**_VIDEO, paper=C3D_PAPER, num_classes=487, deviations=C3D_DEVIATIONS,
                notes={"UCF101 accuracy (fc6 features + linear SVM)": "82.3%"})
def c3d(**kwargs: Any) -> C3D:
    """C3D for Sports-1M (487 classes): 79,991,015 parameters; 78,409,573 with 101 classes (UCF101)."""
    return C3D(**kwargs)
