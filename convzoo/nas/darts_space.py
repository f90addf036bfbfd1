"""DARTS's cell space as a discrete search space, for random search, evolution and REINFORCE.

Paper: DARTS: Differentiable Architecture Search (Hanxiao Liu, Karen Simonyan, Yiming Yang, ICLR 2019)
https://arxiv.org/abs/1806.09055

A genotype of DARTS's space (:class:`~convzoo.models.darts.DartsGenotype`, built by ``darts_net``) gives each
of the 4 intermediate nodes of the normal and of the reduction cell two incoming edges, each an (operation,
input) pair. As the genotypes DARTS derives (Sec. 2.4: the two strongest edges from *distinct* earlier nodes),
the two inputs of a node differ, and the zero operation never appears. The space's decisions, in order, are per
cell type (normal, then reduce) per node ``i`` (0..3)::

    input a in 0..i+1, input b in 0..i+1, op a (7 operations), op b (7 operations)

32 decisions, ``prod((i + 2) * (i + 1) * 49 for i in 0..3) ** 2``, about 1e25 genotypes, counting the order
of a node's two edges (``a`` and ``b`` swapped is another genotype of the same network). The concatenated nodes
are fixed to 2..5, as in the paper.

:meth:`DartsSpace.decode` of choices that repeat an input (``a == b``, which a controller emitting one choice
per decision may do) moves ``b`` to the next input, ``(a + 1) mod (i + 2)``: deterministic, and the identity on
every genotype's encoding, so ``decode(encode(g)) == g``. :meth:`DartsSpace.sample` draws two distinct inputs;
:meth:`DartsSpace.mutate` changes one decision to another value that keeps the inputs distinct (node 0's two
inputs are then never mutated alone: they can only be 0 and 1).

Deviations:
    - The space of the paper's discrete cells, searched by black-box strategies; DARTS itself searches it by
      gradient (:mod:`convzoo.nas.darts_search`).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from convzoo.errors import ConvzooError
from convzoo.models.darts import PRIMITIVES, DartsGenotype

__all__ = ["CELL_TYPES", "NODES", "OPERATIONS", "DartsSpace"]

NODES = 4
CELL_TYPES = ("normal", "reduce")
OPERATIONS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")  # the 7 non-zero operations
CONCAT = [2, 3, 4, 5]
PER_NODE = ("input_a", "input_b", "op_a", "op_b")


class DartsSpace:
    """DARTS's normal and reduction cells, 4 nodes each, as 32 categorical decisions.

    Args:
        init_channels: width of the proxy network's first cells (the search network's 16).
        layers: number of cells of the proxy network (the search network's 8).
        auxiliary: build the proxy network's auxiliary head (off: the proxy trains without it).
    """

    name = "darts"
    model_name = "darts_net"

    def __init__(self, init_channels: int = 16, layers: int = 8, auxiliary: bool = False) -> None:
        if init_channels < 2 or init_channels % 2:
            raise ConvzooError(f"DartsSpace init_channels: expected an even number >= 2, got {init_channels}")
        if layers < 3:
            raise ConvzooError(f"DartsSpace layers: expected at least 3 (two reduction cells), got {layers}")
        self.init_channels, self.layers, self.auxiliary = init_channels, layers, auxiliary

    def __repr__(self) -> str:
        return f"DartsSpace(init_channels={self.init_channels}, layers={self.layers}, auxiliary={self.auxiliary})"

    def decisions(self) -> list[int]:
        return [n for _ in CELL_TYPES for i in range(NODES) for n in (i + 2, i + 2, len(OPERATIONS), len(OPERATIONS))]

    def decode(self, choices: Sequence[int]) -> dict[str, Any]:
        sizes = self.decisions()
        if len(choices) != len(sizes):
            raise ConvzooError(f"DartsSpace.decode: expected {len(sizes)} choices, got {len(choices)}")
        for index, (choice, size) in enumerate(zip(choices, sizes)):
            if not 0 <= int(choice) < size:
                raise ConvzooError(f"DartsSpace.decode: choice {index} must be in 0..{size - 1}, got {choice}")
        genotype: dict[str, Any] = {"space": self.name}
        position = 0
        for cell in CELL_TYPES:
            gene = []
            for i in range(NODES):
                a, b, op_a, op_b = (int(c) for c in choices[position:position + 4])
                position += 4
                if b == a:  # a repeated input: the next one (see the module docstring)
                    b = (a + 1) % (i + 2)
                gene += [[OPERATIONS[op_a], a], [OPERATIONS[op_b], b]]
            genotype[cell] = gene
            genotype[f"{cell}_concat"] = list(CONCAT)
        return genotype

    def _check(self, genotype: dict[str, Any]) -> DartsGenotype:
        g = DartsGenotype.from_dict(genotype)
        for cell in CELL_TYPES:
            gene, concat = getattr(g, cell), getattr(g, f"{cell}_concat")
            if len(gene) != 2 * NODES or list(concat) != CONCAT:
                raise ConvzooError(f"genotype {cell}: expected {NODES} nodes concatenated as {CONCAT} "
                                   f"(the darts space), got {len(gene) // 2} nodes and {list(concat)}")
            for i in range(NODES):
                if gene[2 * i][1] == gene[2 * i + 1][1]:
                    raise ConvzooError(f"genotype {cell} node {i}: expected two distinct inputs, "
                                       f"got {gene[2 * i][1]} twice")
        return g

    def encode(self, genotype: dict[str, Any]) -> list[int]:
        g = self._check(genotype)
        choices: list[int] = []
        for cell in CELL_TYPES:
            gene = getattr(g, cell)
            for i in range(NODES):
                (op_a, a), (op_b, b) = gene[2 * i], gene[2 * i + 1]
                choices += [a, b, OPERATIONS.index(op_a), OPERATIONS.index(op_b)]
        return choices

    def sample(self, rng: random.Random) -> dict[str, Any]:
        choices: list[int] = []
        for _ in CELL_TYPES:
            for i in range(NODES):
                a, b = rng.sample(range(i + 2), 2)  # two distinct inputs
                choices += [a, b, rng.randrange(len(OPERATIONS)), rng.randrange(len(OPERATIONS))]
        return self.decode(choices)

    def mutate(self, genotype: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        choices = self.encode(genotype)
        sizes = self.decisions()
        # Every decision with another value that keeps the node's inputs distinct, and those values.
        options: list[tuple[int, list[int]]] = []
        for index, size in enumerate(sizes):
            field = PER_NODE[index % 4]
            taken = {choices[index]}
            if field == "input_a":
                taken.add(choices[index + 1])
            elif field == "input_b":
                taken.add(choices[index - 1])
            values = [v for v in range(size) if v not in taken]
            if values:
                options.append((index, values))
        index, values = rng.choice(options)
        choices[index] = rng.choice(values)
        return self.decode(choices)

    def model_kwargs(self) -> dict[str, Any]:
        return {"init_channels": self.init_channels, "layers": self.layers, "auxiliary": self.auxiliary}
