"""Convolution operators, one concept per file; ``convzoo ops`` compares their costs.

Note: ``convzoo.ops.channel_shuffle`` and ``convzoo.ops.stochastic_depth`` are the
functions; their modules are reached with ``from convzoo.ops.channel_shuffle import ...``.
"""

from convzoo.ops.channel_shuffle import ChannelShuffle, channel_shuffle
from convzoo.ops.channelwise import ChannelWiseClassifier, ChannelWiseConv, channelwise_out_channels
from convzoo.ops.conv3d import Conv2Plus1d, Conv3dAsConv2d, conv2plus1d_mid_channels, conv3d_as_conv2d
from convzoo.ops.conv_norm_act import ConvNormAct, same_padding
from convzoo.ops.deform_conv import DeformConv2d
from convzoo.ops.depthwise_separable import DepthwiseSeparableConv2d, separable_cost_ratio
from convzoo.ops.dilated import ContextModule, dilate_kernel, dilated_kernel_size, dilated_receptive_field
from convzoo.ops.dynamic_conv import (
    CondConv2d, DynamicConv2d, annealed_temperature, per_example_conv2d, set_dynamic_temperature,
)
from convzoo.ops.large_kernel import LargeKernelConv2d, large_kernel_taps
from convzoo.ops.learned_group_conv import CondensedConv2d, LearnedGroupConv2d, group_lasso
from convzoo.ops.mixconv import MixConv2d, split_channels
from convzoo.ops.spatially_separable import (
    FilterwiseSeparableConv2d, Separation, SpatiallySeparableConv2d, separable_params, separate,
)
from convzoo.ops.spherical_conv import SphericalConv, SphericalPointClassifier, ball_query, spherical_bins
from convzoo.ops.stochastic_depth import StochasticDepth, stochastic_depth
from convzoo.ops.transposed import ConvTranspose2dAsConv, conv_kernel_of_transposed, transposed_conv_as_conv, zero_insert

__all__ = [
    "ChannelShuffle", "ChannelWiseClassifier", "ChannelWiseConv", "CondConv2d", "CondensedConv2d", "ContextModule",
    "Conv2Plus1d", "Conv3dAsConv2d", "ConvNormAct", "ConvTranspose2dAsConv", "DeformConv2d",
    "DepthwiseSeparableConv2d", "DynamicConv2d", "FilterwiseSeparableConv2d", "LargeKernelConv2d",
    "LearnedGroupConv2d", "MixConv2d", "Separation", "SpatiallySeparableConv2d", "SphericalConv",
    "SphericalPointClassifier", "StochasticDepth",
    "annealed_temperature", "ball_query", "channel_shuffle", "channelwise_out_channels", "conv2plus1d_mid_channels",
    "conv3d_as_conv2d", "conv_kernel_of_transposed", "dilate_kernel", "dilated_kernel_size",
    "dilated_receptive_field", "group_lasso", "large_kernel_taps", "per_example_conv2d", "same_padding",
    "separable_cost_ratio", "separable_params", "separate", "set_dynamic_temperature", "spherical_bins",
    "split_channels", "stochastic_depth", "transposed_conv_as_conv", "zero_insert",
]
