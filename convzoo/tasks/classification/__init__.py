"""Image classification: a label per image.

- :mod:`~convzoo.tasks.classification.objective`: cross-entropy, top-1/top-5 and per-class
  accuracy, the confusion matrix (what the training engine needs);
- :mod:`~convzoo.tasks.classification.pipeline`: a training run's data, model, transfer
  learning and test report;
- :mod:`~convzoo.tasks.classification.distillation`: knowledge distillation from a
  teacher checkpoint (``--teacher``);
- :mod:`~convzoo.tasks.classification.confusion`: the confusion matrix as a picture;
- :mod:`~convzoo.tasks.classification.flags`: the distillation flags of ``convzoo train``;
- :mod:`~convzoo.tasks.classification.commands`: what ``train``, ``eval`` and ``predict`` print;
- :mod:`~convzoo.tasks.classification.task`: the task's row of :data:`convzoo.tasks.TASKS`.
"""
