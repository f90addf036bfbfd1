"""Reusable blocks: residual, inverted residual, inception, dense, shuffle, squeeze-and-excitation."""

from convzoo.blocks.dense import DenseBlock, DenseLayer, Transition
from convzoo.blocks.inception import InceptionBlock, InceptionResidual
from convzoo.blocks.inverted_residual import InvertedResidual, make_divisible
from convzoo.blocks.residual import BasicBlock, Bottleneck
from convzoo.blocks.shuffle import ShuffleV1Unit, ShuffleV2Unit
from convzoo.blocks.squeeze_excite import SqueezeExcite

__all__ = [
    "BasicBlock", "Bottleneck", "DenseBlock", "DenseLayer", "InceptionBlock", "InceptionResidual",
    "InvertedResidual", "ShuffleV1Unit", "ShuffleV2Unit", "SqueezeExcite", "Transition", "make_divisible",
]
