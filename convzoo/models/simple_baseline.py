"""Simple Baselines: a classifier's last feature map, three deconvolutions, one heatmap per joint.

Paper: Simple Baselines for Human Pose Estimation and Tracking (B. Xiao, H. Wu, Y. Wei,
ECCV 2018) https://arxiv.org/abs/1804.06208

Pose networks before it grew elaborate: Hourglass and Cascaded Pyramid Networks go down
and back up with skip connections between the scales. Xiao et al. show that a plain
stack does as well (Section 2, Fig. 1c): take an ImageNet ResNet, drop its pooling and
classifier, and turn its last stage (C5, stride 32) back into a stride-4 map with three
deconvolutions (transposed convs), each 256 filters of 4x4 with stride 2, followed by
batch norm and ReLU; a 1x1 conv then gives one heatmap per joint::

    ResNet-50 C5       (B, 2048, H/32, W/32)     256x192 input: 8x6
    deconv 4x4/2       (B, 256, H/16, W/16)      16x12
    deconv 4x4/2       (B, 256, H/8, W/8)        32x24
    deconv 4x4/2       (B, 256, H/4, W/4)        64x48
    1x1 conv           (B, J, H/4, W/4)          17 COCO joints

A deconvolution both up-samples and convolves, so the head needs no separate
up-sampling and no skips. Training minimises the mean squared error between the
predicted heatmaps and 2-D Gaussians centred on the joints. The paper's ResNet-50 at
256x192 has 34.0M parameters and reaches 70.4 AP on COCO val2017 (Table 2).

The backbone is any zoo classifier, cut to its last stage by
``create_model(backbone, features_only=True, out_indices=(-1,))``; an ImageNet checkpoint
of the classifier loads into ``model.encoder`` with :func:`convzoo.load_weights`. The
authors' checkpoints (``pose_resnet_50_256x192.pth``: the ResNet's keys at the top level,
``deconv_layers.N`` and ``final_layer``) load through :meth:`SimpleBaseline.remap_state_dict`.

Deviations:
    The head is initialised as the authors' code does (deconvolutions and the 1x1 conv
    Gaussian with std 0.001, zero biases), the backbone with its own initialisation
    unless a checkpoint is loaded; the paper starts from ImageNet weights. Sides must be
    multiples of the backbone's stride (32 for ResNets), so that the heatmaps are exactly
    a quarter of the input. ``simple_baseline_resnet18`` is not in the paper: a small
    network of the same design for CPU training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.models.hourglass import check_side_multiple
from convzoo.registry import Paper, create_model, register_model

__all__ = ["SimpleBaseline", "simple_baseline_resnet18", "simple_baseline_resnet50"]

PAPER = Paper(
    title="Simple Baselines for Human Pose Estimation and Tracking",
    authors="B. Xiao, H. Wu, Y. Wei",
    venue="ECCV",
    year=2018,
    url="https://arxiv.org/abs/1804.06208",
)

# One opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_side_multiple")

DECONV_KERNEL = 4  # with stride 2 and padding 1, each deconvolution doubles the side exactly
HEAD_INIT_STD = 0.001
_HEAD_PREFIXES = ("deconv_layers.", "final_layer.")


def deconv_layers(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """One 4x4 stride-2 transposed conv (no bias) - batch norm - ReLU per width: each doubles H and W.

    A flat ``nn.Sequential`` (keys ``0.weight``, ``1.running_mean``, ``3.weight``, ...), as in the
    authors' code.
    """
    layers: list[nn.Module] = []
    for width in widths:
        layers += [
            nn.ConvTranspose2d(in_channels, width, DECONV_KERNEL, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        in_channels = width
    return nn.Sequential(*layers)


class SimpleBaseline(nn.Module):
    """A zoo classifier's last stage, deconvolutions back to stride 4 and a 1x1 conv to joint heatmaps.

    Args:
        backbone: registry name of the classifier (``"resnet50"``, ``"mobilenet_v2"``, ...).
        num_joints: heatmaps, one per joint (17 for COCO).
        in_chans: channels of the input image.
        deconv_channels: output channels of each deconvolution ((256, 256, 256) in the paper).
        backbone_kwargs: passed to the classifier's builder.

    Attributes:
        encoder: the classifier's :class:`~convzoo.models._features.FeatureExtractor` (last stage).
        num_joints, num_pafs (0: heatmaps only), in_chans, output_stride (the backbone's
        stride over ``2 ** len(deconv_channels)``: 4 for a stride-32 backbone),
        size_multiple (the backbone's stride), min_input_size, feature_info (the backbone's stage).

    Shape:
        (B, in_chans, H, W) -> (B, 1, num_joints, H / output_stride, W / output_stride),
        H and W multiples of the backbone's stride.
    """

    num_pafs = 0

    def __init__(
        self,
        backbone: str = "resnet50",
        num_joints: int = 17,
        *,
        in_chans: int = 3,
        deconv_channels: Sequence[int] = (256, 256, 256),
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not deconv_channels:
            raise ConvzooError("deconv_channels must give at least one deconvolution width, got none")
        self.backbone = backbone
        self.num_joints = num_joints
        self.in_chans = in_chans
        self.deconv_channels = tuple(deconv_channels)
        self.encoder = create_model(
            backbone, in_chans=in_chans, features_only=True, out_indices=(-1,), **dict(backbone_kwargs or {})
        )
        stage = self.encoder.feature_info[-1]
        reduction, upsampling = int(stage["reduction"]), 2 ** len(self.deconv_channels)
        if reduction % upsampling:
            raise ConvzooError(
                f"backbone {backbone!r} has stride {reduction}, which {len(self.deconv_channels)} deconvolutions "
                f"(x{upsampling}) cannot bring to an integer stride; use fewer deconv_channels"
            )
        self.output_stride = reduction // upsampling
        self.size_multiple = reduction
        self.min_input_size = max(reduction, self.encoder.min_input_size)
        # The backbone's stage, as the pose network's: what `--freeze features` freezes.
        self.feature_info = [dict(stage, module=f"encoder.body.{stage['module']}")]
        self.deconv_layers = deconv_layers(stage["num_chs"], self.deconv_channels)
        self.final_layer = nn.Conv2d(self.deconv_channels[-1], num_joints, 1)
        self._init_head()

    def _init_head(self) -> None:
        for module in (*self.deconv_layers, self.final_layer):
            if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(module.weight, std=HEAD_INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_side_multiple(x, self.in_chans, self.size_multiple, f"{type(self).__name__}({self.backbone})")
        features = self.encoder(x)[-1]  # (B, C, H / 32, W / 32)
        x = self.deconv_layers(features)  # (B, 256, H / 4, W / 4)
        return self.final_layer(x).unsqueeze(1)  # (B, 1, J, H / 4, W / 4): one stage

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map the authors' layout (the ResNet's keys at the top level, ``deconv_layers.*``, ``final_layer.*``) to ours.

        The backbone's keys go through the encoder's own remap (torchvision and timm
        layouts; a classifier head is dropped) and gain the ``encoder.`` prefix; the head's
        keys are the same in both layouts. Keys already in convzoo's layout pass unchanged.
        """
        backbone = {
            key.removeprefix("encoder."): value for key, value in state_dict.items() if not key.startswith(_HEAD_PREFIXES)
        }
        mapped = {f"encoder.{key}": value for key, value in self.encoder.remap_state_dict(backbone).items()}
        mapped.update((key, value) for key, value in state_dict.items() if key.startswith(_HEAD_PREFIXES))
        return mapped


def _build(backbone: str, kwargs: dict[str, Any]) -> SimpleBaseline:
    """A SimpleBaseline from a registry builder's keyword arguments (``num_classes`` is the joints)."""
    if "num_classes" in kwargs:
        kwargs["num_joints"] = kwargs.pop("num_classes")
    return SimpleBaseline(backbone, **kwargs)


def _register(backbone: str, params: int, notes: Mapping[str, Any]):
    return register_model(
        family="simple_baseline",
        task="pose",
        paper=PAPER,
        input_size=(3, 256, 192),
        num_classes=17,
        deviations="Head initialised as the authors' code (std 0.001), backbone with its own initialisation "
        "unless a checkpoint is loaded (the paper starts from ImageNet); sides must be multiples of 32.",
        notes={
            "backbone": backbone,
            "output": "(B, 1, 17, 64, 48) heatmaps at 256x192",
            "parameters (3 channels, 17 joints)": params,
            **notes,
        },
    )


@_register(
    "resnet50",
    33_999_697,
    {
        "paper, Table 2 (COCO val2017, 256x192)": {"params": "34.0M", "GFLOPs": 8.90, "AP": 70.4},
        "multiply-accumulates at 256x192 (convzoo.analysis.profile)": "5.43 G",
    },
)
def simple_baseline_resnet50(**kwargs: Any) -> SimpleBaseline:
    """The paper's ResNet-50 network at 256x192: 33,999,697 parameters (the paper's 34.0M)."""
    return _build("resnet50", kwargs)


@_register("resnet18", 15_376_721, {"paper": "not in the paper: a small network of the same design for CPU training"})
def simple_baseline_resnet18(**kwargs: Any) -> SimpleBaseline:
    """ResNet-18 with the paper's head (its deconvolutions start from 512 channels)."""
    return _build("resnet18", kwargs)
