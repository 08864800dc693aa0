"""What grading a notebook produces: verdicts on checks, tasks and notebooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autograder import sandbox
from autograder.checks.api import Task
from autograder.status import Status


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict on one check."""

    name: str
    hidden: bool
    weight: float
    status: str
    message: str = ""


@dataclass
class TaskResult:
    """The verdict on one task: points, a ``Status`` and a message.

    A task with ``Status.GRADER_ERROR`` has no score: its ``points`` (0) are not the
    student's and are never stored or exported as such.
    """

    id: str
    points: float
    max_points: float
    status: str
    message: str
    checks: list[CheckOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0
    dependency: str = ""  # the sentence naming a failing graded dependency (message leads with it)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of the report."""
        return {"id": self.id, "points": self.points, "max_points": self.max_points,
                "status": self.status, "message": self.message}


@dataclass
class NotebookResult:
    """All task results of one notebook."""

    path: str
    topic: str | None
    tasks: list[TaskResult]
    error: str | None = None
    elapsed_s: float = 0.0
    grader_error: str | None = None

    @property
    def grader_errors(self) -> list[str]:
        """What the grader failed at (the notebook, or tasks): nothing here is a score."""
        found = [self.grader_error] if self.grader_error else []
        return found + [f"{t.id}: {t.message}" for t in self.tasks
                        if t.status == Status.GRADER_ERROR]

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tasks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_points for t in self.tasks), 2)

    def as_dict(self) -> dict[str, Any]:
        report = {"path": self.path, "score": self.score, "max_score": self.max_score,
                  "tasks": [t.as_dict() for t in self.tasks]}
        if self.grader_errors:
            report["grader_errors"] = self.grader_errors
        return report


def aggregate(task: Task, outcomes: list[CheckOutcome], run: sandbox.ChildRun) -> TaskResult:
    total = sum(o.weight for o in outcomes) or 1.0
    earned = sum(o.weight for o in outcomes if o.status == "passed")
    points = round(task.points * earned / total, 2)
    failing = [o for o in outcomes if o.status != "passed"]
    if not failing:
        n = len(outcomes)
        return TaskResult(task.id, points, task.points, "passed",
                          f"all {n} check{'s' if n != 1 else ''} passed", outcomes)
    statuses = {o.status for o in failing}
    broken = [o for o in failing if o.status == Status.GRADER_ERROR]
    if broken:  # no score exists for this task; the first grader error says why
        return TaskResult(task.id, 0.0, task.points, Status.GRADER_ERROR,
                          f"{broken[0].name}: {broken[0].message}", outcomes)
    for status in ("timeout", "crashed"):
        if status in statuses:
            break
    else:
        if statuses == {"missing"}:
            status = "missing"
        elif "error" in statuses:
            status = "error"
        else:
            status = "failed"
    first = failing[0]
    if status == "missing":
        return TaskResult(task.id, points, task.points, status, first.message, outcomes)
    message = f"{first.name}: {first.message}" if first.name else first.message
    if len(failing) > 1:
        message += f" (+{len(failing) - 1} more failing check{'s' if len(failing) > 2 else ''})"
    return TaskResult(task.id, points, task.points, status, message, outcomes)
