"""A topic package's task table: the rows of ``tasks.py`` plus, where the grader has them,
the grader-only checks of ``hidden.py`` (see ``docs/design.md``, "Topic packages").

``hidden.py`` exports ``GRADER_ONLY_CHECKS = {task id: (Check, ...)}``: every hidden check,
and the public checks whose judge needs grader-only code (``autograder.trusted``). They
follow the task's own checks, or take the places ``Task.check_order`` gives them. A student
kit has no ``hidden.py``: its tasks are the rows of ``tasks.py`` alone.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

from autograder.checks.api import Check, Task


def tasks_on_first_use(package: str) -> Callable[[str], Any]:
    """A topic package's module ``__getattr__``: ``TASKS`` is built from ``tasks.py`` (and
    ``hidden.py`` where the grader has it) the first time it is asked for, so that a child
    importing the package's ``probes`` imports no judge."""

    def __getattr__(name: str) -> Any:
        if name != "TASKS":
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        rows = importlib.import_module(f"{package}.tasks").TASKS
        tasks = topic_tasks(package, rows)
        sys.modules[package].TASKS = tasks
        return tasks

    return __getattr__


def topic_tasks(package: str, rows: tuple[Task, ...]) -> tuple[Task, ...]:
    """``rows`` with the grader-only checks of ``<package>.hidden`` attached, when present."""
    try:
        hidden = importlib.import_module(f"{package}.hidden")
    except ModuleNotFoundError as exc:
        if exc.name != f"{package}.hidden":
            raise
        return rows
    return attach(rows, hidden.GRADER_ONLY_CHECKS)


def attach(rows: tuple[Task, ...], extra: Mapping[str, tuple[Check, ...]]) -> tuple[Task, ...]:
    """Each row with its grader-only checks, in the row's ``check_order`` (default: after)."""
    unknown = set(extra) - {t.id for t in rows}
    if unknown:
        raise ValueError(f"grader-only checks for unknown tasks: {sorted(unknown)}")
    return tuple(_with_checks(task, extra.get(task.id, ())) for task in rows)


def _with_checks(task: Task, extra: tuple[Check, ...]) -> Task:
    checks = task.checks + tuple(extra)
    if task.check_order:
        missing = [c.id for c in checks if c.id not in task.check_order]
        if missing:
            raise ValueError(f"{task.id}: checks {missing} are not in its check_order")
        checks = tuple(sorted(checks, key=lambda c: task.check_order.index(c.id)))
    return dataclasses.replace(task, checks=checks)
