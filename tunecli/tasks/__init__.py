"""Tasks: one module per task (denoise, deblur, upscale, style), each registering a
:class:`~tunecli.tasks.registry.Task` with its own options — the one place to edit to add a
task (a task defined outside the package registers itself the same way).

See :mod:`tunecli.tasks.registry` for the protocol; importing this package does not import torch.
"""

from tunecli.tasks.options import TaskOption, resolve_options
from tunecli.tasks.registry import (
    EvalColumn,
    EvalOptions,
    EvalReport,
    MeasuredResults,
    ModelRunner,
    Objective,
    Pairing,
    Task,
    TrainBatch,
    TrainingRecipe,
    TrainSettings,
    ValidationCase,
    default_models,
    get_task,
    list_tasks,
    register_task,
    unregister_task,
)

__all__ = [
    "EvalColumn",
    "EvalOptions",
    "EvalReport",
    "MeasuredResults",
    "ModelRunner",
    "Objective",
    "Pairing",
    "Task",
    "TaskOption",
    "TrainBatch",
    "TrainSettings",
    "TrainingRecipe",
    "ValidationCase",
    "default_models",
    "get_task",
    "list_tasks",
    "register_task",
    "resolve_options",
    "unregister_task",
]
