"""What a search space gives the strategies and the search loop.

An architecture is a *genotype*: a small JSON-ready dict (only strings, numbers, booleans, lists and dicts)
that the space's registered model builds, ``create_model(space.model_name, genotype=g, **space.model_kwargs())``,
so a found network saves, loads, trains, profiles and exports like any other. A space is also a sequence of
categorical *decisions*, the view of the REINFORCE controller, which emits one choice per decision.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, Sequence

__all__ = ["SearchSpace"]


class SearchSpace(Protocol):
    """A space of genotypes.

    Attributes:
        name: the space's name (``"mnas"``, ``"darts"``), which genotypes carry as their ``"space"``.
        model_name: the registered model that builds a genotype.
    """

    name: str
    model_name: str

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """A uniformly random genotype, drawn with ``rng`` only."""

    def mutate(self, genotype: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        """A copy of ``genotype`` with exactly one decision changed to another value."""

    def decisions(self) -> list[int]:
        """The number of choices of each decision, in the order :meth:`encode` lists them."""

    def encode(self, genotype: dict[str, Any]) -> list[int]:
        """One choice index per decision."""

    def decode(self, choices: Sequence[int]) -> dict[str, Any]:
        """The genotype of one choice per decision; ``decode(encode(g)) == g``."""

    def model_kwargs(self) -> dict[str, Any]:
        """Builder arguments besides the genotype (the proxy network's size); ``{}`` when none."""
