"""Tasks: one package per task, holding everything that is only that task's.

A task package ``convzoo/tasks/<task>/`` holds the task's loss and metrics (the engine's
``Task``), its pipeline (what a training run builds and reports), its pictures and its
commands; its ``task.py`` gathers what the runner and the command line need into one
:class:`~convzoo.tasks.spec.TaskSpec`, ``TASK``. :data:`TASKS` is the table they look a
task up in, so that neither names a task: a new task is a new package and a row here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from convzoo.tasks.spec import TaskSpec

__all__ = ["TASKS", "get_task"]

# Task name -> the module whose ``TASK`` is the task's TaskSpec. Strings, so that reading the
# table imports no task: a task's code is imported when it is asked for.
TASKS: dict[str, str] = {
    "classification": "convzoo.tasks.classification.task",
    "denoise": "convzoo.tasks.denoise.task",
    "hyperspectral": "convzoo.tasks.hyperspectral.task",
    "segmentation": "convzoo.tasks.segmentation.task",
    "metric": "convzoo.tasks.metric.task",
    "pose": "convzoo.tasks.pose.task",
    "video": "convzoo.tasks.video.task",
    "crossmodal": "convzoo.tasks.crossmodal.task",
    "gait": "convzoo.tasks.gait.task",
}


def get_task(name: str) -> TaskSpec:
    """The task ``name`` of :data:`TASKS`; an error naming the tasks for any other."""
    if name not in TASKS:
        raise ConvzooError(f"unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name]).TASK
