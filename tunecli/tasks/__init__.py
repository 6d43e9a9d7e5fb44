"""Tasks: one module per task (denoise, deblur, upscale, style), each registering a
:class:`~tunecli.tasks.registry.Task` — the one place to edit to add a task.

See :mod:`tunecli.tasks.registry` for the protocol; importing this package does not import torch.
"""

from tunecli.tasks.registry import (
    EvalColumn,
    EvalOptions,
    EvalReport,
    Objective,
    Task,
    TrainBatch,
    TrainingRecipe,
    ValidationCase,
    default_models,
    get_task,
    list_tasks,
    register_task,
)

__all__ = [
    "EvalColumn",
    "EvalOptions",
    "EvalReport",
    "Objective",
    "Task",
    "TrainBatch",
    "TrainingRecipe",
    "ValidationCase",
    "default_models",
    "get_task",
    "list_tasks",
    "register_task",
]
