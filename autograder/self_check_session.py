"""One notebook's self-check: its public tasks in notebook order, graded when asked, each
verdict turned into the text pytest prints.

The same object serves ``pytest exercises/NN_topic`` in the pytest process and in the warm
check server (``autograder.check_server``), so both give the same verdicts and messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import sandbox
from autograder.checks.api import Task
from autograder.feedback import task_text
from autograder.grading import Grader, TaskResult, dependency_prefix, graded_dependencies
from autograder.notebook_code import load_notebook_code
from autograder.registry import tasks_for_topic, topic_for_grade_ids
from autograder.self_check import TaskVerdict, preload_for
from autograder.task_workers import default_workers, map_in_workers


def in_notebook_order(tasks: tuple[Task, ...], grade_ids: tuple[str, ...]) -> list[Task]:
    """Tasks sorted by the position of their test cell (tasks without one come last)."""
    position = {grade_id: n for n, grade_id in enumerate(grade_ids)}
    return sorted(tasks, key=lambda t: position.get(t.grade_id, len(position)))


class NotebookSelfCheck:
    """A notebook file's public self-check in ``mode`` (``fast`` or ``sandboxed``, see
    ``autograder.self_check``); ``NotebookError`` (one line) when the file is no notebook."""

    def __init__(self, path: str | Path, mode: str, workers: int | None = None,
                 expected_s: dict[str, float] | None = None, cancel_fd: int | None = None
                 ) -> None:
        self.mode = mode
        self.cancel_fd = cancel_fd  # readable: stop grading (``task_workers.Cancelled``)
        self.expected_s = expected_s or {}  # seconds a task took last time: longest first
        self.code = load_notebook_code(path, validate=mode != "fast")
        self.topic = topic_for_grade_ids(self.code.grade_ids, Path(path).stem)
        self.tasks = in_notebook_order(tasks_for_topic(self.topic), self.code.grade_ids) \
            if self.topic else []
        self.workers = workers or default_workers()
        self._grader: Grader | None = None
        self._results: dict[str, TaskResult] = {}
        if mode == "fast":
            preload_for(self.code)

    @property
    def task_ids(self) -> list[str]:
        """The notebook's graded tasks, in the order of their test cells."""
        return [task.id for task in self.tasks]

    def verdicts(self, ids: Iterable[str]) -> dict[str, TaskVerdict]:
        """The verdicts of the tasks ``ids``, grading at once those not graded yet, then the
        graded dependencies a failing one needs for its message."""
        wanted = [task for task in self.tasks if task.id in set(ids)]
        self._grade(wanted)
        failing = [task for task in wanted if self._results[task.id].status != "passed"]
        self._grade([dep for task in failing
                     for dep in graded_dependencies(self.code, task, self.tasks)])
        return {task.id: self._verdict(task) for task in wanted}

    def timings(self) -> dict[str, float]:
        """Seconds each graded task took (its child and its judges), by task id."""
        return {task_id: result.elapsed_s for task_id, result in self._results.items()}

    def _verdict(self, task: Task) -> TaskVerdict:
        result = self._results[task.id]
        if result.status == "passed":
            return TaskVerdict("passed")
        known = {dep.id: self._results[dep.id]
                 for dep in graded_dependencies(self.code, task, self.tasks)}
        return TaskVerdict(result.status, task_text(
            result.id, result.status, result.message, result.checks, "public",
            dependency_prefix(self.code, task, known, self.tasks)))

    def _grade(self, tasks: list[Task]) -> None:
        todo = list({task.id: task for task in tasks if task.id not in self._results}.values())
        if not todo:
            return
        todo.sort(key=lambda task: -self.expected_s.get(task.id, 0.0))  # longest first
        grader = self._grader_for_mode()
        if self.mode == "fast":  # forked workers: each forks its tasks' children itself
            results = map_in_workers(lambda task: grader.grade_task(self.code, task), todo,
                                     self.workers, self.cancel_fd)
        else:  # the TA grader's way: threads, children from the one fork server
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                results = list(pool.map(lambda task: grader.grade_task(self.code, task), todo))
        self._results.update((result.id, result) for result in results)

    def _grader_for_mode(self) -> Grader:
        """Public checks only; in ``fast`` mode without a sandbox, children forked directly."""
        if self._grader is None:
            if self.mode == "fast":
                sandbox.fork_directly()
                self._grader = Grader(device="cpu", include_hidden=False, sandbox="off")
            else:
                self._grader = Grader(device="cpu", include_hidden=False)
        return self._grader
