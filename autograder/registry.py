"""The registry of graded tasks, collected from ``autograder.topics``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from autograder import topics as topics_package
from autograder.checks.api import Task


@cache
def all_tasks() -> dict[str, Task]:
    """Every task of every topic module, by id, in topic then declaration order."""
    tasks: dict[str, Task] = {}
    for info in sorted(pkgutil.iter_modules(topics_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{topics_package.__name__}.{info.name}")
        for task in getattr(module, "TASKS", ()):
            if task.id in tasks:
                raise ValueError(f"duplicate task id {task.id}")
            tasks[task.id] = task
    return tasks


def get_task(task_id: str) -> Task:
    """Look a task up by id, with a helpful error."""
    tasks = all_tasks()
    if task_id not in tasks:
        raise KeyError(f"unknown task '{task_id}'; known: {', '.join(tasks)}")
    return tasks[task_id]


def tasks_for_topic(topic: str) -> tuple[Task, ...]:
    """The tasks of one topic (e.g. ``01_ppca``)."""
    return tuple(t for t in all_tasks().values() if t.topic == topic)


def topics_with_tasks() -> tuple[str, ...]:
    """Topics that have at least one graded task, in order."""
    return tuple(dict.fromkeys(t.topic for t in all_tasks().values()))


def topic_for_grade_ids(grade_ids: tuple[str, ...], filename_stem: str) -> str | None:
    """Which topic a notebook belongs to: by its file name, else by its grade-cell ids."""
    known = topics_with_tasks()
    if filename_stem in known:
        return filename_stem
    best, best_overlap = None, 0
    for topic in known:
        overlap = len({t.grade_id for t in tasks_for_topic(topic)} & set(grade_ids))
        if overlap > best_overlap:
            best, best_overlap = topic, overlap
    return best
