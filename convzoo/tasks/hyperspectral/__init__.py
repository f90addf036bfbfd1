"""Hyperspectral pixel classification: a label per pixel of a scene, from the patch around it.

- :mod:`~convzoo.tasks.hyperspectral.metrics`: overall and average accuracy, Cohen's kappa;
- :mod:`~convzoo.tasks.hyperspectral.objective`: cross-entropy with those scores (what the
  training engine needs);
- :mod:`~convzoo.tasks.hyperspectral.prediction`: every pixel of a scene classified, in batches;
- :mod:`~convzoo.tasks.hyperspectral.classification_map`: the prediction drawn beside the ground truth;
- :mod:`~convzoo.tasks.hyperspectral.scoring`: a scene's report, for a run or a checkpoint;
- :mod:`~convzoo.tasks.hyperspectral.pipeline`: a training run's scene, PCA, patches, model and report;
- :mod:`~convzoo.tasks.hyperspectral.flags`: its ``convzoo train`` flags;
- :mod:`~convzoo.tasks.hyperspectral.commands`: what ``train`` and ``eval`` print;
- :mod:`~convzoo.tasks.hyperspectral.task`: the task's row of :data:`convzoo.tasks.TASKS`.

The classifier itself, its loss and the confusion-matrix picture are classification's
(:mod:`convzoo.tasks.classification`): a pixel classifier is a classifier.
"""
