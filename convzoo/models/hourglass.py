"""Stacked Hourglass networks: repeated bottom-up, top-down inference of joint heatmaps.

Paper: Stacked Hourglass Networks for Human Pose Estimation (A. Newell, K. Yang, J. Deng,
ECCV 2016) https://arxiv.org/abs/1603.06937

The network predicts one heatmap per joint: a map at a quarter of the input resolution
whose peak marks the joint. It is a stem that brings a 256x256 image down to 64x64
features, then ``S`` hourglasses (:class:`~convzoo.blocks.hourglass.Hourglass`) one after
another, each seeing the whole image at every scale. Each hourglass ends in a prediction
that is supervised by the ground-truth heatmaps (intermediate supervision, Section 3.3):
the later hourglasses start from the earlier ones' estimates and refine them, where the
relations between joints (a wrist near an elbow) can be re-evaluated at full context::

    stem      7x7 conv/2 (64) - BN - ReLU - residual 64->128 - 2x2 max-pool
              - residual 128->128 - residual 128->256              (B, 256, H/4, W/4)
    stack i   y = hourglass(x) - residuals - 1x1 conv-BN-ReLU       (B, 256, H/4, W/4)
              heatmaps_i = 1x1 conv(y)                              (B, J, H/4, W/4)
              x = x + 1x1 conv(y) + 1x1 conv(heatmaps_i)            (all stacks but the last)

The last line (Fig. 4, right) is how the prediction re-enters: the heatmaps are mapped
back to 256 channels by a 1x1 conv and added, with a 1x1 remap of the stack's features,
to the stack's input. Every residual module outputs 256 channels (Section 3.2). The loss
is the mean squared error between each stack's heatmaps and 2-D Gaussians (std 1 px)
centred on the joints, summed over the stacks (Section 3.4). With 8 stacks the paper
reaches 90.9 PCKh@0.5 on the MPII test set. Already one stack's theoretical receptive field
(705 px, :func:`convzoo.analysis.receptive_field`) is wider than the 256 px input.

:class:`StackedHourglass` returns every stack's heatmaps, ``(B, S, J, H/4, W/4)``; the
last stack's, ``[:, -1]``, are the prediction. Submodules follow bearpaw's pytorch-pose
``HourglassNet`` (the ``hg`` architecture with ``--stacks S --blocks 1``), so its
checkpoints (``hg_s2_b1``, ``hg_s8_b1``; a ``state_dict`` saved from ``nn.DataParallel``,
which :func:`convzoo.load_weights` unwraps) load with identical keys and outputs.

Deviations:
    The paper's results come from 8 stacks with one residual module per place; the 2- and
    1-stack variants are smaller networks of the same layout (bearpaw trained 2 and 8). The
    convs have biases and PyTorch's default initialisation, as in the authors' Torch code
    and bearpaw's port. Sides must be multiples of 64 (the stem's 4 and the hourglass's 4
    pools): other sizes would be floored by a pool and the sums would not line up.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.blocks.hourglass import Hourglass, PreActBottleneck, residual_stack
from convzoo.errors import InputShapeError
from convzoo.ops.conv_norm_act import LayerFactory
from convzoo.registry import Paper, register_model

__all__ = ["StackedHourglass", "check_side_multiple", "hourglass_s1", "hourglass_s2", "hourglass_s8"]

PAPER = Paper(
    title="Stacked Hourglass Networks for Human Pose Estimation",
    authors="A. Newell, K. Yang, J. Deng",
    venue="ECCV",
    year=2016,
    url="https://arxiv.org/abs/1603.06937",
)

STEM_STRIDE = 4  # the 7x7 conv's stride 2 and one 2x2 max-pool
STEM_CHANNELS = 64


def check_side_multiple(x: torch.Tensor, in_chans: int, multiple: int, model: str) -> None:
    """Raise :class:`InputShapeError` unless ``x`` is ``(B, in_chans, H, W)`` with H and W positive multiples of ``multiple``.

    A side that is not one is refused with the nearest valid sides.
    """
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise InputShapeError(f"{model} expects input of shape (B, {in_chans}, H, W), got {tuple(x.shape)}")
    for axis, size in zip("HW", x.shape[-2:]):
        size = int(size)
        if size % multiple or size == 0:
            below = size // multiple * multiple
            nearest = [side for side in (below, below + multiple) if side > 0]
            raise InputShapeError(
                f"{model} needs H and W to be multiples of {multiple}; {axis} is {size}, "
                f"the nearest valid sides are {' and '.join(map(str, nearest))}"
            )


# The input check is one opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_side_multiple")


class StackedHourglass(nn.Module):
    """Stacked Hourglass network: a stem, then ``num_stacks`` hourglasses with intermediate supervision.

    Args:
        num_stacks: hourglasses one after another (8 in the paper).
        num_joints: heatmaps per stack, one per joint (16 for MPII).
        in_chans: channels of the input image.
        num_blocks: residual modules at each place (1 in the paper's final network).
        num_features: width of the residual modules' inner convs; their output, and every
            map between the stacks, has ``2 * num_features`` channels (256 in the paper).
        depth: max-pools in each hourglass (4 in the paper).
        norm_layer: builds a norm from a channel count.
        act_layer: builds an activation from no arguments.

    Attributes:
        num_joints, num_pafs (0: heatmaps only), output_stride (4), in_chans,
        min_input_size and size_multiple (both ``4 * 2 ** depth``: 64).

    Shape:
        (B, in_chans, H, W) -> (B, num_stacks, num_joints, H / 4, W / 4), H and W multiples of 64.
    """

    num_pafs = 0
    output_stride = STEM_STRIDE

    def __init__(
        self,
        num_stacks: int = 8,
        num_joints: int = 16,
        *,
        in_chans: int = 3,
        num_blocks: int = 1,
        num_features: int = 128,
        depth: int = 4,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = partial(nn.ReLU, inplace=True),
    ) -> None:
        super().__init__()
        if num_stacks < 1 or num_blocks < 1:
            raise ValueError(f"num_stacks and num_blocks must be at least 1, got {num_stacks} and {num_blocks}")
        channels = num_features * PreActBottleneck.expansion
        self.num_stacks = num_stacks
        self.num_joints = num_joints
        self.in_chans = in_chans
        self.num_blocks = num_blocks
        self.num_features = num_features
        self.depth = depth
        self.size_multiple = self.min_input_size = STEM_STRIDE * 2**depth

        # Stem: (B, in_chans, H, W) -> (B, channels, H / 4, W / 4). Names and nesting as bearpaw's.
        mid = 2 * STEM_CHANNELS
        self.conv1 = nn.Conv2d(in_chans, STEM_CHANNELS, 7, stride=2, padding=3)
        self.bn1 = norm_layer(STEM_CHANNELS)
        self.relu = act_layer()
        self.layer1 = nn.Sequential(PreActBottleneck(STEM_CHANNELS, mid, norm_layer, act_layer))
        self.maxpool = nn.MaxPool2d(2, stride=2)
        self.layer2 = nn.Sequential(PreActBottleneck(mid, mid, norm_layer, act_layer))
        self.layer3 = nn.Sequential(PreActBottleneck(mid, channels, norm_layer, act_layer))

        stacks = range(num_stacks)
        self.hg = nn.ModuleList(Hourglass(channels, depth, num_blocks, norm_layer, act_layer) for _ in stacks)
        self.res = nn.ModuleList(residual_stack(channels, num_blocks, norm_layer, act_layer) for _ in stacks)
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 1), norm_layer(channels), act_layer()) for _ in stacks
        )
        self.score = nn.ModuleList(nn.Conv2d(channels, num_joints, 1) for _ in stacks)
        # Remaps of the features (fc_) and of the heatmaps (score_) into the next stack's input.
        self.fc_ = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in stacks[1:])
        self.score_ = nn.ModuleList(nn.Conv2d(num_joints, channels, 1) for _ in stacks[1:])

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        """The 256x256 -> 64x64 stem: (B, in_chans, H, W) -> (B, channels, H / 4, W / 4)."""
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, H / 2, W / 2)
        x = self.maxpool(self.layer1(x))  # (B, 128, H / 4, W / 4)
        return self.layer3(self.layer2(x))  # (B, channels, H / 4, W / 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_side_multiple(x, self.in_chans, self.size_multiple, type(self).__name__)
        x = self.forward_stem(x)  # (B, channels, H / 4, W / 4)
        heatmaps = []
        for index in range(self.num_stacks):
            y = self.fc[index](self.res[index](self.hg[index](x)))  # (B, channels, H / 4, W / 4)
            score = self.score[index](y)  # (B, J, H / 4, W / 4)
            heatmaps.append(score)
            if index < self.num_stacks - 1:  # Fig. 4 (right): the prediction re-enters the next stack
                x = x + self.fc_[index](y) + self.score_[index](score)
        return torch.stack(heatmaps, dim=1)  # (B, S, J, H / 4, W / 4)


def _build(num_stacks: int, kwargs: dict[str, Any]) -> StackedHourglass:
    """A StackedHourglass from a registry builder's keyword arguments (``num_classes`` is the joints)."""
    if "num_classes" in kwargs:
        kwargs["num_joints"] = kwargs.pop("num_classes")
    return StackedHourglass(num_stacks, **kwargs)


DEVIATIONS = (
    "Convs with biases and PyTorch's default initialisation, as the authors' Torch code and bearpaw's port; "
    "sides must be multiples of 64."
)

# Parameters at the defaults (3 channels, 16 joints, one residual module per place), counted
# here and equal to bearpaw's HourglassNet(num_stacks=S, num_blocks=1) (pinned in the tests).
PARAMS = {1: 3_426_448, 2: 6_570_400, 8: 25_434_112}

_MPII_PCKH = {
    "MPII test PCKh@0.5, 8 stacks (paper, Table 2)": {
        "head": 98.2, "shoulder": 96.3, "elbow": 91.2, "wrist": 87.1, "hip": 90.1, "knee": 87.4, "ankle": 83.6,
        "total": 90.9,
    },
}


def _register(num_stacks: int, notes: dict[str, Any]):
    return register_model(
        family="hourglass",
        task="pose",
        paper=PAPER,
        input_size=(3, 256, 256),
        num_classes=16,
        deviations=DEVIATIONS,
        notes={
            "layout": f"bearpaw/pytorch-pose HourglassNet(num_stacks={num_stacks}, num_blocks=1): its state dicts "
            "load unmapped, with identical outputs",
            "output": f"(B, {num_stacks}, 16, 64, 64) heatmaps at 256x256, one set per stack; [:, -1] is the prediction",
            "parameters (3 channels, 16 joints)": PARAMS[num_stacks],
            **notes,
        },
    )


@_register(1, {})
def hourglass_s1(**kwargs: Any) -> StackedHourglass:
    """A single hourglass (no intermediate supervision)."""
    return _build(1, kwargs)


@_register(2, {"MPII validation PCKh@0.5 (bearpaw, hg_s2_b1 best)": 86.95})
def hourglass_s2(**kwargs: Any) -> StackedHourglass:
    """Two stacked hourglasses, the smallest with intermediate supervision."""
    return _build(2, kwargs)


@_register(8, {**_MPII_PCKH, "MPII validation PCKh@0.5 (bearpaw, hg_s8_b1 best)": 88.78})
def hourglass_s8(**kwargs: Any) -> StackedHourglass:
    """The paper's network: eight stacked hourglasses."""
    return _build(8, kwargs)
