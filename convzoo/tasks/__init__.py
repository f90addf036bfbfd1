"""Tasks: each supplies its loss and metrics to the task-agnostic training engine."""
