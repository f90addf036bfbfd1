"""Convolution operators, one concept per file."""

from convzoo.ops.channel_shuffle import ChannelShuffle, channel_shuffle
from convzoo.ops.conv_norm_act import ConvNormAct, same_padding
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d, separable_cost_ratio
from convzoo.ops.mixconv import MixConv2d, split_channels
from convzoo.ops.stochastic_depth import StochasticDepth, stochastic_depth

__all__ = [
    "ChannelShuffle", "ConvNormAct", "DepthwiseSeparableConv2d", "MixConv2d", "StochasticDepth",
    "channel_shuffle", "same_padding", "separable_cost_ratio", "split_channels", "stochastic_depth",
]
