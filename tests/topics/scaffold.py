"""The shared scaffold of a topic's tests: edit a solution cell, grade a variant in the sandbox,
run a public check in-process (by its id)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.grading import TaskResult
from autograder.registry import get_task, tasks_for_topic
from tests.helpers import edited_solution_cell, grade_variant
from tests.in_process import public_outcome


@dataclass(frozen=True)
class TopicTests:
    """What every topic's tests do, for one topic (``TopicTests("01_ppca")``)."""

    topic: str

    def edit(self, grade_id: str, *pairs: tuple[str, str]) -> str:
        """The reference cell with textual replacements (old, new); each must apply."""
        return edited_solution_cell(self.topic, grade_id, *pairs)

    def run(self, tmp_path: Path, grade_id: str, source: str, task_id: str) -> TaskResult:
        """Grade one task (sandboxed, hidden checks included) with one solution cell replaced."""
        return grade_variant(self.topic, tmp_path, grade_id, source, task_id)

    def public(self, task_id: str, check_id: str, replace: dict[str, str] | None = None,
               exercise: bool = False) -> tuple[str, str]:
        """(status, message) of one public check, in-process, on the solution (or exercise)
        with the cells of ``replace`` swapped in."""
        return public_outcome(task_id, check_id, replace, exercise)

    def public_outcomes(self, task_id: str, replace: dict[str, str] | None = None,
                        exercise: bool = False) -> dict[str, tuple[str, str]]:
        """Check id -> (status, message) of each public check of ``task_id``, in order."""
        return {c.id: self.public(task_id, c.id, replace, exercise)
                for c in get_task(task_id).checks if not c.hidden}

    def public_checks(self) -> list[tuple[str, str]]:
        """(task id, check id) of every public check of the topic."""
        return [(t.id, c.id) for t in tasks_for_topic(self.topic) for c in t.checks
                if not c.hidden]
