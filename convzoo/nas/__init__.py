"""Neural architecture search that runs on a CPU: search spaces, strategies, the search loop, compound scaling.

- spaces: :mod:`convzoo.nas.mnas_space` (MnasNet's factorised hierarchical space of inverted residual
  stages, built by the ``nas_net`` model) and :mod:`convzoo.nas.darts_space` (DARTS's cells, built by ``darts_net``);
- strategies (:mod:`convzoo.nas.strategies`): random search, regularised evolution, a REINFORCE
  controller; and DARTS's first-order bilevel optimisation (:mod:`convzoo.nas.darts_search`);
- :mod:`convzoo.nas.search`: the loop that evaluates candidates (a short seeded training run through the
  engine, measured latency, MACs), scores them with MnasNet's reward, saves its state after every candidate
  and resumes after a kill;
- :mod:`convzoo.nas.scaling`: EfficientNet's grid search of the compound-scaling coefficients.
"""
