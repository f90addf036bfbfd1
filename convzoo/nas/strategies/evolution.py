"""Regularised (ageing) evolution: tournament selection, one-decision mutations, the oldest dies.

Paper: Regularized Evolution for Image Classifier Architecture Search (Esteban Real, Alok Aggarwal, Yanping
Huang, Quoc V. Le, AAAI 2019) https://arxiv.org/abs/1802.01548

Algorithm 1 of the paper: the population starts as ``P`` random architectures. Each cycle draws ``S`` members
at random (a tournament), takes the one of highest reward as the parent, and evaluates its child, a copy with
one decision mutated; the child joins the population and the *oldest* member leaves, whatever its reward.
Ageing is the "regularisation": a member survives only by having children that keep scoring well, so one lucky
evaluation (a noisy proxy accuracy) cannot stay on top for ever, and the search keeps exploring.

Deviations:
    - Defaults ``P = 20``, ``S = 5`` (the paper: ``P = 100``, ``S = 25`` over 20,000 models). A search on a CPU
      evaluates a few hundred candidates at most; with ``P = 100`` most of them would be the random start, so
      ``P`` is smaller, with the paper's ratio ``S / P = 1/4`` (its selection pressure).
    - The mutation is the space's :meth:`~convzoo.nas.space.SearchSpace.mutate` (one categorical decision
      changed to another value); the paper's hidden-state, op and identity mutations are NASNet-cell specific.
"""

from __future__ import annotations

import copy
from typing import Any

from convzoo.errors import ConvzooError
from convzoo.nas.space import SearchSpace
from convzoo.nas.strategies.base import Strategy

__all__ = ["RegularizedEvolution"]


class RegularizedEvolution(Strategy):
    """Regularised evolution (Real et al. 2019, Algorithm 1).

    Args:
        space: the search space.
        seed: seeds the random start, the tournaments and the mutations.
        population_size: ``P``, the members alive at once; the first ``P`` proposals are random.
        sample_size: ``S``, the members of each tournament (``1 <= S <= P``).

    The population is a list from oldest to youngest of ``{"genotype", "reward", "born"}`` (``born``: the
    candidate's index among the evaluated ones, its age).
    """

    name = "evolution"

    def __init__(self, space: SearchSpace, seed: int, *, population_size: int = 20, sample_size: int = 5) -> None:
        super().__init__(space, seed)
        if population_size < 2:
            raise ConvzooError(f"evolution: population_size must be at least 2, got {population_size}")
        if not 1 <= sample_size <= population_size:
            raise ConvzooError(f"evolution: sample_size must be in [1, population_size={population_size}], "
                               f"got {sample_size}")
        self.population_size, self.sample_size = int(population_size), int(sample_size)
        self.population: list[dict[str, Any]] = []

    def parent(self) -> dict[str, Any]:
        """The tournament's winner: the best of ``S`` members drawn without replacement (the first of equals)."""
        contenders = self.rng.sample(self.population, self.sample_size)
        return max(contenders, key=lambda member: member["reward"])

    def _propose(self) -> dict[str, Any]:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        return self.space.mutate(self.parent()["genotype"], self.rng)

    def _observe(self, genotype: dict[str, Any], reward: float) -> None:
        self.population.append({"genotype": copy.deepcopy(genotype), "reward": reward, "born": self.observed})
        if len(self.population) > self.population_size:
            self.population.pop(0)  # ageing: the oldest leaves, not the worst

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population_size": self.population_size, "sample_size": self.sample_size,
                "population": [dict(member) for member in self.population]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if (int(state["population_size"]), int(state["sample_size"])) != (self.population_size, self.sample_size):
            raise ConvzooError(f"the saved evolution state has population_size={state['population_size']}, "
                               f"sample_size={state['sample_size']}; this strategy {self.population_size}, "
                               f"{self.sample_size}")
        self.population = [{"genotype": member["genotype"], "reward": float(member["reward"]),
                            "born": int(member["born"])} for member in state["population"]]
