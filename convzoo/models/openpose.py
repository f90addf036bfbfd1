"""OpenPose: multi-person 2D pose from part confidence maps and part affinity fields.

Paper: Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields (Zhe Cao, Tomas
Simon, Shih-En Wei, Yaser Sheikh, CVPR 2017) https://arxiv.org/abs/1611.08050

A top-down method finds every person first and then estimates one pose per box, so its
cost grows with the number of people. OpenPose is *bottom-up*: one pass of the network
over the whole image predicts, at every pixel,

* a **confidence map** per body part, ``S``: a Gaussian peak at each person's part (the
  maximum over people, Eq. 6-7);
* a **part affinity field** (PAF) per limb, ``L``: two channels holding the unit vector
  that points from the limb's first part to its second on the pixels the limb covers, zero
  elsewhere (Eq. 8-9). A PAF says both *where* a limb is and *which way* it runs.

The parts are then grouped into people (Sec. 2.3-2.4): every pair of part candidates that
a limb could join is scored by the line integral of the limb's PAF along the segment
between them (Eq. 10), and the best pairs are matched greedily, limb by limb. The network
does not know how many people there are; the grouping is cheap next to the network.

The network (Fig. 3) is a Convolutional Pose Machine with two branches per stage::

    F       = VGG-19's first ten convs (3 max-pools: stride 8) + two convs to 128 channels
    stage 1:  L^1 = phi^1(F),                     S^1 = rho^1(F)                     (Eq. 1)
    stage t:  L^t = phi^t(L^{t-1}, S^{t-1}, F),   S^t = rho^t(L^{t-1}, S^{t-1}, F)   (Eq. 2)

Stage 1's branches are three 3x3 convs (128), a 1x1 conv (512) and a 1x1 output conv;
every later stage sees the previous stage's predictions beside the image features
(38 + 19 + 128 = 185 channels) through five 7x7 convs (128), a 1x1 conv (128) and a 1x1
output conv: its large field relates distant parts and refines what the stage before
predicted. Every conv has a bias and is followed by a ReLU, the output convs excepted. Each
stage is supervised (Eq. 3-5: an L2 loss on both branches, masked where people are not
annotated), which replenishes the gradient of the early stages. CMU's COCO body model has 6
stages, 18 parts (:data:`~convzoo.data.pose.skeleton.OPENPOSE_COCO`: COCO's 17 and the
neck) plus a background map, and 19 limbs (38 PAF channels, in the order of
``OPENPOSE_COCO.paf_channels``): 52,311,446 parameters.

Weights. CMU's Caffe model, converted to PyTorch by pytorch-openpose (Hzzone/pytorch-openpose,
``body_pose_model.pth``), keys its tensors by the Caffe layer names (``conv1_1.weight``,
``conv5_5_CPM_L1.bias``, ``Mconv7_stage6_L2.weight``); pytorch-openpose's
``bodypose_model`` nests them under ``model0`` (the features), ``model{t}_1`` (stage ``t``'s
PAF branch, Caffe's ``L1``) and ``model{t}_2`` (its confidence-map branch, ``L2``).
:class:`OpenPose` has those very modules, so a ``bodypose_model`` state dict loads with
``strict=True``, and :meth:`OpenPose.remap_state_dict` (which :func:`convzoo.load_weights`
calls) adds the prefixes to the released file's flat keys. Those weights expect a BGR
image scaled as ``x / 256 - 0.5`` and padded to a multiple of 8 with grey (128).

:class:`OpenPoseNet` is the same two-branch scheme on any zoo backbone, small enough to
train on a CPU: the backbone's stage at stride 8 (``create_model(name,
features_only=True)``), a 1x1 and a 3x3 conv to ``width`` channels in place of
``conv4_3_CPM``/``conv4_4_CPM``, then ``stages`` two-branch stages.

Output (convzoo's pose convention): one tensor ``(B, stages, num_pafs + num_maps, H / 8,
W / 8)``, per stage the PAF channels first and then the confidence maps, background last;
the last stage ``[:, -1]`` is the prediction, the others are for intermediate supervision.
:func:`split_pafs_and_maps` separates the two.

Deviations:
    - Every stage's prediction is returned, stacked, for the loss; CMU's deployed network
      gives the last stage only, and pytorch-openpose's ``bodypose_model`` returns the
      last stage's ``(pafs, maps)`` pair.
    - pytorch-openpose puts a ReLU after the last stage's confidence maps (its list of
      output layers without ReLU names ``Mconv7_stage6_L1`` twice and misses
      ``Mconv7_stage6_L2``); CMU's Caffe model, the paper and :class:`OpenPose` do not:
      pytorch-openpose's maps are the ReLU of ours, equal wherever they are positive,
      which is everywhere the grouping looks (peaks above 0.1).
    - The background map (the last of the 19) is CMU's; the paper does not describe it.
    - Any side of at least 8 is taken; the three 2x2 max-pools round odd sides down, so
      the maps are ``floor(H / 8)`` (exactly ``H / 8`` for the multiples of 8 CMU pads to).
    - :class:`OpenPoseNet`: a zoo backbone for VGG-19 (cut at its stride-8 stage), widths
      scaled by ``width / 128`` (the 1x1 conv of stage 1 is ``4 * width``, the paper's
      512 at 128), and 3x3 convs in the refinement stages by default
      (``refine_kernel_size=3``) where the paper has 7x7, for a CPU's budget (a 7x7 conv
      costs 5.4 times as much; the field of a stage shrinks from 31 to 11 pixels of the
      stride-8 map). Optional batch norm in the heads (``norm_layer``; none by default, as
      in the paper).
    - Initialisation (the paper gives none; CMU's weights replace it): the stage convs (and
      :class:`OpenPoseNet`'s adapter) start He-normal (fan out, ReLU) with zero biases and
      the output convs at N(0, 0.01), so an untrained network predicts near-zero maps and
      fields, as the targets are almost everywhere; VGG's convs keep PyTorch's default, a
      zoo backbone its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.models._classifier import check_image_input
from convzoo.models._features import FeatureExtractor
from convzoo.ops.conv_norm_act import ConvNormAct, LayerFactory
from convzoo.registry import Paper, create_model, register_model

__all__ = [
    "PAPER",
    "OpenPose",
    "OpenPoseNet",
    "PafStage",
    "split_pafs_and_maps",
    "stage_at_reduction",
    "openpose_coco",
    "openpose_small",
]

PAPER = Paper(
    title="Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields",
    authors="Zhe Cao, Tomas Simon, Shih-En Wei, Yaser Sheikh",
    venue="CVPR",
    year=2017,
    url="https://arxiv.org/abs/1611.08050",
)

# The input check is one opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_image_input")

# VGG-19's first ten convs, block by block, in CMU's layer names: (width, convs); a 2x2
# max-pool ``pool{block}_stage1`` follows each of the first three blocks.
_VGG19_BLOCKS = (
    (64, ("conv1_1", "conv1_2")),
    (128, ("conv2_1", "conv2_2")),
    (256, ("conv3_1", "conv3_2", "conv3_3", "conv3_4")),
    (512, ("conv4_1", "conv4_2")),
)
# CMU's two convs that bring VGG's 512 channels down to the image features F.
_CPM_CONVS = (("conv4_3_CPM", 256), ("conv4_4_CPM", 128))
FEATURES = 128  # channels of F
OUTPUT_STRIDE = 8


def split_pafs_and_maps(output: torch.Tensor, num_pafs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An OpenPose output (or one stage of it) split on the channel axis into (PAFs, confidence maps).

    Shape:
        (..., num_pafs + M, h, w) -> (..., num_pafs, h, w) and (..., M, h, w)
    """
    return output[..., :num_pafs, :, :], output[..., num_pafs:, :, :]


def _conv(name: str, in_channels: int, out_channels: int, kernel_size: int, relu: bool) -> list[tuple[str, nn.Module]]:
    """A same-padded conv with a bias, named ``name``, and a ReLU after it unless it is an output conv."""
    layers: list[tuple[str, nn.Module]] = [
        (name, nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2))
    ]
    if relu:
        layers.append((f"relu_{name}", nn.ReLU(inplace=True)))
    return layers


def _image_features(in_chans: int) -> nn.Sequential:
    """F: VGG-19's conv1_1 .. conv4_2 with three max-pools, then conv4_3_CPM and conv4_4_CPM (stride 8, 128 ch)."""
    layers: list[tuple[str, nn.Module]] = []
    channels = in_chans
    for block, (width, names) in enumerate(_VGG19_BLOCKS, start=1):
        for name in names:
            layers += _conv(name, channels, width, 3, relu=True)
            channels = width
        if block < len(_VGG19_BLOCKS):
            layers.append((f"pool{block}_stage1", nn.MaxPool2d(kernel_size=2, stride=2)))
    for name, width in _CPM_CONVS:
        layers += _conv(name, channels, width, 3, relu=True)
        channels = width
    return nn.Sequential(OrderedDict(layers))


def _branch(stage: int, branch: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """One branch of one stage in CMU's layer names; ``branch`` 1 predicts the PAFs (L1), 2 the maps (L2)."""
    if stage == 1:
        names = [f"conv5_{i}_CPM_L{branch}" for i in range(1, 6)]
        widths, kernels = (128, 128, 128, 512, out_channels), (3, 3, 3, 1, 1)
    else:
        names = [f"Mconv{i}_stage{stage}_L{branch}" for i in range(1, 8)]
        widths, kernels = (128, 128, 128, 128, 128, 128, out_channels), (7, 7, 7, 7, 7, 1, 1)
    layers: list[tuple[str, nn.Module]] = []
    channels = in_channels
    for index, (name, width, kernel) in enumerate(zip(names, widths, kernels)):
        layers += _conv(name, channels, width, kernel, relu=index < len(names) - 1)
        channels = width
    return nn.Sequential(OrderedDict(layers))


def _init_heads(heads: Sequence[nn.Module], output_convs: Sequence[nn.Conv2d]) -> None:
    """He-normal (fan out, ReLU) convs with zero biases; the output convs at N(0, 0.01)."""
    for head in heads:
        for module in head.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
    for conv in output_convs:
        nn.init.normal_(conv.weight, std=0.01)


def _check_counts(num_parts: int, num_limbs: int, stages: int) -> None:
    if num_parts < 1 or num_limbs < 1 or stages < 1:
        raise ConvzooError(
            f"OpenPose needs at least one part, one limb and one stage, got num_parts={num_parts}, "
            f"num_limbs={num_limbs}, stages={stages}"
        )


class OpenPose(nn.Module):
    """CMU's OpenPose body network (Cao et al. 2017), in pytorch-openpose's module layout.

    Args:
        in_chans: channels of the input image (3; CMU's weights expect BGR, ``x / 256 - 0.5``).
        num_parts: body parts; one confidence map each, and one for the background.
        num_limbs: limbs; a two-channel part affinity field each.
        stages: two-branch stages (6 in CMU's model); stage ``t``'s branches are the
            modules ``model{t}_1`` (PAFs) and ``model{t}_2`` (maps).

    Attributes:
        num_joints: the parts (18), the confidence maps without the background.
        num_pafs: the PAF channels, ``2 * num_limbs`` (38), first in every stage's output.
        num_classes: the confidence maps, ``num_parts + 1`` (19), after the PAFs.
        output_stride: 8.

    Shape:
        (B, in_chans, H, W) -> (B, stages, num_pafs + num_classes, H // 8, W // 8), H, W >= 8.
    """

    min_input_size = OUTPUT_STRIDE
    output_stride = OUTPUT_STRIDE

    def __init__(self, in_chans: int = 3, num_parts: int = 18, num_limbs: int = 19, stages: int = 6) -> None:
        super().__init__()
        _check_counts(num_parts, num_limbs, stages)
        self.in_chans = in_chans
        self.num_joints = num_parts
        self.num_pafs = 2 * num_limbs
        self.num_classes = num_parts + 1
        self.num_stages = stages
        self.model0 = _image_features(in_chans)
        for stage in range(1, stages + 1):
            in_channels = FEATURES if stage == 1 else self.num_pafs + self.num_classes + FEATURES
            self.add_module(f"model{stage}_1", _branch(stage, 1, in_channels, self.num_pafs))
            self.add_module(f"model{stage}_2", _branch(stage, 2, in_channels, self.num_classes))
        heads = [module for name, module in self.named_children() if name != "model0"]
        _init_heads(heads, [head[-1] for head in heads])

    def branches(self) -> list[tuple[nn.Module, nn.Module]]:
        """Each stage's (PAF branch, confidence-map branch), first stage first."""
        return [(getattr(self, f"model{t}_1"), getattr(self, f"model{t}_2")) for t in range(1, self.num_stages + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_chans, self.min_input_size, None, type(self).__name__)
        features = self.model0(x)  # F: (B, 128, H / 8, W / 8)
        outputs: list[torch.Tensor] = []
        for pafs, maps in self.branches():
            stage_input = torch.cat([outputs[-1], features], dim=1) if outputs else features  # (B, 185, h, w)
            outputs.append(torch.cat([pafs(stage_input), maps(stage_input)], dim=1))  # (B, 38 + 19, h, w)
        return torch.stack(outputs, dim=1)  # (B, stages, 57, H / 8, W / 8)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Keys of CMU's converted weights (``conv1_1.weight``, pytorch-openpose's ``body_pose_model.pth``) -> ours.

        Each Caffe layer name gains the module it lives in (``model0.conv1_1.weight``,
        ``model6_2.Mconv7_stage6_L2.bias``); keys already in this layout (a
        ``bodypose_model`` state dict) pass unchanged.
        """
        by_layer = {key.split(".", 1)[1]: key for key in self.state_dict()}
        return {by_layer.get(key, key): value for key, value in state_dict.items()}


class PafStage(nn.Module):
    """One stage of :class:`OpenPoseNet`: two branches over the same input, PAFs then confidence maps.

    Each branch is ``num_convs`` ``kernel_size`` convs of ``width`` channels, a 1x1 conv
    of ``hidden`` channels and a 1x1 output conv (Fig. 3 of the paper).

    Args:
        in_channels: channels of the stage's input.
        width: channels of the ``kernel_size`` convs.
        kernel_size: side of their kernels.
        num_convs: how many of them each branch has.
        hidden: channels of the 1x1 conv before the output conv.
        num_pafs: PAF channels, the first branch's output.
        num_maps: confidence maps, the second branch's output.
        norm_layer: a norm after each hidden conv; ``None`` for none (the paper's), the convs then have biases.

    Shape:
        (B, in_channels, h, w) -> (B, num_pafs + num_maps, h, w)
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        kernel_size: int,
        num_convs: int,
        hidden: int,
        num_pafs: int,
        num_maps: int,
        norm_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        self.pafs = self._branch(in_channels, width, kernel_size, num_convs, hidden, num_pafs, norm_layer)
        self.maps = self._branch(in_channels, width, kernel_size, num_convs, hidden, num_maps, norm_layer)

    @staticmethod
    def _branch(
        in_channels: int,
        width: int,
        kernel_size: int,
        num_convs: int,
        hidden: int,
        out_channels: int,
        norm_layer: LayerFactory | None,
    ) -> nn.Sequential:
        widths = [in_channels] + [width] * num_convs
        convs = [ConvNormAct(a, b, kernel_size, norm_layer=norm_layer) for a, b in zip(widths, widths[1:])]
        return nn.Sequential(
            *convs,
            ConvNormAct(width, hidden, 1, norm_layer=norm_layer),
            nn.Conv2d(hidden, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pafs(x), self.maps(x)], dim=1)  # (B, num_pafs + num_maps, h, w)


def stage_at_reduction(stages: Sequence[Mapping[str, Any]], reduction: int, backbone: str) -> int:
    """Index into ``feature_info`` ``stages`` of the deepest stage at ``reduction``; an error listing them if none."""
    matches = [index for index, stage in enumerate(stages) if stage["reduction"] == reduction]
    if not matches:
        found = ", ".join(f"/{stage['reduction']:g} ({stage['num_chs']} ch)" for stage in stages)
        raise ConvzooError(f"backbone {backbone!r} has no stage at reduction /{reduction} (its stages: {found})")
    return matches[-1]


class OpenPoseNet(nn.Module):
    """OpenPose's two-branch, multi-stage head on a zoo backbone's stride-8 (or ``output_stride``) stage.

    Args:
        backbone: registry name of a classifier; its deepest stage at ``output_stride`` is
            taken through ``features_only``.
        stages: two-branch stages (the paper's CMU model has 6).
        width: channels of the features F and of the stages' convs (the paper's 128).
        num_parts: body parts; one confidence map each, and one for the background.
        num_limbs: limbs; a two-channel part affinity field each.
        in_chans: channels of the input image.
        output_stride: reduction of the backbone stage taken, and of the output maps.
        refine_kernel_size: kernel side of the refinement stages' convs (the paper's 7).
        norm_layer: a norm after the heads' hidden convs; ``None`` (the paper's) for none.
        backbone_kwargs: passed to the backbone's builder.

    Attributes:
        backbone: the classifier's :class:`~convzoo.models._features.FeatureExtractor`.
        num_joints, num_pafs, num_classes, output_stride: as :class:`OpenPose`'s.
        feature_info: the backbone stage taken (channels, reduction, module path in this model).

    Shape:
        (B, in_chans, H, W) -> (B, stages, num_pafs + num_classes, H / s, W / s), ``s``
        the output stride, for sides that are multiples of the backbone's stride.
    """

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        stages: int = 2,
        width: int = 64,
        num_parts: int = 18,
        num_limbs: int = 19,
        *,
        in_chans: int = 3,
        output_stride: int = OUTPUT_STRIDE,
        refine_kernel_size: int = 3,
        norm_layer: LayerFactory | None = None,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        _check_counts(num_parts, num_limbs, stages)
        self.backbone_name = backbone
        self.in_chans = in_chans
        self.num_joints = num_parts
        self.num_pafs = 2 * num_limbs
        self.num_classes = num_parts + 1
        self.num_stages = stages
        self.output_stride = output_stride
        classifier = create_model(backbone, in_chans=in_chans, **dict(backbone_kwargs or {}))
        index = stage_at_reduction(classifier.feature_info, output_stride, backbone)
        self.backbone = FeatureExtractor(classifier, (index,))  # create_model(..., features_only=True), built once
        stage = self.backbone.feature_info[0]
        self.feature_info = [dict(num_chs=stage["num_chs"], reduction=output_stride, module=f"backbone.body.{stage['module']}")]
        self.min_input_size = max(self.backbone.min_input_size, output_stride)
        self.adapter = nn.Sequential(  # conv4_3_CPM and conv4_4_CPM's part: the backbone's channels to F
            ConvNormAct(stage["num_chs"], width, 1, norm_layer=norm_layer),
            ConvNormAct(width, width, 3, norm_layer=norm_layer),
        )
        outputs = self.num_pafs + self.num_classes
        self.stages = nn.ModuleList(
            [PafStage(width, width, 3, 3, 4 * width, self.num_pafs, self.num_classes, norm_layer)]
            + [
                PafStage(outputs + width, width, refine_kernel_size, 5, width, self.num_pafs, self.num_classes, norm_layer)
                for _ in range(stages - 1)
            ]
        )
        heads = [self.adapter, *self.stages]
        _init_heads(heads, [branch[-1] for stage in self.stages for branch in (stage.pafs, stage.maps)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_chans, self.min_input_size, None, f"{type(self).__name__}({self.backbone_name})")
        features = self.adapter(self.backbone(x)[0])  # F: (B, width, H / s, W / s)
        outputs: list[torch.Tensor] = []
        for stage in self.stages:
            stage_input = torch.cat([outputs[-1], features], dim=1) if outputs else features  # Eq. 2
            outputs.append(stage(stage_input))  # (B, num_pafs + num_classes, H / s, W / s)
        return torch.stack(outputs, dim=1)  # (B, stages, num_pafs + num_classes, H / s, W / s)


def _parts(num_classes: int | None) -> dict[str, int]:
    """``num_classes`` (confidence maps, background included, as ``create_model`` passes it) as ``num_parts``."""
    if num_classes is None:
        return {}
    if num_classes < 2:
        raise ConvzooError(f"OpenPose's num_classes counts the parts and the background: at least 2, got {num_classes}")
    return {"num_parts": num_classes - 1}


_ENTRY = dict(family="openpose", task="pose", paper=PAPER, num_classes=19)

_NOTES = {
    "output": "(B, stages, 38 PAF channels + 19 confidence maps (18 OPENPOSE_COCO parts, background last), H/8, W/8)",
    "COCO 2016 keypoint test-dev AP (paper)": 61.8,
    "num_classes": "confidence maps, background included: num_parts + 1",
}


@register_model(
    **_ENTRY,
    input_size=(3, 368, 368),
    deviations="All 6 stages' outputs are returned, stacked (CMU's network gives the last); "
    "pytorch-openpose's ReLU on the last confidence maps (a typo in its layer list) is left out, as in CMU's model.",
    notes={
        **_NOTES,
        "layout": "pytorch-openpose's bodypose_model (Hzzone/pytorch-openpose): its state dicts load with "
        "strict=True, and its body_pose_model.pth (Caffe layer names) through load_weights; outputs identical",
        "parameters (paper's CMU model)": 52_311_446,
        "input": "BGR, x / 256 - 0.5, sides padded to a multiple of 8 with grey (CMU's weights)",
    },
)
def openpose_coco(num_classes: int | None = None, **kwargs: Any) -> OpenPose:
    """CMU's COCO body model: VGG-19 features, 6 stages, 18 parts + background, 19 limbs: 52,311,446 parameters."""
    return OpenPose(**{**_parts(num_classes), **kwargs})


@register_model(
    **_ENTRY,
    input_size=(3, 256, 256),
    deviations="MobileNetV2 cut at stride 8 for VGG-19; width 64 for 128; 2 stages for 6; 3x3 convs in the "
    "refinement stage for 7x7 (CPU budget).",
    notes={**_NOTES, "backbone": "mobilenet_v2 (stride-8 stage, 32 channels)"},
)
def openpose_small(num_classes: int | None = None, **kwargs: Any) -> OpenPoseNet:
    """A CPU-sized OpenPose: MobileNetV2 to stride 8, width 64, 2 stages, 3x3 refinement convs."""
    return OpenPoseNet(**{"backbone": "mobilenet_v2", **_parts(num_classes), **kwargs})
