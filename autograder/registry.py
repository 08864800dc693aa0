"""The registry of graded tasks, collected from ``autograder.topics``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
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


@cache
def _topic_modules() -> frozenset[str]:
    """The names of the topic modules (``t01_ppca``...), without importing them."""
    return frozenset(info.name for info in pkgutil.iter_modules(topics_package.__path__))


@cache
def _module_tasks(name: str) -> tuple[Task, ...]:
    """The tasks one topic module declares (importing only that module and what it needs)."""
    module = importlib.import_module(f"{topics_package.__name__}.{name}")
    return tuple(getattr(module, "TASKS", ()))


def get_task(task_id: str) -> Task:
    """Look a task up by id, with a helpful error.

    The topic modules already imported are searched first: a grading child forked from a
    self-check that loaded one topic finds its task without importing every other topic.
    """
    for name in sorted(_topic_modules()):
        module = sys.modules.get(f"{topics_package.__name__}.{name}")
        task = next((t for t in getattr(module, "TASKS", ()) if t.id == task_id), None)
        if task is not None:
            return task
    tasks = all_tasks()
    if task_id not in tasks:
        raise KeyError(f"unknown task '{task_id}'; known: {', '.join(tasks)}")
    return tasks[task_id]


def tasks_for_topic(topic: str) -> tuple[Task, ...]:
    """The tasks of one topic (e.g. ``01_ppca``).

    Topic ``NN_name``'s tasks live in the module ``tNN_name``: only that one is imported, so a
    self-check of one topic does not load the libraries of the others' checks.
    """
    if f"t{topic}" in _topic_modules():
        return tuple(t for t in _module_tasks(f"t{topic}") if t.topic == topic)
    return tuple(t for t in all_tasks().values() if t.topic == topic)


def topics_with_tasks() -> tuple[str, ...]:
    """Topics that have at least one graded task, in order."""
    return tuple(dict.fromkeys(t.topic for t in all_tasks().values()))


def topic_for_grade_ids(grade_ids: tuple[str, ...], filename_stem: str) -> str | None:
    """Which topic a notebook belongs to: by its file name, else by its grade-cell ids."""
    if tasks_for_topic(filename_stem):
        return filename_stem
    known = topics_with_tasks()
    best, best_overlap = None, 0
    for topic in known:
        overlap = len({t.grade_id for t in tasks_for_topic(topic)} & set(grade_ids))
        if overlap > best_overlap:
            best, best_overlap = topic, overlap
    return best
