"""LeNet-5: the convolutional network that read handwritten digits and bank cheques.

Paper: Gradient-Based Learning Applied to Document Recognition (Y. LeCun, L. Bottou,
Y. Bengio, P. Haffner, Proceedings of the IEEE 1998) http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf

A fully connected network on raw pixels must learn a stroke detector again for every
position it may appear in, and it ignores that neighbouring pixels belong together.
LeNet-5 builds three pieces of prior knowledge into the architecture instead
(Section II-A):

* local receptive fields: a unit sees only a small 5x5 window of the layer below, so
  it can detect local features such as edges, end points and corners;
* shared weights: every unit of a feature map applies the same 5x5 kernel at its own
  position, which is a convolution; a feature is found wherever it is, and a whole map
  costs 25 weights and one bias instead of a weight set per position;
* sub-sampling: halving the resolution after each convolution makes the exact
  position of a feature matter less, which gives some tolerance to shifts and
  distortions.

Convolution (C) and sub-sampling (S) layers alternate, the number of maps grows as
the resolution shrinks, and two fully connected layers finish the job::

    input 1@32x32 -> C1 6@28x28 -> S2 6@14x14 -> C3 16@10x10 -> S4 16@5x5
                  -> C5 120@1x1 -> F6 84 -> output 10

C5 is a 5x5 convolution; on the 5x5 maps of S4 it has a 1x1 output, so here it acts
as a fully connected layer (the paper calls it a convolution because on a bigger input
its maps would be bigger). Both builders below keep it a convolution, which makes
:meth:`forward_features` return C5's 120 maps.

Two builders:

* ``lenet5``: the version taught in courses today. ReLU, 2x2 max-pooling, a C3 that
  sees all six S2 maps, a linear output layer and cross-entropy. 61,706 parameters.
* ``lenet5_1998``: the paper's network, 60,000 trainable parameters.

  - Every unit up to F6 computes a weighted sum ``a`` of its inputs plus a bias and
    passes it through the squashing function ``f(a) = A tanh(S a)`` with
    ``A = 1.7159`` and ``S = 2/3`` (Section II-B, Appendix A); these constants make
    ``f(1) = 1`` and ``f(-1) = -1``, with the steepest gain around 0.
  - S2 and S4 add the four inputs of each 2x2 block, multiply the sum by one
    trainable coefficient per map and add one trainable bias per map.
  - C3 is only partly connected (Table I): each of its 16 maps combines a different
    subset of the 6 S2 maps. This keeps the number of connections down and, more
    importantly, breaks the symmetry between maps, so that they are forced to learn
    different features.
  - The output layer has one Euclidean radial basis function unit per class,
    ``y_i = sum_j (x_j - w_ij)^2``: the squared distance between F6's output and a
    fixed prototype vector of +1/-1 entries for class ``i``. A small ``y_i`` means
    "looks like class i"; the paper trains by lowering the correct class's ``y``
    (Section II-C). F6 has 84 units because the prototypes were 7x12 bitmaps.
  - The paper feeds 32x32 images, larger than its 28x28 digit fields, so that stroke
    ends and corners near the border can still fall at the centre of the receptive
    fields of the top feature detectors; pixels are scaled so that the background is
    -0.1 and the foreground 1.175 (mean about 0, variance about 1). convzoo does not
    enforce this; the data pipeline does.
  - Weights are initialised uniformly in ``+/- 2.4 / F_in``, with ``F_in`` the fan-in
    of the unit (Appendix A).

Deviations:
    ``lenet5`` is the modern course version, not the paper: ReLU instead of the scaled
    tanh, max-pooling instead of trainable sub-sampling, a C3 that sees all six S2 maps
    instead of Table I, and a linear output layer instead of RBF units.
    ``lenet5_1998``: the paper's RBF prototypes are 7x12 bitmaps of the characters,
    drawn so that confusable characters (O, o, 0) have similar codes; convzoo ships no
    bitmaps and uses fixed random +/-1 codes from a seeded generator instead. The model
    returns the negative RBF distances as logits, so that cross-entropy can train it;
    cross-entropy on ``-y`` is the paper's discriminative criterion (Section II-C)
    without its constant "rubbish class" term. Biases are initialised like weights
    (as connections from a constant unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convzoo.models._classifier import ImageClassifier, classifier_layer
from convzoo.registry import Paper, register_model

__all__ = [
    "C3_CONNECTIONS",
    "ScaledTanh",
    "Subsampling2d",
    "ConnectionTableConv2d",
    "EuclideanRBF",
    "LeNet5",
    "LeNet5Paper",
    "lenet5",
    "lenet5_1998",
]

PAPER = Paper(
    title="Gradient-Based Learning Applied to Document Recognition",
    authors="Y. LeCun, L. Bottou, Y. Bengio, P. Haffner",
    venue="Proceedings of the IEEE",
    year=1998,
    url="http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf",
)

# Table I of the paper, one row per C3 map: the S2 maps that map combines.
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    # maps 0-5: every contiguous (cyclic) triple of S2 maps
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    # maps 6-11: every contiguous quadruple
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    # maps 12-14: three discontinuous quadruples
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    # map 15: all six
    (0, 1, 2, 3, 4, 5),
)


def _uniform_fan_in_(tensor: torch.Tensor, fan_in: int | torch.Tensor) -> None:
    """The paper's initialisation: uniform in +/- 2.4 / F_in (Appendix A)."""
    bound = 2.4 / fan_in
    with torch.no_grad():
        tensor.uniform_(-1.0, 1.0).mul_(bound)


class ScaledTanh(nn.Module):
    """The paper's squashing function ``f(a) = A tanh(S a)``.

    With ``A = 1.7159`` and ``S = 2/3``, ``f(+/-1) = +/-1``: targets of +/-1 sit where
    the curve bends, not in its flat saturated tails.
    """

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class Subsampling2d(nn.Module):
    """The paper's trainable sub-sampling: the sum of each block, times a coefficient, plus a bias.

    Each map has its own coefficient and bias, so the layer has ``2 * in_channels``
    parameters. It is average pooling whose scale and offset are learnt per map.

    Args:
        in_channels: number of maps (the output has as many).
        kernel_size: side of the non-overlapping blocks that are summed.

    Shape:
        (B, C, H, W) -> (B, C, H // kernel_size, W // kernel_size)
    """

    def __init__(self, in_channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(in_channels))
        self.bias = nn.Parameter(torch.empty(in_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.kernel_size * self.kernel_size
        _uniform_fan_in_(self.weight, fan_in)
        _uniform_fan_in_(self.bias, fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block_sum = F.avg_pool2d(x, self.kernel_size, divisor_override=1)
        return block_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, kernel_size={self.kernel_size}"


class ConnectionTableConv2d(nn.Module):
    """A convolution in which each output map sees only the input maps its table lists.

    Only the listed (output map, input map) kernels are parameters, so the parameter
    count is ``(number of pairs) * k * k + out_channels``. The forward pass scatters them into
    a dense ``(out_channels, in_channels, k, k)`` weight whose unlisted kernels are zero
    and runs one ordinary convolution: one fast kernel call instead of a Python loop
    over the output maps.

    Args:
        in_channels: number of input maps.
        out_channels: number of output maps; ``len(connections)``.
        kernel_size: side of the square kernels.
        connections: for each output map, the input maps it combines.

    Attributes:
        weight: ``(number of pairs, k, k)``; row ``n`` is the kernel of the ``n``-th
            (output map, input map) pair, in table order.

    Shape:
        (B, in_channels, H, W) -> (B, out_channels, H - k + 1, W - k + 1)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        connections: Sequence[Sequence[int]],
    ) -> None:
        super().__init__()
        if len(connections) != out_channels:
            raise ValueError(f"connections lists {len(connections)} output maps, expected {out_channels}")
        if any(not 0 <= i < in_channels for inputs in connections for i in inputs):
            raise ValueError(f"connections name input maps outside 0..{in_channels - 1}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.connections = tuple(tuple(inputs) for inputs in connections)
        # Plain lists, not buffers: they are fixed by the table and survive meta-device init.
        self._out_index = [o for o, inputs in enumerate(self.connections) for _ in inputs]
        self._in_index = [i for inputs in self.connections for i in inputs]
        self.weight = nn.Parameter(torch.empty(len(self._in_index), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Each output map has its own fan-in: (number of input maps it sees) * k * k.
        fan_in = torch.tensor(
            [len(inputs) * self.kernel_size**2 for inputs in self.connections], device=self.bias.device
        )
        _uniform_fan_in_(self.bias, fan_in)
        _uniform_fan_in_(self.weight, fan_in[self._out_index].view(-1, 1, 1))

    def dense_weight(self) -> torch.Tensor:
        """The equivalent full convolution weight, zero where the table has no connection."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        dense[self._out_index, self._in_index] = self.weight
        return dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={len(self._in_index)}"
        )


class EuclideanRBF(nn.Module):
    """Euclidean radial basis function units: ``y_i = sum_j (x_j - w_ij)^2``.

    Each unit holds a fixed prototype vector of +1/-1 entries (a buffer, not trained)
    and outputs the squared distance of the input to it: a penalty, small when the
    input looks like the unit's class.

    Args:
        in_features: length of the input and prototype vectors.
        out_features: number of units (classes).
        seed: seed of the generator that draws the +/-1 codes, so every build of the
            model has the same prototypes.

    Shape:
        (B, in_features) -> (B, out_features)
    """

    def __init__(self, in_features: int, out_features: int, seed: int = 0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (out_features, in_features), generator=generator, device="cpu") * 2 - 1
        self.register_buffer("prototypes", codes.to(torch.get_default_dtype()).to(torch.get_default_device()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.unsqueeze(1) - self.prototypes).square().sum(dim=-1)  # (B, out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class LeNet5(ImageClassifier):
    """LeNet-5 as taught today: ReLU, max-pooling, a full C3, a linear output.

    Args:
        in_chans: channels of the input image.
        num_classes: number of outputs; 0 gives the 84 F6 features.
        act_layer: activation after C1, C3, C5 and F6.

    Shape:
        (B, in_chans, 32, 32) -> (B, num_classes)
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 10,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 84
        # C5's 5x5 kernel meets S4's 5x5 maps exactly only for a 32x32 input; any other
        # size would leave C5 with more (or no) outputs than F6 expects.
        self.fixed_input_size = 32
        self.min_input_size = 32
        self.c1 = nn.Conv2d(in_chans, 6, kernel_size=5)
        self.act1 = act_layer()
        self.s2 = nn.MaxPool2d(kernel_size=2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.act3 = act_layer()
        self.s4 = nn.MaxPool2d(kernel_size=2)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.act5 = act_layer()
        self.f6 = nn.Linear(120, 84)
        self.act6 = act_layer()
        self.output = classifier_layer(84, num_classes)
        # Reductions are input side / map side at the one input size, 32.
        self.feature_info = [
            dict(num_chs=6, reduction=32 / 14, module="s2"),
            dict(num_chs=16, reduction=32 / 5, module="s4"),
            dict(num_chs=120, reduction=32, module="act5"),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(self.act1(self.c1(x)))  # (B, 6, 14, 14), from C1's (B, 6, 28, 28)
        x = self.s4(self.act3(self.c3(x)))  # (B, 16, 5, 5), from C3's (B, 16, 10, 10)
        return self.act5(self.c5(x))  # (B, 120, 1, 1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.act6(self.f6(torch.flatten(x, 1)))  # (B, 84)
        return x if pre_logits else self.output(x)

    def get_classifier(self) -> nn.Module:
        return self.output

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.output = classifier_layer(self.num_features, num_classes)


class LeNet5Paper(ImageClassifier):
    """LeNet-5 as in the 1998 paper: squashing units, trainable sub-sampling, Table I, RBF output.

    Args:
        in_chans: channels of the input image.
        num_classes: number of RBF output units; 0 gives the 84 F6 features.
        act_layer: the squashing function applied after every layer up to F6.
        rbf_seed: seed of the fixed +/-1 prototype codes of the RBF units.

    Shape:
        (B, in_chans, 32, 32) -> (B, num_classes), the negative RBF distances.
    """

    def __init__(
        self,
        in_chans: int = 1,
        num_classes: int = 10,
        act_layer: type[nn.Module] = ScaledTanh,
        rbf_seed: int = 0,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 84
        self.rbf_seed = rbf_seed
        self.fixed_input_size = 32  # see LeNet5: C5 must produce 1x1 maps
        self.min_input_size = 32
        self.c1 = nn.Conv2d(in_chans, 6, kernel_size=5)
        self.act1 = act_layer()
        self.s2 = Subsampling2d(6)
        self.act2 = act_layer()
        self.c3 = ConnectionTableConv2d(6, 16, kernel_size=5, connections=C3_CONNECTIONS)
        self.act3 = act_layer()
        self.s4 = Subsampling2d(16)
        self.act4 = act_layer()
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.act5 = act_layer()
        self.f6 = nn.Linear(120, 84)
        self.act6 = act_layer()
        self.output = self._rbf(num_classes)
        self.feature_info = [
            dict(num_chs=6, reduction=32 / 14, module="act2"),
            dict(num_chs=16, reduction=32 / 5, module="act4"),
            dict(num_chs=120, reduction=32, module="act5"),
        ]
        for layer in (self.c1, self.c5, self.f6):
            fan_in = layer.weight[0].numel()
            _uniform_fan_in_(layer.weight, fan_in)
            _uniform_fan_in_(layer.bias, fan_in)

    def _rbf(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        return EuclideanRBF(self.num_features, num_classes, seed=self.rbf_seed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.c1(x))  # (B, 6, 28, 28)
        x = self.act2(self.s2(x))  # (B, 6, 14, 14)
        x = self.act3(self.c3(x))  # (B, 16, 10, 10)
        x = self.act4(self.s4(x))  # (B, 16, 5, 5)
        return self.act5(self.c5(x))  # (B, 120, 1, 1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.act6(self.f6(torch.flatten(x, 1)))  # (B, 84)
        if pre_logits or self.num_classes == 0:
            return x
        # The RBF outputs are penalties (small = likely); negated they rank like logits.
        return -self.output(x)  # (B, num_classes)

    def get_classifier(self) -> nn.Module:
        return self.output

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.output = self._rbf(num_classes)


@register_model(
    family="lenet",
    paper=PAPER,
    input_size=(1, 32, 32),
    num_classes=10,
    deviations=(
        "Modern course version: ReLU instead of the scaled tanh, 2x2 max-pooling instead of "
        "trainable sub-sampling, a C3 that sees all six S2 maps instead of Table I, and a "
        "linear output layer instead of Euclidean RBF units; see lenet5_1998 for the paper's network."
    ),
)
def lenet5(**kwargs: Any) -> LeNet5:
    """LeNet-5 as taught today (ReLU, max-pooling, linear output): 61,706 parameters at 1x32x32."""
    return LeNet5(**kwargs)


@register_model(
    family="lenet",
    paper=PAPER,
    input_size=(1, 32, 32),
    num_classes=10,
    deviations=(
        "RBF prototypes are fixed seeded random +/-1 codes, not the paper's 7x12 character "
        "bitmaps. Returns the negative RBF distances as logits for cross-entropy, which is the "
        "paper's discriminative criterion without its constant rubbish-class term. Biases are "
        "initialised like weights, uniform in +/-2.4/F_in."
    ),
)
def lenet5_1998(**kwargs: Any) -> LeNet5Paper:
    """LeNet-5 as in the 1998 paper: 60,000 trainable parameters at 1x32x32, 10 RBF classes."""
    return LeNet5Paper(**kwargs)
