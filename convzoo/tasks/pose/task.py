"""The pose task's row of :data:`convzoo.tasks.TASKS`."""

from __future__ import annotations

from convzoo.tasks.pose.commands import evaluate, predict, train_summary
from convzoo.tasks.pose.pipeline import build
from convzoo.tasks.spec import TaskSpec

__all__ = ["TASK"]

TASK = TaskSpec(
    name="pose", build=build, train_summary=train_summary, evaluate=evaluate, predict=predict,
)
