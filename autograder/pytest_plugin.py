"""pytest collection of course notebooks: one test per task, public checks only.

``pytest exercises/01_ppca`` grades the student's notebook file (as last saved) with the same
engine as the TA's grader, but only the public checks: one test per task, in the order of
the notebook's test cells. Training and plotting cells never run. ``VAE_COURSE_SELF_CHECK``
chooses the sandboxed or the fast way of running them (``autograder.self_check``). As in the
TA's report, a failing task whose graded dependency fails its own task says so first
("`ppca_marginal`, which this uses, is wrong (ppca.marginal): fix it first.").

Only a notebook named like its topic (``01_ppca.ipynb``) is collected, not Jupyter's copies
(``01_ppca-Copy1.ipynb``) or nbconvert's output (``01_ppca.nbconvert.ipynb``); the report
says when the checked file was last saved.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.checks.api import Task
from autograder.feedback import task_text
from autograder.grading import Grader, TaskResult, dependency_prefix, graded_dependencies
from autograder.notebook_code import NotebookCode, NotebookError, load_notebook_code
from autograder.paths import TOPICS
from autograder.registry import tasks_for_topic, topic_for_grade_ids
from autograder.self_check import (
    MODE_HEADER,
    SelfCheckSettingError,
    preload_for,
    self_check_mode,
)

_GRADER: Grader | None = None
_RESULTS: dict[tuple[str, str], TaskResult] = {}  # (notebook path, task id) -> its result


def _grader() -> Grader:
    """Public checks only; in ``fast`` mode (``autograder.self_check``) without a sandbox,
    each task's child forked straight from this process."""
    global _GRADER
    if _GRADER is None:
        if self_check_mode() == "fast":
            sandbox.fork_directly()
            _GRADER = Grader(device="cpu", include_hidden=False, sandbox="off")
        else:
            _GRADER = Grader(device="cpu", include_hidden=False)
    return _GRADER


def task_result(code: NotebookCode, task: Task) -> TaskResult:
    """The task's public result on this notebook, graded once per session (a failing task
    reads the results of the tasks it depends on; those not run yet are graded then)."""
    key = (code.path, task.id)
    if key not in _RESULTS:
        _RESULTS[key] = _grader().grade_task(code, task)
    return _RESULTS[key]


class TaskNotPassed(Exception):
    """A task's public checks did not all pass."""


class NotebookFile(pytest.File):
    """A course notebook: one item per graded task."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            fast = self_check_mode() == "fast"
        except SelfCheckSettingError as exc:
            raise self.CollectError(str(exc)) from None
        try:
            code = load_notebook_code(self.path, validate=not fast)
        except NotebookError as exc:
            raise self.CollectError(str(exc)) from None
        topic = topic_for_grade_ids(code.grade_ids, self.path.stem)
        if topic is None:
            return
        if fast:
            preload_for(code)
        for task in in_notebook_order(tasks_for_topic(topic), code.grade_ids):
            yield TaskItem.from_parent(self, name=task.id, code=code, task=task)


def in_notebook_order(tasks: tuple[Task, ...], grade_ids: tuple[str, ...]) -> list[Task]:
    """Tasks sorted by the position of their test cell (tasks without one come last)."""
    position = {grade_id: n for n, grade_id in enumerate(grade_ids)}
    return sorted(tasks, key=lambda t: position.get(t.grade_id, len(position)))


class TaskItem(pytest.Item):
    """One graded task of one notebook."""

    def __init__(self, *, code: NotebookCode, task: Task, **kwargs) -> None:
        super().__init__(**kwargs)
        self.code = code
        self.task = task
        self.task_id = task.id

    def runtest(self) -> None:
        task = self.task
        result = task_result(self.code, task)
        if result.status != "passed":
            tasks = tasks_for_topic(task.topic)
            known = {other.id: task_result(self.code, other)
                     for other in graded_dependencies(self.code, task, tasks)}
            raise TaskNotPassed(task_text(result.id, result.status, result.message,
                                          result.checks, "public",
                                          dependency_prefix(self.code, task, known, tasks)))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None) -> str:
        if isinstance(excinfo.value, TaskNotPassed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.task_id}"


def is_course_notebook(file_path: Path) -> bool:
    """A topic's own notebook (``01_ppca.ipynb``), outside checkpoint folders."""
    return (file_path.suffix == ".ipynb" and file_path.stem in TOPICS
            and ".ipynb_checkpoints" not in file_path.parts)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    """Collect each topic's own notebook (not its copies) as a course notebook."""
    if is_course_notebook(file_path):
        return NotebookFile.from_parent(parent, path=file_path)
    return None


def saved_at(path: Path) -> str:
    """'<path>: checked as saved at <local time>' (the file's modification time)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
    return f"{path}: checked as saved at {stamp} (save the notebook to check your latest edits)"


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The way the public checks run, once at the top of the report."""
    try:
        return [MODE_HEADER[self_check_mode()]]
    except SelfCheckSettingError as exc:
        return [f"self-check: {exc}"]


def pytest_report_collectionfinish(config: pytest.Config, start_path: Path,
                                   items: list[pytest.Item]) -> list[str]:
    """One line per collected notebook: which saved version is checked."""
    paths = dict.fromkeys(item.path for item in items if isinstance(item, TaskItem))
    return [saved_at(path) for path in paths]
