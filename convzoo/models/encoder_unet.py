"""U-Net on a zoo encoder: a classifier's stage maps decoded as segmentation_models_pytorch does.

Paper: U-Net: Convolutional Networks for Biomedical Image Segmentation (O. Ronneberger,
P. Fischer, T. Brox, MICCAI 2015) https://arxiv.org/abs/1505.04597

The paper's U-Net learns its contracting path from scratch (:mod:`convzoo.models.unet`).
Most U-Nets trained today take an ImageNet classifier as the contracting path instead, in
the layout of segmentation_models_pytorch (smp), ``smp.Unet(encoder_name)``; this file
builds that layout on any convzoo classifier, through its ``features_only`` encoder
(:class:`~convzoo.models._features.FeatureExtractor`), so that smp's checkpoints load
with identical outputs.

The encoder gives one map per reduction 2, 4, 8, 16, 32 (for ``encoder_depth=5``): of
the classifier's ``feature_info`` stages, the deepest one at each reduction (ResNet-34:
``act1`` 64, ``layer1`` 64, ``layer2`` 128, ``layer3`` 256, ``layer4`` 512 channels;
MobileNetV2: 16, 24, 32, 96 and the final 1x1 conv's 1280). The decoder climbs back one
reduction per block, as the paper's expanding path::

    block  input (ResNet-34, 256 x 256)       skip              output
    0      layer4   512 x 8 x 8   -> up x2    layer3 256 x 16   256 x 16 x 16
    1      256 x 16 x 16          -> up x2    layer2 128 x 32   128 x 32 x 32
    2      128 x 32 x 32          -> up x2    layer1  64 x 64    64 x 64 x 64
    3       64 x 64 x 64          -> up x2    act1    64 x 128   32 x 128 x 128
    4       32 x 128 x 128        -> up x2    (none)             16 x 256 x 256 -> 3x3 conv head

Each block (:class:`DecoderBlock`) up-samples by nearest-neighbour interpolation,
concatenates the skip and applies two 3x3 conv - batch norm - ReLU layers; the head is a
3x3 conv to the classes. The last block has no skip: the input-resolution map that smp's
encoders also return (the image itself) is not used by the decoder. Sides must be
multiples of ``2 ** encoder_depth`` (32), so that every up-sampled map meets its skip.

Deviations:
    The paper's expanding path (2x2 up-convolutions, unpadded convs without batch norm,
    a 1x1 head, a contracting path of its own) is replaced by smp's, which this file
    follows: nearest up-sampling, same-padded convs with batch norm, a 3x3 head, decoder
    widths (256, 128, 64, 32, 16) whatever the encoder's, and a fifth block that
    up-samples to the input's size without a skip. The weights are initialised as smp
    does (decoder convs Kaiming-uniform, head Xavier-uniform, zero biases). smp's
    ``center`` block (VGG encoders only), attention and auxiliary classification head
    are not built. smp accepts sides that are not multiples of 32 (interpolating to each
    skip's size); convzoo refuses them and names the nearest sides that fit. State-dict
    keys are convzoo's (``encoder.body.*``, ``decoder.N.conv1``, ``norm1``, ..., ``head``);
    :meth:`EncoderUNet.remap_state_dict` maps smp's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from convzoo.blocks.unet import DoubleConv
from convzoo.errors import ConvzooError
from convzoo.models._features import FeatureExtractor
from convzoo.models.unet import PAPER, check_unet_input
from convzoo.registry import create_model, register_model

__all__ = [
    "DEFAULT_DECODER_CHANNELS", "DecoderBlock", "EncoderUNet", "skip_stage_indices",
    "unet_resnet18", "unet_resnet34", "unet_resnet50", "unet_mobilenet_v2",
]

DEFAULT_DECODER_CHANNELS = (256, 128, 64, 32, 16)

# One opaque node when the model is traced with torch.fx (receptive fields).
torch.fx.wrap("check_unet_input")


def skip_stage_indices(stages: Sequence[Mapping[str, Any]], depth: int, encoder: str) -> tuple[int, ...]:
    """Indices into ``feature_info`` ``stages`` of the deepest stage at each reduction 2, 4, ..., ``2 ** depth``.

    Raises :class:`ConvzooError` when the encoder has no stage at one of those reductions.
    """
    deepest = {stage["reduction"]: index for index, stage in enumerate(stages)}  # later stages overwrite
    wanted = [2**level for level in range(1, depth + 1)]
    missing = [r for r in wanted if r not in deepest]
    if missing:
        found = ", ".join(f"/{stage['reduction']:g} ({stage['num_chs']} ch)" for stage in stages)
        raise ConvzooError(
            f"encoder {encoder!r} has no stage at reduction {', '.join(f'/{r}' for r in missing)}; a U-Net on it "
            f"needs one at each of {', '.join(f'/{r}' for r in wanted)} (its stages: {found})"
        )
    return tuple(deepest[r] for r in wanted)


class DecoderBlock(DoubleConv):
    """Up-sample by 2 (nearest), concatenate the skip maps, two 3x3 conv - batch norm - ReLU layers.

    Args:
        in_channels: channels of the map to up-sample.
        skip_channels: channels of the skip maps together (0 for none).
        out_channels: channels of the output.

    Shape:
        (B, in_channels, H, W) and skips (B, C_k, 2H, 2W) with ``sum C_k = skip_channels``
        -> (B, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__(in_channels + skip_channels, out_channels, padding=1, norm_layer=nn.BatchNorm2d)

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (B, in_channels, 2H, 2W)
        x = torch.cat([x, *skips], dim=1)  # (B, in_channels + skip_channels, 2H, 2W)
        return super().forward(x)  # (B, out_channels, 2H, 2W)


def init_smp_weights(decoder: nn.Module, head: nn.Module) -> None:
    """smp's initialisation: decoder convs Kaiming-uniform (fan in, ReLU), norms 1 and 0; head Xavier-uniform."""
    for module in decoder.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) and module.bias is not None:
            nn.init.zeros_(module.bias)
    nn.init.xavier_uniform_(head.weight)
    nn.init.zeros_(head.bias)


# smp's Conv2dReLU is Sequential(conv, norm, relu): ``conv1.0`` is our ``conv1``, ``conv1.1`` our ``norm1``.
_SMP_CONV_NORM = re.compile(r"\.conv([12])\.([01])\.")


def smp_block_key(key: str) -> str:
    """``...conv2.1.weight`` (smp's Conv2dReLU) -> ``...norm2.weight`` (convzoo's DoubleConv)."""
    return _SMP_CONV_NORM.sub(lambda m: f".{('conv', 'norm')[int(m[2])]}{m[1]}.", key)


class EncoderUNet(nn.Module):
    """U-Net with a zoo classifier as its contracting path, in segmentation_models_pytorch's layout.

    Args:
        encoder: registry name of the classifier (``"resnet34"``, ``"mobilenet_v2"``, ...).
        in_chans: channels of the input image.
        num_classes: channels of the output map (smp's ``classes``).
        encoder_depth: reductions the encoder takes, 1 to 5 (smp's ``encoder_depth``);
            the decoder has as many blocks.
        decoder_channels: output channels of the decoder blocks, deepest first, one per
            reduction; the first ``encoder_depth`` of (256, 128, 64, 32, 16) when ``None``.
        encoder_kwargs: passed to the classifier's builder (``attn_layer="cbam"``, ...).

    Attributes:
        encoder: the classifier's :class:`~convzoo.models._features.FeatureExtractor`
            (``load_weights(model.encoder, classifier_checkpoint)`` loads ImageNet weights).
        feature_info: the encoder's stages (channels, reduction, module path in this model).

    Shape:
        (B, in_chans, H, W) -> (B, num_classes, H, W), H and W multiples of ``2 ** encoder_depth``.
    """

    def __init__(
        self,
        encoder: str = "resnet34",
        *,
        in_chans: int = 3,
        num_classes: int = 1,
        encoder_depth: int = 5,
        decoder_channels: Sequence[int] | None = None,
        encoder_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= encoder_depth <= 5:
            raise ConvzooError(f"encoder_depth must be 1 to 5 (reductions 2 to 32), got {encoder_depth}")
        if decoder_channels is None:
            decoder_channels = DEFAULT_DECODER_CHANNELS[:encoder_depth]
        if len(decoder_channels) != encoder_depth:
            raise ConvzooError(
                f"decoder_channels {tuple(decoder_channels)} must give one width per reduction, "
                f"{encoder_depth} for encoder_depth={encoder_depth}"
            )
        self.encoder_name = encoder
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.depth = encoder_depth
        self.decoder_channels = tuple(decoder_channels)
        classifier = create_model(encoder, in_chans=in_chans, **dict(encoder_kwargs or {}))
        indices = skip_stage_indices(classifier.feature_info, encoder_depth, encoder)
        self.encoder = FeatureExtractor(classifier, indices)  # create_model(..., features_only=True), built once
        # The encoder's stages, as the U-Net's: what `--freeze features` freezes and what sets the size multiple.
        self.feature_info = [
            dict(num_chs=stage["num_chs"], reduction=stage["reduction"], module=f"encoder.body.{stage['module']}")
            for stage in self.encoder.feature_info
        ]
        self.decoder = self.build_decoder(self.encoder.feature_info.channels())
        self.head = nn.Conv2d(self.decoder_channels[-1], num_classes, kernel_size=3, padding=1)
        init_smp_weights(self.decoder, self.head)

    def build_decoder(self, encoder_channels: Sequence[int]) -> nn.Module:
        """One :class:`DecoderBlock` per reduction, deepest first; the last one without a skip."""
        skips = [*reversed(encoder_channels[:-1]), 0]  # the shallower encoder maps, deepest first, then none
        inputs = [encoder_channels[-1], *self.decoder_channels[:-1]]
        return nn.ModuleList(DecoderBlock(*widths) for widths in zip(inputs, skips, self.decoder_channels))

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The decoder's last map from the encoder's maps (shallowest first)."""
        x, skips = features[-1], features[-2::-1]  # (B, C_5, H / 32, W / 32) and the others, deepest first
        for index, block in enumerate(self.decoder):
            x = block(x, skips[index : index + 1])  # (B, D_i, H / 2^(depth - 1 - i), W / 2^(depth - 1 - i))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_unet_input(x, self.in_chans, self.depth, True, 2, f"{type(self).__name__}({self.encoder_name})")
        features = self.encoder(x)  # (B, C_l, H / 2^l, W / 2^l), l = 1..depth
        return self.head(self.decode(features))  # (B, num_classes, H, W)

    def remap_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a segmentation_models_pytorch state dict (``smp.Unet``, for UNet++ ``smp.UnetPlusPlus``) to our keys.

        ``encoder.*`` goes through the encoder's own remap (torchvision and timm layouts;
        the classifier head is dropped); the decoder's and head's keys are renamed.
        Keys already in convzoo's layout pass unchanged.
        """
        encoder = {key.removeprefix("encoder."): value for key, value in state_dict.items() if key.startswith("encoder.")}
        mapped = {f"encoder.{key}": value for key, value in self.encoder.remap_state_dict(encoder).items()}
        for key, value in state_dict.items():
            if not key.startswith("encoder."):
                mapped[self.decoder_key(key.replace("segmentation_head.0.", "head."))] = value
        return mapped

    def decoder_key(self, key: str) -> str:
        """smp's ``decoder.blocks.N.conv1.0.weight`` -> ``decoder.N.conv1.weight``."""
        return smp_block_key(key.replace("decoder.blocks.", "decoder."))


def _register(encoder: str, params: int):
    return register_model(
        family="unet",
        task="segmentation",
        paper=PAPER,
        input_size=(3, 256, 256),
        num_classes=1,
        deviations="segmentation_models_pytorch's decoder instead of the paper's expanding path: nearest "
        "up-sampling, same-padded 3x3 convs with batch norm, widths 256-16, a 3x3 head; the contracting path is "
        f"a {encoder} classifier's stages; sides must be multiples of 32.",
        notes={
            "layout": f"segmentation_models_pytorch 0.6.0 smp.Unet({encoder!r}): its state dicts load "
            "(remap_state_dict) with identical outputs",
            "encoder": encoder,
            "parameters (3 channels, 1 class), as smp": params,
        },
    )


@_register("resnet18", 14_328_209)
def unet_resnet18(**kwargs: Any) -> EncoderUNet:
    """U-Net on ResNet-18 in smp's layout: 14,328,209 parameters at 1 class, as ``smp.Unet("resnet18")``."""
    return EncoderUNet("resnet18", **kwargs)


@_register("resnet34", 24_436_369)
def unet_resnet34(**kwargs: Any) -> EncoderUNet:
    """U-Net on ResNet-34 in smp's layout: 24,436,369 parameters at 1 class, as ``smp.Unet("resnet34")``."""
    return EncoderUNet("resnet34", **kwargs)


@_register("resnet50", 32_521_105)
def unet_resnet50(**kwargs: Any) -> EncoderUNet:
    """U-Net on ResNet-50 in smp's layout: 32,521,105 parameters at 1 class, as ``smp.Unet("resnet50")``."""
    return EncoderUNet("resnet50", **kwargs)


@_register("mobilenet_v2", 6_628_945)
def unet_mobilenet_v2(**kwargs: Any) -> EncoderUNet:
    """U-Net on MobileNetV2 in smp's layout: 6,628,945 parameters at 1 class, as ``smp.Unet("mobilenet_v2")``."""
    return EncoderUNet("mobilenet_v2", **kwargs)
