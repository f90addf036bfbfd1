"""Cross-modal retrieval: images and texts in one common space, ranked for each other (DSCMR, CVPR 2019).

- :mod:`~convzoo.tasks.crossmodal.losses`: DSCMR's three losses and their sum, :func:`dscmr_loss`;
- :mod:`~convzoo.tasks.crossmodal.retrieval`: :func:`cross_modal_map` (whole-gallery mAP by
  cosine distance) and precision-recall curves;
- :mod:`~convzoo.tasks.crossmodal.objective`: the losses and accuracies for the training engine;
- :mod:`~convzoo.tasks.crossmodal.scoring`: a split's mAP report and its curves' picture;
- :mod:`~convzoo.tasks.crossmodal.baselines`: CCA, the paper's classical baseline;
- :mod:`~convzoo.tasks.crossmodal.encoders`: images through a zoo CNN (frozen, or
  fine-tuned with DSCMR's losses), texts as bags of words
  (``--dataset image-text``);
- :mod:`~convzoo.tasks.crossmodal.pipeline`: a training run's data, model and report;
- :mod:`~convzoo.tasks.crossmodal.files`: images for a text (``convzoo retrieve --text``);
- :mod:`~convzoo.tasks.crossmodal.flags`, :mod:`~convzoo.tasks.crossmodal.commands`,
  :mod:`~convzoo.tasks.crossmodal.task`: the command line.

The package imports each name's module when the name is first asked for.
"""

from __future__ import annotations

from convzoo.lazy_exports import lazy_exports

__all__ = ["cross_modal_map", "dscmr_loss"]

__getattr__, __dir__ = lazy_exports(__name__, {"dscmr_loss": "losses", "cross_modal_map": "retrieval"})
