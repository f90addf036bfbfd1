"""Search strategies that propose genotypes one at a time and learn from their rewards.

Every strategy takes ``(space, seed, **options)`` and has ``propose()``, ``observe(genotype, reward)``,
``state_dict()`` and ``load_state_dict(state)`` (:class:`~convzoo.nas.strategies.base.Strategy`);
a strategy loaded from its saved state proposes what the saved one would have. DARTS, which trains a supernet
rather than proposing candidates, is :mod:`convzoo.nas.darts_search`.
"""

from convzoo.nas.strategies.evolution import RegularizedEvolution
from convzoo.nas.strategies.base import Strategy
from convzoo.nas.strategies.random_search import RandomSearch
from convzoo.nas.strategies.reinforce import Controller, Reinforce

__all__ = ["STRATEGIES", "Controller", "RandomSearch", "RegularizedEvolution", "Reinforce", "Strategy"]

STRATEGIES: dict[str, type[Strategy]] = {"random": RandomSearch, "evolution": RegularizedEvolution,
                                         "reinforce": Reinforce}
