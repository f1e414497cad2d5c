"""The tasks: one module per task family in this package, each defining `TASK`, its `TaskSpec`.

A task module is found by its file: adding a task is one new file here (plus its tests). Modules load on first use
(`get_task`), so asking for a task's facts never imports the training libraries.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from ft_app.tasks.base import GenerationSettings, Prediction, TaskSpec

__all__ = ["GenerationSettings", "Prediction", "TaskSpec", "TASK_NAMES", "get_task", "all_tasks"]

# Every module of this package but the shared ones is a task. The page lists these first, in this order, and any
# other task after them.
_SHARED = {"__init__", "base"}
PAGE_ORDER = ("classification", "causal_lm", "seq2seq")


def _task_modules() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("*.py") if p.stem not in _SHARED and not p.stem.startswith("_"))


def get_task(name: str) -> TaskSpec:
    """The task of this name; a plain error naming the choices for an unknown one."""
    if not isinstance(name, str) or name not in TASK_NAMES:
        raise ValueError(f"Unknown task {name!r}. Choose {', '.join(TASK_NAMES[:-1])} or {TASK_NAMES[-1]}.")
    return _load(name)


@cache
def _load(name: str) -> TaskSpec:
    return importlib.import_module(f"{__name__}.{name}").TASK


def all_tasks() -> list[TaskSpec]:
    """Every task, in the page's order."""
    return [get_task(name) for name in TASK_NAMES]


_FOUND = _task_modules()
TASK_NAMES: tuple[str, ...] = tuple(n for n in PAGE_ORDER if n in _FOUND) + tuple(n for n in _FOUND if n not in PAGE_ORDER)
