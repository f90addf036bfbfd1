"""The crossmodal task's row of :data:`convzoo.tasks.TASKS`."""

from __future__ import annotations

from convzoo.tasks.crossmodal.commands import evaluate, predict, retrieve, train_summary
from convzoo.tasks.crossmodal.pipeline import build
from convzoo.tasks.spec import TaskSpec

__all__ = ["TASK"]

TASK = TaskSpec(
    name="crossmodal", build=build, train_summary=train_summary, evaluate=evaluate, predict=predict, retrieve=retrieve,
)
