"""Video networks: 3D convolutions over clips (C3D, R3D-18, MC3-18, R(2+1)D-18).

Papers:
    Learning Spatiotemporal Features with 3D Convolutional Networks (Du Tran, Lubomir
    Bourdev, Rob Fergus, Lorenzo Torresani, Manohar Paluri, ICCV 2015) https://arxiv.org/abs/1412.0767
    A Closer Look at Spatiotemporal Convolutions for Action Recognition (Du Tran, Heng Wang,
    Lorenzo Torresani, Jamie Ray, Yann LeCun, Manohar Paluri, CVPR 2018) https://arxiv.org/abs/1711.11248
    Large-scale Video Classification with Convolutional Neural Networks (Andrej Karpathy, George Toderici,
    Sanketh Shetty, Thomas Leung, Rahul Sukthankar, Li Fei-Fei, CVPR 2014) https://doi.org/10.1109/CVPR.2014.223

A clip is a ``(C, T, H, W)`` volume: ``T`` frames of ``H x W`` pixels. A 2D convolution
over a frame sees no motion; stacking the frames as channels lets only the *first* layer
see time. A 3D convolution slides its ``t x k x k`` kernel over time too, so every layer
keeps (and builds on) the temporal order (see :mod:`convzoo.ops.conv3d`).

**C3D** (2015) is VGG in 3D: eight 3x3x3 convs, five max-pools and two 4096-unit fully
connected layers. Its first pool is 1x2x2, so that time is not merged too early (Sec. 3.2
found 3x3x3 kernels in every layer best). The paper's "C3D feature" is the fc6 activation,
averaged over the clips of a video and L2-normalised, used with a linear SVM (UCF101 82.3%).

**C3D's small network** (``c3d_small``, Sec. 3.2) is the one the paper searched the kernel
temporal depth ``d`` with: five ``d x 3 x 3`` convs (64, 128, 256, 256, 256), each followed
by a pool (pool1 1x2x2, the others 2x2x2), two 2048-unit layers; ``d = 3`` everywhere won
over 1, 5, 7 and the varying 3-3-5-5-7 and 7-5-5-3-3. Its 2D twin ``c2d_small`` (1x3x3
kernels, 1x2x2 pools, head on each frame, logits averaged over frames) is the single-frame
baseline with late fusion of Karpathy et al. (2014): it cannot tell the order of the frames.

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
    - ``c3d_small``: an adaptive average pool to 1x4x4 after pool5 (the identity at the paper's
      16x112x112), so that fc6 takes ``widths[-1] x 16`` inputs at any clip of at least 16
      frames of 16x16; optional batch norm (``norm_layer``), which the paper does not have.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Any, Callable, Sequence

import torch
import torch.fx
from torch import nn

from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.ops.conv3d import Conv2Plus1d, conv2plus1d_mid_channels
from convzoo.registry import Paper, register_model

__all__ = [
    "C2DSmall", "C3D", "C3DSmall", "VideoResNet", "c2d_small", "c3d", "c3d_small", "check_clip_input", "mc3_18",
    "r2plus1d_18", "r3d_18",
]

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
C3D_SMALL_DEVIATIONS = (
    "an adaptive average pool to 1x4x4 after pool5 (the identity at 16x112x112) so that any clip of at least "
    "16 frames of 16x16 runs; pool5 pads height and width by 1 (released C3D); He/N(0, 0.01) initialisation; "
    "optional batch norm after each conv (none in the paper)."
)
C2D_SMALL_DEVIATIONS = (
    "not in the paper: c3d_small with 1x3x3 convs and 1x2x2 pools (a 2D CNN on each frame), fc6-fc7 on each frame "
    "and the logits averaged over the frames (late fusion, Karpathy et al. CVPR 2014); adaptive 4x4 pool per frame."
)

CLIP_LENGTH = 16  # frames per clip in both papers
KINETICS_CLASSES = 400
PROBE_FRAMES = 4  # frames of the small clips that input_shape gives for a quick run


def _clip_minimum(min_frames: int, min_size: int) -> str:
    """The smallest clip as words (" with T >= 16 and H, W >= 16"), empty when any clip runs."""
    bounds = ([f"T >= {min_frames}"] if min_frames > 1 else []) + ([f"H, W >= {min_size}"] if min_size > 1 else [])
    return f" with {' and '.join(bounds)}" if bounds else ""


def check_clip_input(
    x: torch.Tensor,
    in_chans: int,
    min_size: int,
    fixed_size: tuple[int, int, int] | None,
    model: str,
    min_frames: int | None = None,
) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is a ``(B, in_chans, T, H, W)`` clip the model can take.

    ``min_size`` bounds the sides ``H, W``; ``min_frames`` bounds ``T`` (``min_size`` when not given).
    """
    min_frames = min_size if min_frames is None else min_frames
    if x.dim() != 5 or x.shape[1] != in_chans:
        if fixed_size:
            expected = f"(B, {in_chans}, {', '.join(map(str, fixed_size))})"
        else:
            expected = f"(B, {in_chans}, T, H, W){_clip_minimum(min_frames, min_size)}"
        raise InputShapeError(f"{model} expects input of shape {expected}, got {tuple(x.shape)}")
    clip = tuple(x.shape[2:])
    if fixed_size is not None and clip != fixed_size:
        expected = "x".join(map(str, fixed_size))
        raise InputShapeError(
            f"{model} takes only {expected} clips (T x H x W), got {'x'.join(map(str, clip))}; "
            f"resize the input to (B, {in_chans}, {', '.join(map(str, fixed_size))})"
        )
    if clip[0] < min_frames or min(clip[1:]) < min_size:
        raise InputShapeError(
            f"{model} needs clips of at least {min_frames} frame{'s' * (min_frames != 1)} of {min_size}x{min_size} pixels, "
            f"got {'x'.join(map(str, clip))} (T x H x W)"
        )


# Keep the check a single node when the model is traced with torch.fx.
torch.fx.wrap("check_clip_input")


class VideoClassifier(ImageClassifier):
    """The classifier interface on clips ``(B, C, T, H, W)``; ``feature_info`` reductions are spatial."""

    # The only (T, H, W) a fixed-size model takes; its H (= W) is also ``fixed_input_size``.
    fixed_clip_size: tuple[int, int, int] | None = None
    # The fewest frames the temporal downsampling takes; ``min_input_size`` bounds the sides.
    min_clip_frames: int = 1

    def input_shape(self, side: int, frames: int = PROBE_FRAMES) -> tuple[int, int, int, int]:
        """``(C, T, H, W)`` of a clip the model takes: its fixed size, else ``frames`` frames (at least
        ``min_clip_frames``) of ``side x side``.

        Code written for images (``(C, side, side)``) asks this to build a clip instead.
        """
        return (self.in_chans, *(self.fixed_clip_size or (max(frames, self.min_clip_frames), side, side)))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`InputShapeError` unless ``x`` is a batch of clips the model takes."""
        check_clip_input(
            x, self.in_chans, self.min_input_size, self.fixed_clip_size, type(self).__name__, self.min_clip_frames
        )

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


class C3DHead(VideoClassifier):
    """The C3D networks' head: fc6 and fc7 with ReLU and dropout, fc8 to the classes (``classifier``)."""

    @staticmethod
    def fully_connected(in_features: int, features: int, num_classes: int, act_layer: LayerFactory,
                        drop_rate: float) -> nn.Sequential:
        return nn.Sequential(OrderedDict(
            fc6=nn.Linear(in_features, features),
            relu6=act_layer(),
            drop6=nn.Dropout(drop_rate),
            fc7=nn.Linear(features, features),
            relu7=act_layer(),
            drop7=nn.Dropout(drop_rate),
            fc8=classifier_layer(features, num_classes),
        ))

    def get_classifier(self) -> nn.Module:
        return self.classifier.fc8

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier.fc8 = classifier_layer(self.num_features, num_classes)
        self._init_linear(self.classifier.fc8)


class C3D(C3DHead):
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
        self.classifier = self.fully_connected(C3D_FC_INPUTS, 4096, num_classes, act_layer, drop_rate)
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

# ---------------------------------------------------------------- C3D's small networks (Sec. 3.2) and their 2D twin


SMALL_WIDTHS = (64, 128, 256, 256, 256)  # conv1..conv5, one conv per pool
SMALL_FC_FEATURES = 2048
SMALL_POOLED_SIDE = 4  # pool5's side at 16x112x112 (7x7 padded to 4x4): fc6 reads widths[-1] x 4 x 4
SMALL_MIN_SIDE = 16  # pool1..pool4 halve the sides; padded pool5 keeps a 1x1 map
SMALL_MIN_FRAMES = 16  # pool2..pool5 halve time: 16 frames leave one after pool5
UCF101_CLASSES = 101


# Norms by name, so that the command line (--model-kwargs norm_layer=batchnorm) and checkpoints' JSON can choose one.
NORM_LAYERS: dict[str, LayerFactory] = {"batchnorm": nn.BatchNorm3d}


def _norm_factory(norm_layer: LayerFactory | str | None) -> LayerFactory | None:
    if not isinstance(norm_layer, str):
        return norm_layer
    if norm_layer not in NORM_LAYERS:
        raise ConvzooError(f"unknown norm_layer {norm_layer!r}; expected one of {', '.join(NORM_LAYERS)} or a callable")
    return NORM_LAYERS[norm_layer]


def _temporal_depths(temporal_depth: int | Sequence[int]) -> tuple[int, ...]:
    """One kernel temporal depth per conv; odd, so that padding ``d // 2`` keeps the frames."""
    depths = (temporal_depth,) * len(SMALL_WIDTHS) if isinstance(temporal_depth, int) else tuple(temporal_depth)
    if len(depths) != len(SMALL_WIDTHS) or not all(isinstance(d, int) and d > 0 and d % 2 == 1 for d in depths):
        raise ConvzooError(
            f"temporal_depth must be an odd positive int or {len(SMALL_WIDTHS)} of them (one per conv), "
            f"got {temporal_depth!r}"
        )
    return depths


class C3DSmall(C3DHead):
    """The network of C3D's kernel-depth study (Sec. 3.2): five convs, five max-pools, two 2048-unit layers.

    Each conv is ``d x 3 x 3`` (stride 1, padding keeping the size) and is followed by a
    ReLU and a max-pool: pool1 is 1x2x2, the others 2x2x2 (pool5 padded spatially by 1, as
    the released C3D). fc6 and fc7 have ``fc_features`` units with dropout, fc8 gives the
    logits. The paper trains it with ``d`` = 1, 3, 5 or 7 in every layer, 3-3-5-5-7 and
    7-5-5-3-3 on UCF101, finding 3 best (Fig. 2): 17,444,965 parameters at ``d`` = 3 with
    101 classes. An adaptive average pool to 1x4x4 after pool5 (as torchvision's VGG pools
    to 7x7) makes fc6 read ``widths[-1] x 16`` values at any clip size; it is the identity
    at the paper's 16x112x112.

    Args:
        num_classes: outputs of fc8; 0 for none (the ``fc_features`` fc7 features).
        in_chans: channels of the input clip.
        temporal_depth: kernel temporal depth ``d`` of every conv, or one (odd) per conv.
        widths: filters of conv1..conv5.
        fc_features: units of fc6 and fc7 (``num_features``).
        drop_rate: dropout probability after fc6 and fc7.
        act_layer: builds an activation from no arguments.
        norm_layer: builds a norm from a channel count, placed after every conv (whose bias
            is then dropped), or ``"batchnorm"``; ``None`` for none, as in the paper.

    Shape:
        - Input: ``(B, in_chans, T, H, W)``, ``T, H, W >= 16``
        - Output: ``(B, num_classes)``
    """

    min_input_size = SMALL_MIN_SIDE
    min_clip_frames = SMALL_MIN_FRAMES
    # C2DSmall: no temporal pooling, and the head runs on each frame, its outputs averaged.
    frame_wise = False

    def __init__(
        self,
        *,
        num_classes: int = UCF101_CLASSES,
        in_chans: int = 3,
        temporal_depth: int | Sequence[int] = 3,
        widths: Sequence[int] = SMALL_WIDTHS,
        fc_features: int = SMALL_FC_FEATURES,
        drop_rate: float = 0.5,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        norm_layer: LayerFactory | str | None = None,
    ) -> None:
        super().__init__()
        depths = _temporal_depths(temporal_depth)
        norm_layer = _norm_factory(norm_layer)
        if len(widths) != len(SMALL_WIDTHS):
            raise ConvzooError(f"widths must give {len(SMALL_WIDTHS)} conv widths, got {tuple(widths)}")
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = fc_features
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        self.feature_info = []
        in_channels = in_chans
        for index, (depth, width) in enumerate(zip(depths, widths), start=1):
            layers[f"conv{index}"] = nn.Conv3d(
                in_channels, width, (depth, 3, 3), padding=(depth // 2, 1, 1), bias=norm_layer is None
            )
            if norm_layer is not None:
                layers[f"norm{index}"] = norm_layer(width)
            layers[f"relu{index}"] = act_layer()
            layers[f"pool{index}"] = self._pool(index)
            self.feature_info.append(dict(num_chs=width, reduction=2**index, module=f"features.pool{index}"))
            in_channels = width
        self.features = nn.Sequential(layers)
        # Time: one step left (C3D), or every frame kept (C2DSmall); space: pool5's 4x4 at 112x112.
        self.avgpool = nn.AdaptiveAvgPool3d((None if self.frame_wise else 1, SMALL_POOLED_SIDE, SMALL_POOLED_SIDE))
        self.classifier = self.fully_connected(in_channels * SMALL_POOLED_SIDE**2, fc_features, num_classes,
                                               act_layer, drop_rate)
        self._init_weights()

    def _pool(self, index: int) -> nn.MaxPool3d:
        """pool1 keeps time (Sec. 3.2), the others halve it (none does in the 2D twin); pool5 pads H and W."""
        time = 1 if index == 1 or self.frame_wise else 2
        padding = (0, 1, 1) if index == len(SMALL_WIDTHS) else 0
        return nn.MaxPool3d((time, 2, 2), stride=(time, 2, 2), padding=padding)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 256, 1, 4, 4) at 16x112x112; C2DSmall: (B, 256, 16, 4, 4)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.avgpool(x)  # (B, C, t, 4, 4): t = 1, or T for C2DSmall
        x = x.transpose(1, 2).flatten(2)  # (B, t, C * 16): fc6's input for each time step
        # fc7's features averaged over the frames; fc8 is linear, so its logits are the frames' mean logits.
        x = self.classifier[:-1](x).mean(1)  # (B, fc_features)
        return x if pre_logits else self.classifier.fc8(x)

class C2DSmall(C3DSmall):
    """The frame-averaged 2D baseline of :class:`C3DSmall`: the same layers on each frame alone, logits averaged.

    Every conv is 1x3x3 and every pool 1x2x2, so the convs are a 2D CNN applied to each
    frame; fc6 and fc7 run on each frame's pooled features, and the frames' fc7 features
    (so, fc8 being linear, their logits) are averaged: the single-frame network with late
    fusion by averaging of Karpathy et al., "Large-scale Video Classification with
    Convolutional Neural Networks" (CVPR 2014). It sees no motion: the order of the frames
    does not change its output. Parameters: those of :class:`C3DSmall` with ``d`` = 1.

    Args:
        num_classes: outputs of fc8; 0 for none (the ``fc_features`` averaged fc7 features).
        in_chans: channels of the input clip.
        widths: filters of conv1..conv5.
        fc_features: units of fc6 and fc7 (``num_features``).
        drop_rate: dropout probability after fc6 and fc7.
        act_layer: builds an activation from no arguments.
        norm_layer: builds a norm from a channel count, placed after every conv, or ``"batchnorm"``; ``None`` for
            none.

    Shape:
        - Input: ``(B, in_chans, T, H, W)``, any ``T``, ``H, W >= 16``
        - Output: ``(B, num_classes)``
    """

    min_clip_frames = 1
    frame_wise = True

    def __init__(
        self,
        *,
        num_classes: int = UCF101_CLASSES,
        in_chans: int = 3,
        widths: Sequence[int] = SMALL_WIDTHS,
        fc_features: int = SMALL_FC_FEATURES,
        drop_rate: float = 0.5,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
        norm_layer: LayerFactory | str | None = None,
    ) -> None:
        super().__init__(
            num_classes=num_classes, in_chans=in_chans, temporal_depth=1, widths=widths, fc_features=fc_features,
            drop_rate=drop_rate, act_layer=act_layer, norm_layer=norm_layer,
        )


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

def _kinetics_note(top1: str, top5: str) -> dict[str, str]:
    """torchvision's Kinetics-400 accuracy of its weights (video level: 5 clips of 16 frames at 15 fps)."""
    return {"Kinetics-400 accuracy, torchvision's weights (video level, 5 clips)": f"top-1 {top1}, top-5 {top5}"}


_VIDEO = dict(family="video", task="video", input_size=(3, CLIP_LENGTH, 112, 112))


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="r3d_18",
                deviations=RESNET_DEVIATIONS, notes=_kinetics_note("63.2%", "83.5%"))
def r3d_18(**kwargs: Any) -> VideoResNet:
    """R3D-18: ResNet-18 with 3x3x3 convs everywhere, 33.4M parameters."""
    return VideoResNet(basic_stem, [conv3d_full] * 4, **kwargs)


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="mc3_18",
                deviations=RESNET_DEVIATIONS, notes=_kinetics_note("64.0%", "84.1%"))
def mc3_18(**kwargs: Any) -> VideoResNet:
    """MC3-18: 3D convs in the stem and layer1, 2D (1x3x3) convs after, 11.7M parameters."""
    return VideoResNet(basic_stem, [conv3d_full] + [conv3d_spatial] * 3, **kwargs)


@register_model(**_VIDEO, paper=R21D_PAPER, num_classes=KINETICS_CLASSES, torchvision="r2plus1d_18",
                deviations=RESNET_DEVIATIONS, notes=_kinetics_note("67.5%", "86.2%"))
def r2plus1d_18(**kwargs: Any) -> VideoResNet:
    """R(2+1)D-18: every 3x3x3 conv factorised into 1x3x3 and 3x1x1 (Conv2Plus1d), 31.5M parameters."""
    return VideoResNet(r2plus1d_stem, [conv2plus1d] * 4, **kwargs)


@register_model(**_VIDEO, paper=C3D_PAPER, num_classes=487, deviations=C3D_DEVIATIONS,
                notes={"UCF101 accuracy (fc6 features + linear SVM)": "82.3%"})
def c3d(**kwargs: Any) -> C3D:
    """C3D for Sports-1M (487 classes): 79,991,015 parameters; 78,409,573 with 101 classes (UCF101)."""
    return C3D(**kwargs)


@register_model(**_VIDEO, paper=C3D_PAPER, num_classes=UCF101_CLASSES, deviations=C3D_SMALL_DEVIATIONS)
def c3d_small(**kwargs: Any) -> C3DSmall:
    """C3D's Sec. 3.2 network (5 convs, 2 x 2048 fc), depth 3: 17,444,965 parameters with 101 classes (UCF101)."""
    return C3DSmall(**kwargs)


@register_model(**_VIDEO, paper=C3D_PAPER, num_classes=UCF101_CLASSES, deviations=C2D_SMALL_DEVIATIONS)
def c2d_small(**kwargs: Any) -> C2DSmall:
    """c3d_small's 2D twin on each frame, logits averaged over the frames (the single-frame baseline)."""
    return C2DSmall(**kwargs)
