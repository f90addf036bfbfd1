"""Gait recognition (``--task gait``): who is walking, from a set of silhouettes (GaitSet, AAAI 2019).

- :mod:`~convzoo.tasks.gait.losses`: the batch-all triplet loss of every horizontal strip at
  once, :func:`strip_triplet_loss`;
- :mod:`~convzoo.tasks.gait.objective`: that loss and its counts for the training engine;
- :mod:`~convzoo.tasks.gait.scoring`: rank-1 accuracy under CASIA-B's protocol, per probe view
  and gallery view (:func:`rank1_table`), the NM/BG/CL report and its heatmaps;
- :mod:`~convzoo.tasks.gait.pipeline`: a training run's data, batches, model and report;
- :mod:`~convzoo.tasks.gait.flags`, :mod:`~convzoo.tasks.gait.commands`, :mod:`~convzoo.tasks.gait.task`: the
  command line.

The package imports each name's module when the name is first asked for.
"""

from __future__ import annotations

from convzoo.lazy_exports import lazy_exports

__all__ = ["rank1_table", "strip_triplet_loss", "view_scores"]

__getattr__, __dir__ = lazy_exports(__name__, {"strip_triplet_loss": "losses", "rank1_table": "scoring",
                                               "view_scores": "scoring"})
