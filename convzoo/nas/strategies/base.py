"""What every search strategy shares: a seeded generator, the pending proposal, their saved state.

A strategy draws from a python generator seeded from the strategy's seed (never the global one), checks that
each ``observe`` answers the last ``propose``, and saves both. The determinism contract: a strategy saved with
:meth:`Strategy.state_dict` after ``k`` proposals and observations, and loaded into a fresh one of the same
space, seed and options, proposes what the original would have proposed next, for every later step given the
same rewards.
"""

from __future__ import annotations

import math
import random
from typing import Any

from convzoo.errors import ConvzooError
from convzoo.nas.space import SearchSpace

__all__ = ["Strategy", "random_state", "set_random_state"]


def random_state(rng: random.Random) -> list[Any]:
    """``rng.getstate()`` as JSON-ready lists: ``[version, [625 ints], gauss_next]``."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def set_random_state(rng: random.Random, state: Any) -> None:
    """Restore a state written by :func:`random_state` (lists or tuples)."""
    version, internal, gauss_next = state
    rng.setstate((int(version), tuple(int(value) for value in internal), gauss_next))


class Strategy:
    """The base of the strategies: a seeded generator, the pending proposal, their state.

    A subclass draws its randomness from ``self.rng`` (or a generator of its own, saved in its state),
    implements :meth:`_propose` and :meth:`_observe`, and extends :meth:`state_dict` and
    :meth:`load_state_dict` with what else it keeps.

    Args:
        space: the search space.
        seed: seeds every random choice of the strategy.
    """

    name = "strategy"

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space, self.seed = space, int(seed)
        self.rng = random.Random(self.seed)
        self.pending: dict[str, Any] | None = None  # proposed, not yet observed
        self.observed = 0

    def propose(self) -> dict[str, Any]:
        """The next genotype to evaluate."""
        if self.pending is not None:
            raise ConvzooError(f"{self.name}: give observe() the reward of the last proposal before calling "
                               f"propose() again")
        self.pending = self._propose()
        return self.pending

    def observe(self, genotype: dict[str, Any], reward: float) -> None:
        """The reward (higher is better) of the genotype :meth:`propose` returned last."""
        if self.pending is None or genotype != self.pending:
            raise ConvzooError(f"{self.name}: observe() expects the genotype propose() returned last, got {genotype}")
        if not math.isfinite(reward):
            raise ConvzooError(f"{self.name}: the reward of {genotype} must be a finite number, got {reward}")
        self.pending = None
        self._observe(genotype, float(reward))
        self.observed += 1

    def _propose(self) -> dict[str, Any]:
        raise NotImplementedError

    def _observe(self, genotype: dict[str, Any], reward: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Everything the next proposals depend on, generator states included; a tree of dicts, lists,
        numbers, strings and tensors that :func:`convzoo.train.state.save_state` writes."""
        return {"strategy": self.name, "seed": self.seed, "rng": random_state(self.rng), "pending": self.pending,
                "observed": self.observed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (also after a round trip through a state file)."""
        if state.get("strategy") != self.name:
            raise ConvzooError(f"the saved strategy state is {state.get('strategy')!r}'s, not {self.name!r}'s")
        if int(state["seed"]) != self.seed:
            raise ConvzooError(f"the saved {self.name} state was seeded {state['seed']}, this strategy {self.seed}")
        set_random_state(self.rng, state["rng"])
        self.pending = state["pending"]
        self.observed = int(state["observed"])
