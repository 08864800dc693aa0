"""Write class grades into an nbgrader gradebook with nbgrader's own API.

Each task's points become the ``auto_score`` of its test cell, exactly what ``nbgrader
autograde`` stores through the course's ``IsolatedExecute`` step, so ``nbgrader export`` and
formgrader show the same numbers. The assignment must already be in the gradebook (``nbgrader
generate_assignment`` puts it there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.classgrade.records import Record
from autograder.classgrade.tables import gradable
from autograder.registry import tasks_for_topic


def write_gradebook(records: list[Record], db_path: Path) -> list[str]:
    """Store every gradable record's points; returns one warning per skipped submission."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc

    warnings: list[str] = []
    with Gradebook(f"sqlite:///{Path(db_path).resolve()}") as gb:
        for record in gradable(records):
            try:
                assignment = gb.find_assignment(record.assignment)
            except MissingEntry:
                warnings.append(f"gradebook: no assignment '{record.assignment}' in {db_path} "
                                "(run nbgrader generate_assignment first); "
                                f"{record.student} not stored")
                continue
            notebook = _notebook(assignment, record.topic or "")
            if notebook is None:
                warnings.append(f"gradebook: assignment '{record.assignment}' has no notebook")
                continue
            gb.update_or_create_student(record.student)
            stamp = Path(record.path).parent / "timestamp.txt"
            extra = {}
            if stamp.is_file() and stamp.read_text().strip():
                extra["timestamp"] = parse_utc(stamp.read_text().strip())
            gb.update_or_create_submission(record.assignment, record.student, **extra)
            task_of_cell = {t.grade_id: t.id for t in tasks_for_topic(record.topic or "")}
            points = {t.id: t.points for t in record.tasks}
            for cell in notebook.grade_cells:
                task_id = task_of_cell.get(cell.name)
                if task_id not in points:
                    continue
                grade = gb.find_grade(cell.name, notebook.name, record.assignment,
                                      record.student)
                grade.auto_score = points[task_id]
                grade.needs_manual_grade = grade.manual_score is not None
            gb.db.commit()
    return warnings


def _notebook(assignment: Any, topic: str) -> Any:
    """The assignment's notebook named like the topic, else its first notebook (or None)."""
    notebooks = list(assignment.notebooks)
    return next((n for n in notebooks if n.name == topic), notebooks[0] if notebooks else None)
