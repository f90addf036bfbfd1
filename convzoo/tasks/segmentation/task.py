"""The segmentation task's row of :data:`convzoo.tasks.TASKS`."""

from __future__ import annotations

from convzoo.tasks.segmentation.commands import evaluate, predict, train_summary
from convzoo.tasks.segmentation.pipeline import build
from convzoo.tasks.spec import TaskSpec

__all__ = ["TASK"]

TASK = TaskSpec(
    name="segmentation", build=build, train_summary=train_summary, evaluate=evaluate, predict=predict,
)
