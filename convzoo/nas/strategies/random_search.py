"""Random search: every candidate a uniform draw from the space; the baseline every NAS method must beat.

Paper: Random Search and Reproducibility for Neural Architecture Search (Liam Li, Ameet Talwalkar, UAI 2019)
https://arxiv.org/abs/1902.07638

Li and Talwalkar (and Yang et al., "NAS evaluation is frustratingly hard", ICLR 2020) found random search
within a few points of the published strategies on the same spaces and budgets, so a strategy's result means
something only next to random search's at the same number of evaluations.
"""

from __future__ import annotations

from typing import Any

from convzoo.nas.strategies.base import Strategy

__all__ = ["RandomSearch"]


class RandomSearch(Strategy):
    """Uniform samples from ``space.sample``; the rewards change nothing.

    Args:
        space: the search space.
        seed: seeds the draws.
    """

    name = "random"

    def _propose(self) -> dict[str, Any]:
        return self.space.sample(self.rng)

    def _observe(self, genotype: dict[str, Any], reward: float) -> None:
        pass
