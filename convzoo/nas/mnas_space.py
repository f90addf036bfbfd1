"""MnasNet's factorised hierarchical search space over MobileNetV2's skeleton, at CIFAR size.

Paper: MnasNet: Platform-Aware Neural Architecture Search for Mobile (Mingxing Tan, Bo Chen,
Ruoming Pang, Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le, CVPR 2019)
https://arxiv.org/abs/1807.11626

NASNet searched one cell and repeated it everywhere, so every layer had the same structure. MnasNet
(Sec. 4.1) instead fixes a skeleton of stages and searches each stage's blocks on their own: a stage
near the input, where the maps are large, may prefer a small kernel and few layers, one near the output
a large kernel. Per stage the space here decides, as the paper's does:

- the number of blocks: 1, 2, 3 or 4;
- the depthwise kernel: 3, 5 or 7;
- the expansion ratio of the inverted residual: 3 or 6;
- squeeze-and-excitation: off or on;
- the output width: 0.75, 1.0 or 1.25 times the stage's base width (rounded to a multiple of 8).

The skeleton is ``mobilenet_v2_cifar``'s, for 32x32 inputs: a 3x3 stem of 32 channels (stride 1), a fixed
first stage (one block, kernel 3, expansion 1, 16 channels: the separable conv that opens MnasNet), then
six searched stages with MobileNetV2's base widths and strides 24/1, 32/2, 64/2, 96/1, 160/2, 320/1, and a
1x1 head conv of 1280 channels. That is ``(4 x 3 x 2 x 2 x 3) ** 6 = 144 ** 6``, about 9e12 networks.
MobileNetV2-CIFAR itself is one of them (:meth:`MnasSpace.reference_genotype`).

A genotype is the JSON dict :class:`~convzoo.models.nas_net.MnasGenotype` reads, built by ``nas_net``.
As decisions (the REINFORCE controller's view), it is 30 choice indices, five per searched stage in the
order blocks, kernel, expansion, SE, width.

Deviations:
    - MnasNet's space also chose the conv type (regular, depthwise separable, MBConv) and the skip
      connection; here every block is an MBConv with its shortcut wherever the shapes allow.
    - ``width_mult`` and ``stem_stride`` shrink the whole space for a CPU proxy. At small multipliers two
      width choices can round to the same channel count; they are then one network, :meth:`MnasSpace.encode`
      gives the first index, and :meth:`MnasSpace.mutate` never picks a change that leaves the network as it was.
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from convzoo.blocks.inverted_residual import make_divisible
from convzoo.errors import ConvzooError
from convzoo.models.nas_net import MnasGenotype, StageGene

__all__ = ["BASE_STAGES", "BLOCKS", "EXPAND_RATIOS", "KERNEL_SIZES", "MnasSpace", "SE_CHOICES", "WIDTH_CHOICES"]

STEM_CHANNELS = 32
FIRST_STAGE = StageGene(blocks=1, kernel_size=3, expand_ratio=1, se=False, out_channels=16, stride=1)
# The six searched stages: MobileNetV2's base width and the stride of the first block.
BASE_STAGES: tuple[tuple[int, int], ...] = ((24, 1), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1))
HEAD_CHANNELS = 1280

# The choices of each stage's decisions, in the order of encode().
BLOCKS = (1, 2, 3, 4)
KERNEL_SIZES = (3, 5, 7)
EXPAND_RATIOS = (3, 6)
SE_CHOICES = (False, True)
WIDTH_CHOICES = (0.75, 1.0, 1.25)
PER_STAGE = ("blocks", "kernel_size", "expand_ratio", "se", "out_channels")

# MobileNetV2-CIFAR: expansion 6, kernel 3, no SE, base widths, and its block counts.
REFERENCE_BLOCKS = (2, 3, 4, 3, 3, 1)


def _round8(value: float) -> int:
    """To the nearest multiple of 8 (halves up), at least 8."""
    return max(8, int(value / 8 + 0.5) * 8)


class MnasSpace:
    """MnasNet's per-stage decisions over MobileNetV2-CIFAR's skeleton (see the module docstring).

    Args:
        width_mult: scales the stem, every base width and the head (rounded to multiples of 8, as
            MobileNetV2's multiplier); below 1 a cheaper space for a CPU proxy.
        stem_stride: stride of the stem; 2 quarters the cost of the whole network.
    """

    name = "mnas"
    model_name = "nas_net"

    def __init__(self, width_mult: float = 1.0, stem_stride: int = 1) -> None:
        if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not width_mult > 0:
            raise ConvzooError(f"mnas space: width_mult must be a positive number, got {width_mult!r}")
        if stem_stride not in (1, 2) or isinstance(stem_stride, bool):
            raise ConvzooError(f"mnas space: stem_stride must be 1 or 2, got {stem_stride!r}")
        self.width_mult, self.stem_stride = float(width_mult), int(stem_stride)
        self.stem_channels = make_divisible(STEM_CHANNELS * width_mult, 8)
        self.first_stage = StageGene(1, 3, 1, False, make_divisible(FIRST_STAGE.out_channels * width_mult, 8), 1)
        self.head_channels = make_divisible(HEAD_CHANNELS * width_mult, 8)
        self.base_widths = [make_divisible(width * width_mult, 8) for width, _ in BASE_STAGES]
        self.strides = [stride for _, stride in BASE_STAGES]
        # Per searched stage, the channel count of each width choice.
        self.widths = [[_round8(base * choice) for choice in WIDTH_CHOICES] for base in self.base_widths]
        self._choices = (BLOCKS, KERNEL_SIZES, EXPAND_RATIOS, SE_CHOICES)

    def __repr__(self) -> str:
        return f"MnasSpace(width_mult={self.width_mult}, stem_stride={self.stem_stride})"

    def _options(self, stage: int) -> list[Sequence[Any]]:
        """The values of each decision of searched stage ``stage``, in :data:`PER_STAGE` order."""
        return [*self._choices, self.widths[stage]]

    def decisions(self) -> list[int]:
        return [len(values) for stage in range(len(BASE_STAGES)) for values in self._options(stage)]

    def size(self) -> int:
        """The number of architectures (choice combinations; at small ``width_mult`` some coincide)."""
        return math.prod(self.decisions())

    def decode(self, choices: Sequence[int]) -> dict[str, Any]:
        counts = self.decisions()
        if len(choices) != len(counts):
            raise ConvzooError(f"mnas space: expected {len(counts)} choices, got {len(choices)}")
        for position, (choice, count) in enumerate(zip(choices, counts)):
            if isinstance(choice, bool) or not isinstance(choice, int) or not 0 <= choice < count:
                raise ConvzooError(f"mnas space: choice {position} must be an integer in [0, {count}), got {choice!r}")
        stages = [self.first_stage]
        for stage, stride in enumerate(self.strides):
            picked = [values[c] for values, c in zip(self._options(stage), choices[5 * stage:5 * stage + 5])]
            stages.append(StageGene(*picked, stride=stride))
        return MnasGenotype(self.stem_channels, self.stem_stride, tuple(stages), self.head_channels).to_dict()

    def encode(self, genotype: dict[str, Any]) -> list[int]:
        parsed = MnasGenotype.from_dict(genotype)
        fixed = (parsed.stem_channels, parsed.stem_stride, parsed.head_channels)
        if fixed != (self.stem_channels, self.stem_stride, self.head_channels):
            raise ConvzooError(f"genotype stem/head (channels, stride, head) {fixed} is not this space's "
                               f"{(self.stem_channels, self.stem_stride, self.head_channels)} ({self!r})")
        if len(parsed.stages) != 1 + len(BASE_STAGES) or parsed.stages[0] != self.first_stage:
            raise ConvzooError(f"genotype stages: expected the fixed first stage {self.first_stage.to_dict()} and "
                               f"{len(BASE_STAGES)} searched stages of {self!r}")
        choices = []
        for stage, gene in enumerate(parsed.stages[1:]):
            if gene.stride != self.strides[stage]:
                raise ConvzooError(f"genotype stages[{stage + 1}].stride: expected {self.strides[stage]}, "
                                   f"got {gene.stride}")
            for name, values in zip(PER_STAGE, self._options(stage)):
                value = getattr(gene, name)
                if value not in values:
                    raise ConvzooError(f"genotype stages[{stage + 1}].{name}: expected one of "
                                       f"{', '.join(map(str, values))} in {self!r}, got {value!r}")
                choices.append(list(values).index(value))  # the first of equal widths
        return choices

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return self.decode([rng.randrange(count) for count in self.decisions()])

    def mutate(self, genotype: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """One decision changed to another value that changes the network (never a no-op)."""
        choices = self.encode(genotype)
        values = [v for stage in range(len(BASE_STAGES)) for v in self._options(stage)]
        moves = [(position, other) for position, options in enumerate(values)
                 for other in range(len(options)) if options[other] != options[choices[position]]]
        position = rng.choice(sorted({p for p, _ in moves}))  # a decision first, then its new value
        choices[position] = rng.choice([other for p, other in moves if p == position])
        return self.decode(choices)

    def model_kwargs(self) -> dict[str, Any]:
        return {}  # the genotype holds the whole network

    def reference_genotype(self) -> dict[str, Any]:
        """MobileNetV2-CIFAR's choices: expansion 6, kernel 3, no SE, base widths, blocks 2, 3, 4, 3, 3, 1."""
        choices = []
        for blocks in REFERENCE_BLOCKS:
            choices += [BLOCKS.index(blocks), KERNEL_SIZES.index(3), EXPAND_RATIOS.index(6), SE_CHOICES.index(False),
                        WIDTH_CHOICES.index(1.0)]
        return self.decode(choices)
