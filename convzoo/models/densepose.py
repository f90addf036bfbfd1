"""DensePose as a fully convolutional network: for every pixel, its body part and (u, v) on that part.

Paper: DensePose: Dense Human Pose Estimation In The Wild (R. A. Guler, N. Neverova,
I. Kokkinos, CVPR 2018) https://arxiv.org/abs/1802.00434

DensePose maps each pixel of a person to a point on the body's surface. The surface is cut
into parts, each with its own 2-D chart, so a surface point is a part index ``I`` and
chart coordinates ``(U, V)`` in [0, 1]: the *IUV* output. The paper regresses it in two
steps (Section 4.1): a classifier gives each pixel a part (or the background),
``c* = argmax_c P(c | pixel)``, and one regressor per part gives the pixel's ``(u, v)``
on that part's chart, ``(U, V) = R_{c*}(pixel)``. Training uses the cross-entropy for the
classifier and a smooth L1 loss for the regressors, each pixel teaching only the
regressor of its true part (:mod:`convzoo.tasks.pose.dense`).

Here that head runs densely over a zoo encoder (:func:`~convzoo.registry.create_model`
``features_only``): the encoder's deepest maps at reductions 4, 8, 16 and 32 are merged by
a feature pyramid's top-down pathway (Lin et al., "Feature Pyramid Networks for Object
Detection", CVPR 2017: a 1x1 lateral conv per level, the coarser level up-sampled
(nearest) and added, a 3x3 conv on the merged stride-4 map), then ``head_depth`` 3x3
conv - batch norm - ReLU layers and three 1x1 convs::

    encoder (ResNet-18, 256 x 256)        FPN (width 128)          head
    layer4  512 x  8 x  8  -> 1x1 -> P5 ----+
    layer3  256 x 16 x 16  -> 1x1 -> P4 = + up(P5)
    layer2  128 x 32 x 32  -> 1x1 -> P3 = + up(P4)
    layer1   64 x 64 x 64  -> 1x1 -> P2 = + up(P3) -> 3x3 -> 2 x (3x3 conv-BN-ReLU) -> 1x1: P + 1 part logits
                                                                                 -> 1x1: P u, 1x1: P v

The stride-4 predictions are up-sampled bilinearly to the input's size, and u, v pass
through a sigmoid (the charts' coordinates lie in [0, 1]). The forward returns one tensor
``(B, 3P + 1, H, W)``: channels ``[:P + 1]`` the part logits (0 the background, 1..P the
parts), ``[P + 1 : 2P + 1]`` u and ``[2P + 1:]`` v of parts 1..P; :func:`split_iuv` takes
it apart. It is not a heatmap network: ``num_joints`` and ``num_pafs`` are 0 and
``output_stride`` is 1 (the maps are at the input's resolution), the attributes the pose
task's other readers look at.

Deviations:
    There is no SMPL surface and no R-CNN stage. The paper's 24 parts are charts of the
    SMPL body, and DensePose-RCNN predicts them inside each detected person's box (ROIAlign
    on 14 x 14 FPN features, 8 3x3 convs of 512 channels, a deconvolution); here the parts
    are whatever the training data defines (``num_parts``; the synthetic bodies' capsule
    charts by default) and the head runs once over the whole image on the stride-4 FPN map,
    with ``head_depth`` (2) convs of ``head_channels`` (128). u and v go through a sigmoid
    (the paper regresses them unbounded). The prediction convs start at small normal weights
    (std 0.01) and zero bias, so the untrained network predicts every part alike and
    u = v = 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.models._classifier import check_image_input
from convzoo.models._features import FeatureExtractor
from convzoo.ops.conv_norm_act import ConvNormAct
from convzoo.registry import Paper, create_model, register_model

__all__ = ["PAPER", "DensePoseNet", "FPN_REDUCTIONS", "densepose_resnet18", "pyramid_stage_indices", "split_iuv"]

PAPER = Paper(
    title="DensePose: Dense Human Pose Estimation In The Wild",
    authors="R. A. Guler, N. Neverova, I. Kokkinos",
    venue="CVPR",
    year=2018,
    url="https://arxiv.org/abs/1802.00434",
)

FPN_REDUCTIONS = (4, 8, 16, 32)  # the pyramid's levels C2..C5, by their stride

# One opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_image_input")


def split_iuv(output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Take a dense-pose output apart: ``(part_logits, u, v)``.

    ``output`` is ``(..., 3P + 1, H, W)`` as :class:`DensePoseNet` returns it; the result is
    ``(..., P + 1, H, W)`` part logits (channel 0 the background), and ``(..., P, H, W)`` u
    and v of parts 1..P (channel ``k`` is part ``k + 1``). Views, not copies.
    """
    channels = output.shape[-3] if output.dim() >= 3 else 0
    if output.dim() < 3 or channels < 4 or (channels - 1) % 3:
        raise ConvzooError(
            f"a dense-pose output has shape (..., 3P + 1, H, W) with P >= 1 parts, got {tuple(output.shape)}"
        )
    parts = (channels - 1) // 3
    logits = output[..., : parts + 1, :, :]
    return logits, output[..., parts + 1 : 2 * parts + 1, :, :], output[..., 2 * parts + 1 :, :, :]


def pyramid_stage_indices(stages: Sequence[Mapping[str, Any]], encoder: str) -> tuple[int, ...]:
    """Indices into ``feature_info`` ``stages`` of the deepest stage at each reduction 4, 8, 16, 32.

    Raises :class:`ConvzooError` naming the encoder's stages when one of them is missing.
    """
    deepest = {stage["reduction"]: index for index, stage in enumerate(stages)}  # later stages overwrite
    missing = [r for r in FPN_REDUCTIONS if r not in deepest]
    if missing:
        found = ", ".join(f"/{stage['reduction']:g} ({stage['num_chs']} ch)" for stage in stages)
        raise ConvzooError(
            f"encoder {encoder!r} has no stage at reduction {', '.join(f'/{r}' for r in missing)}; a dense-pose "
            f"feature pyramid needs one at each of /4, /8, /16, /32 (its stages: {found})"
        )
    return tuple(deepest[r] for r in FPN_REDUCTIONS)


class FeaturePyramid(nn.Module):
    """The top-down pathway of a feature pyramid, kept to its finest level.

    Args:
        in_channels: channels of the encoder maps C2..C5, finest first.
        out_channels: the pyramid's width.

    Shape:
        maps ``(B, C_l, H_l, W_l)``, finest first -> ``(B, out_channels, H_2, W_2)``.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, kernel_size=1) for c in in_channels)
        self.smooth = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        merged = self.lateral[-1](features[-1])  # P5: (B, out_channels, H / 32, W / 32)
        for lateral, feature in zip(self.lateral[-2::-1], features[-2::-1]):
            upsampled = F.interpolate(merged, size=feature.shape[-2:], mode="nearest")
            merged = lateral(feature) + upsampled  # P_l: (B, out_channels, H_l, W_l)
        return self.smooth(merged)  # (B, out_channels, H / 4, W / 4)


class DensePoseNet(nn.Module):
    """A dense-correspondence network: per pixel, the body part and its (u, v) chart coordinates.

    Args:
        backbone: registry name of the encoder's classifier (``"resnet18"``, ``"mobilenet_v2"``, ...);
            it needs stages at reductions 4, 8, 16 and 32.
        num_parts: body parts P, background not counted.
        in_chans: channels of the input image.
        fpn_channels: width of the feature pyramid.
        head_channels: width of the head's 3x3 convs.
        head_depth: number of the head's 3x3 conv - batch norm - ReLU layers (0 for none).
        encoder_kwargs: passed to the backbone's builder.

    Attributes:
        num_parts: P. ``num_joints = 0``, ``num_pafs = 0`` and ``output_stride = 1``:
            not a heatmap network; its maps have the input's size.
        encoder: the backbone's :class:`~convzoo.models._features.FeatureExtractor`.
        feature_info: the encoder's stages (channels, reduction, module path in this model).

    Shape:
        (B, in_chans, H, W) -> (B, 3P + 1, H, W): P + 1 part logits, P u, P v (see :func:`split_iuv`);
        H and W at least the encoder's deepest reduction (32).
    """

    num_joints = 0
    num_pafs = 0
    output_stride = 1

    def __init__(
        self,
        backbone: str = "resnet18",
        num_parts: int = 10,
        *,
        in_chans: int = 3,
        fpn_channels: int = 128,
        head_channels: int = 128,
        head_depth: int = 2,
        encoder_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if num_parts < 1:
            raise ConvzooError(f"DensePoseNet needs at least 1 body part, got num_parts={num_parts}")
        if head_depth < 0:
            raise ConvzooError(f"DensePoseNet head_depth must be 0 or more, got {head_depth}")
        self.backbone = backbone
        self.num_parts = num_parts
        self.in_chans = in_chans
        classifier = create_model(backbone, in_chans=in_chans, **dict(encoder_kwargs or {}))
        indices = pyramid_stage_indices(classifier.feature_info, backbone)
        self.encoder = FeatureExtractor(classifier, indices)  # create_model(..., features_only=True), built once
        self.feature_info = [
            dict(num_chs=stage["num_chs"], reduction=stage["reduction"], module=f"encoder.body.{stage['module']}")
            for stage in self.encoder.feature_info
        ]
        self.min_input_size = max(self.encoder.min_input_size, FPN_REDUCTIONS[-1])
        self.pyramid = FeaturePyramid(self.encoder.feature_info.channels(), fpn_channels)
        widths = [fpn_channels] + [head_channels] * head_depth
        self.head = nn.Sequential(*(ConvNormAct(a, b, 3) for a, b in zip(widths[:-1], widths[1:])))
        self.part_logits = nn.Conv2d(widths[-1], num_parts + 1, kernel_size=1)
        self.u = nn.Conv2d(widths[-1], num_parts, kernel_size=1)
        self.v = nn.Conv2d(widths[-1], num_parts, kernel_size=1)
        for conv in (self.part_logits, self.u, self.v):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_chans, self.min_input_size, None, f"{type(self).__name__}({self.backbone})")
        features = self.encoder(x)  # (B, C_l, H / r_l, W / r_l), r_l = 4, 8, 16, 32
        y = self.head(self.pyramid(features))  # (B, head_channels, H / 4, W / 4)
        maps = torch.cat([self.part_logits(y), self.u(y), self.v(y)], dim=1)  # (B, 3P + 1, H / 4, W / 4)
        maps = F.interpolate(maps, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, 3P + 1, H, W)
        logits, uv = maps.split([self.num_parts + 1, 2 * self.num_parts], dim=1)
        return torch.cat([logits, torch.sigmoid(uv)], dim=1)  # (B, 3P + 1, H, W)


def _parts_from_num_classes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The registry's ``num_classes`` (what ``create_model(num_classes=...)`` passes) is ``num_parts``."""
    if "num_classes" in kwargs:
        if "num_parts" in kwargs:
            raise ConvzooError("give the body parts once: num_classes or num_parts, not both")
        kwargs["num_parts"] = kwargs.pop("num_classes")
    return kwargs


@register_model(
    family="densepose",
    task="pose",
    paper=PAPER,
    input_size=(3, 256, 256),
    num_classes=10,
    deviations="No SMPL surface: the parts and their (u, v) charts are the synthetic bodies' (num_classes = body "
    "parts, background not counted); no R-CNN stage: one fully convolutional head over the whole image on a "
    "stride-4 feature pyramid, up-sampled to the input; u, v through a sigmoid.",
    notes={
        "output": "(B, 3P + 1, H, W): P + 1 part logits (0 = background), P u maps, P v maps in [0, 1]",
        "paper's parts": "24 surface charts of the SMPL body, each with (U, V) in [0, 1]",
        "encoder": "resnet18",
    },
)
def densepose_resnet18(**kwargs: Any) -> DensePoseNet:
    """DensePose head on a ResNet-18 feature pyramid; ``num_classes`` is the number of body parts (10)."""
    return DensePoseNet("resnet18", **_parts_from_num_classes(kwargs))
