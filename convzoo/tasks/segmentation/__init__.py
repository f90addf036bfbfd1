"""Semantic segmentation: a class for every pixel (or voxel) of an image (or volume).

- :mod:`~convzoo.tasks.segmentation.losses`: cross-entropy with an ignore value, soft
  multi-class Dice, their sum;
- :mod:`~convzoo.tasks.segmentation.metrics`: the pixel confusion matrix and what is read
  off it: per-class IoU and Dice, mean IoU, pixel accuracy, mean Dice;
- :mod:`~convzoo.tasks.segmentation.objective`: the loss of every output form (a map, a
  dict with an auxiliary map, UNet++'s deep-supervision heads) and the scores (what the
  training engine needs);
- :mod:`~convzoo.tasks.segmentation.valid_convs`: the original U-Net's valid convs, by
  mirror-extending the inputs by the context (the paper's overlap-tile strategy);
- :mod:`~convzoo.tasks.segmentation.tiling`: an image in one pass or tile by tile, with
  the same result;
- :mod:`~convzoo.tasks.segmentation.overlay`: masks in a fixed palette, the overlay, panels side by side;
- :mod:`~convzoo.tasks.segmentation.scoring`: a split's report, per-class table and sample pictures;
- :mod:`~convzoo.tasks.segmentation.pipeline`: a training run's data, model, engine and report;
- :mod:`~convzoo.tasks.segmentation.evaluation`: a checkpoint scored on a split of its dataset;
- :mod:`~convzoo.tasks.segmentation.files`: an image file segmented with a checkpoint;
- :mod:`~convzoo.tasks.segmentation.flags`: its ``convzoo train`` flags and ``convzoo segment``'s;
- :mod:`~convzoo.tasks.segmentation.commands`: what ``train`` and ``eval`` print, and ``convzoo segment``;
- :mod:`~convzoo.tasks.segmentation.task`: the task's row of :data:`convzoo.tasks.TASKS`.
"""
