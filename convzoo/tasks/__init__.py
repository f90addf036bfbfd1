"""Tasks: one package per task, holding everything that is only that task's.

A task package ``convzoo/tasks/<task>/`` holds the task's loss and metrics (the engine's
``Task``), its pipeline (what a training run builds and reports), its pictures and its
commands; its ``task.py`` gathers what the runner and the commands need into one
:class:`~convzoo.tasks.spec.TaskSpec`, ``TASK``, and its ``flags.py`` adds its flags and
commands to ``convzoo``'s parser without importing torch. :data:`TASKS` is the table they
look a task up in, so that neither names a task: a new task is a new package and a row here.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from convzoo.errors import ConvzooError

if TYPE_CHECKING:
    from convzoo.tasks.spec import TaskSpec

__all__ = ["TASKS", "get_task", "task_flags"]

# Task name -> its package. Strings, so that reading the table imports no task: a task's code is
# imported when it is asked for.
TASKS: dict[str, str] = {
    "classification": "convzoo.tasks.classification",
    "denoise": "convzoo.tasks.denoise",
    "hyperspectral": "convzoo.tasks.hyperspectral",
    "segmentation": "convzoo.tasks.segmentation",
    "metric": "convzoo.tasks.metric",
    "pose": "convzoo.tasks.pose",
    "video": "convzoo.tasks.video",
    "crossmodal": "convzoo.tasks.crossmodal",
    "gait": "convzoo.tasks.gait",
}


def _task_module(name: str, module: str) -> ModuleType:
    if name not in TASKS:
        raise ConvzooError(f"unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}")
    return importlib.import_module(f"{TASKS[name]}.{module}")


def get_task(name: str) -> TaskSpec:
    """The task ``name`` of :data:`TASKS`; an error naming the tasks for any other."""
    return _task_module(name, "task").TASK


def task_flags(name: str) -> ModuleType:
    """The ``flags`` module of the task ``name``: its ``add_train_arguments(train_parser)`` and, if the task
    has commands of its own, ``add_commands(subcommands)``. Torch-free, unlike :func:`get_task`'s spec."""
    return _task_module(name, "flags")
