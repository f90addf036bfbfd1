"""Reusable blocks: residual, inverted residual, inception, dense, shuffle, and attention (``get_attn``)."""

from convzoo.blocks.attention import ATTENTION_BLOCKS, get_attn
from convzoo.blocks.cbam import CBAM, ChannelGate, SpatialGate
from convzoo.blocks.criss_cross import CrissCrossAttention
from convzoo.blocks.dense import DenseBlock, DenseLayer, Transition
from convzoo.blocks.dual_attention import ChannelAttention, DualAttention, PositionAttention
from convzoo.blocks.global_context import GlobalContextBlock
from convzoo.blocks.inception import InceptionBlock, InceptionResidual
from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible
from convzoo.blocks.non_local import NonLocalBlock
from convzoo.blocks.residual import BasicBlock, Bottleneck
from convzoo.blocks.selective_kernel import SelectiveKernel, SelectiveKernelBasic, SelectiveKernelBottleneck
from convzoo.blocks.shuffle import ShuffleV1Unit, ShuffleV2Unit
from convzoo.blocks.split_attention import RadixSoftmax, ResNeStBottleneck, SplitAttention
from convzoo.blocks.squeeze_excite import SqueezeExcite, se_layer

__all__ = [
    "ATTENTION_BLOCKS", "BasicBlock", "Bottleneck", "CBAM", "ChannelAttention", "ChannelGate", "CrissCrossAttention",
    "DenseBlock", "DenseLayer", "DualAttention", "GlobalContextBlock", "InceptionBlock", "InceptionResidual",
    "InvertedResidual", "NonLocalBlock", "PositionAttention", "RadixSoftmax", "ResNeStBottleneck", "SelectiveKernel",
    "SelectiveKernelBasic", "SelectiveKernelBottleneck", "ShuffleV1Unit", "ShuffleV2Unit", "SpatialGate",
    "SplitAttention", "SqueezeExcite", "Transition", "get_attn", "make_divisible", "se_layer",
]
