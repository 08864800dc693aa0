"""The stored form of one graded submission (what ``grades/<student>/<assignment>.json`` holds)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from autograder.grading import NotebookResult
from autograder.registry import tasks_for_topic
from autograder.status import Status

FORMAT = 1


@dataclass
class TaskGrade:
    """One task's points, status and student-facing messages (checks: name, status, message)."""

    id: str
    points: float
    max_points: float
    status: str
    message: str
    checks: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Record:
    """A graded (or ungradable) submission; ``key`` says what it was graded from."""

    student: str
    assignment: str
    topic: str | None
    path: str
    key: str
    tasks: list[TaskGrade]
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def grader_errors(self) -> list[str]:
        """'task: why' for each task the grader failed on; such a record has no score and is
        never stored, exported or written to a gradebook."""
        return [f"{t.id}: {t.message}" for t in self.tasks if t.status == Status.GRADER_ERROR]

    @property
    def score(self) -> float:
        """Points earned, over all tasks."""
        return _total(t.points for t in self.tasks)

    @property
    def max_score(self) -> float:
        """Points available."""
        return _total(t.max_points for t in self.tasks)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data, with the totals spelled out for other tools."""
        return {"format": FORMAT, **asdict(self), "score": self.score,
                "max_score": self.max_score}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        """Rebuild a record; raises ValueError on anything malformed."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown record format {data.get('format')!r}")
            tasks = [TaskGrade(**t) for t in data["tasks"]]
            return cls(data["student"], data["assignment"], data["topic"], data["path"],
                       data["key"], tasks, data.get("error"), float(data.get("elapsed_s", 0)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed record ({type(exc).__name__}: {exc})") from None


def _total(points: Iterable[float]) -> float:
    return round(sum(points), 2)


def from_result(student: str, assignment: str, path: str, key: str,
                result: NotebookResult) -> Record:
    """A record from the grader's result (an unreadable notebook scores 0 on every task)."""
    if result.error:
        return error_record(student, assignment, result.topic or None, path, key, result.error)
    if result.grader_error:  # the grader failed on the whole notebook: every task says so
        tasks = [TaskGrade(t.id, 0.0, t.points, Status.GRADER_ERROR, result.grader_error)
                 for t in tasks_for_topic(result.topic or "")]
        return Record(student, assignment, result.topic, path, key, tasks)
    tasks = [TaskGrade(t.id, t.points, t.max_points, t.status, t.message,
                       [{"name": c.name, "status": c.status, "message": c.message}
                        for c in t.checks])
             for t in result.tasks]
    return Record(student, assignment, result.topic, path, key, tasks,
                  elapsed_s=round(result.elapsed_s, 3))


def error_record(student: str, assignment: str, topic: str | None, path: str, key: str,
                 error: str) -> Record:
    """A submission that could not be graded: every task of its topic gets 0, status error."""
    tasks = [TaskGrade(t.id, 0.0, t.points, "error", "the notebook could not be graded")
             for t in (tasks_for_topic(topic) if topic else ())]
    return Record(student, assignment, topic, path, key, tasks, error=error)
