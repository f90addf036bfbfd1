"""Convolution operators, one concept per file."""

from convzoo.ops.conv_norm_act import ConvNormAct, same_padding

__all__ = ["ConvNormAct", "same_padding"]
