"""A toy search space and reward for testing the strategies without training anything.

The space: ``decisions`` categorical decisions (by default 10 of 4 choices); a genotype is
``{"space": "toy", "choices": [...]}``. The reward: the fraction of decisions equal to a hidden target
(drawn from the reward's seed), plus a small noise that is a function of the genotype and the seed, so the
same genotype always scores the same (as a seeded proxy training run does) and the optimum is the target.
"""

from __future__ import annotations

import random
from typing import Any, Sequence

__all__ = ["ToyReward", "ToySpace"]


class ToySpace:
    name = "toy"
    model_name = "toy_net"  # not a registered model: nothing is built in the strategies' tests

    def __init__(self, decisions: Sequence[int] = (4,) * 10) -> None:
        self._decisions = [int(n) for n in decisions]

    def decisions(self) -> list[int]:
        return list(self._decisions)

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return self.decode([rng.randrange(n) for n in self._decisions])

    def mutate(self, genotype: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        choices = self.encode(genotype)
        position = rng.randrange(len(choices))
        choices[position] = rng.choice([c for c in range(self._decisions[position]) if c != choices[position]])
        return self.decode(choices)

    def encode(self, genotype: dict[str, Any]) -> list[int]:
        assert genotype["space"] == self.name and len(genotype["choices"]) == len(self._decisions)
        return list(genotype["choices"])

    def decode(self, choices: Sequence[int]) -> dict[str, Any]:
        assert all(0 <= c < n for c, n in zip(choices, self._decisions, strict=True))
        return {"space": self.name, "choices": [int(c) for c in choices]}

    def model_kwargs(self) -> dict[str, Any]:
        return {}


class ToyReward:
    """The fraction of decisions equal to a hidden target, plus noise of standard deviation ``noise``."""

    def __init__(self, space: ToySpace, seed: int = 0, noise: float = 0.01) -> None:
        self.space, self.seed, self.noise = space, seed, noise
        rng = random.Random(f"target-{seed}")
        self.target = [rng.randrange(n) for n in space.decisions()]

    def matches(self, genotype: dict[str, Any]) -> float:
        choices = self.space.encode(genotype)
        return sum(c == t for c, t in zip(choices, self.target)) / len(self.target)

    def __call__(self, genotype: dict[str, Any]) -> float:
        noise = random.Random(f"noise-{self.seed}-{genotype['choices']}").gauss(0.0, self.noise)
        return self.matches(genotype) + noise
