"""The video task's row of :data:`convzoo.tasks.TASKS`."""

from __future__ import annotations

from convzoo.tasks.spec import TaskSpec
from convzoo.tasks.video.commands import evaluate, predict, train_summary
from convzoo.tasks.video.pipeline import build

__all__ = ["TASK"]

TASK = TaskSpec(
    name="video", build=build, train_summary=train_summary, evaluate=evaluate, predict=predict,
)
