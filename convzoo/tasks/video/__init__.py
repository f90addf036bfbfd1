"""Video classification: a label per video, from clips of consecutive frames.

- :mod:`~convzoo.tasks.video.data`: the splits of the generated moving digits, UCF101, a
  Kinetics-style CSV or folders of frames;
- :mod:`~convzoo.tasks.video.scoring`: clip- and video-level top-1/top-5 accuracy (a video's
  clips' scores averaged);
- :mod:`~convzoo.tasks.video.pipeline`: a training run's data, model, transfer learning and
  test report;
- :mod:`~convzoo.tasks.video.files`: classifying a video file (``convzoo predict``);
- :mod:`~convzoo.tasks.video.flags`: its ``convzoo train`` flags;
- :mod:`~convzoo.tasks.video.commands`: what ``train``, ``eval`` and ``predict`` print;
- :mod:`~convzoo.tasks.video.task`: the task's row of :data:`convzoo.tasks.TASKS`.

The loss and metrics of single clips are classification's
(:class:`~convzoo.tasks.classification.objective.ClassificationTask`).
"""
