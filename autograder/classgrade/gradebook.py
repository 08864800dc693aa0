"""Write class grades into an nbgrader gradebook with nbgrader's own API.

Each task's points become the ``auto_score`` of its test cell, exactly what ``nbgrader
autograde`` stores through the course's ``IsolatedExecute`` step, so ``nbgrader export`` and
formgrader show the same numbers. The assignment must already be in the gradebook (``nbgrader
generate_assignment`` puts it there).

A problem with one submission (an unreadable or malformed ``timestamp.txt``, which students
write; a cell the gradebook lacks) is reported for that submission and the others are stored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from autograder.classgrade.records import Record
from autograder.classgrade.tables import gradable
from autograder.registry import tasks_for_topic

TIMESTAMP = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 1024


def write_gradebook(records: list[Record], db_path: Path) -> list[str]:
    """Store every gradable record's points; returns one warning per skipped submission."""
    from nbgrader.api import Gradebook, MissingEntry

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
            try:
                _store(gb, record, notebook, warnings)
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                gb.db.rollback()
                warnings.append(f"gradebook: {record.student}/{record.assignment} not stored "
                                f"({type(exc).__name__}: {str(exc)[:200]})")
    return warnings


def _store(gb: Any, record: Record, notebook: Any, warnings: list[str]) -> None:
    """One submission's points (and its submission time, when it has a valid one)."""
    gb.update_or_create_student(record.student)
    extra = {}
    stamp, problem = read_timestamp(Path(record.path).parent / TIMESTAMP)
    if problem:
        warnings.append(f"gradebook: {record.student}/{record.assignment}: {TIMESTAMP} "
                        f"{problem}; its points are stored without a submission time (no "
                        "late penalty applies): check it")
    elif stamp is not None:
        extra["timestamp"] = stamp
    gb.update_or_create_submission(record.assignment, record.student, **extra)
    task_of_cell = {t.grade_id: t.id for t in tasks_for_topic(record.topic or "")}
    points = {t.id: t.points for t in record.tasks}
    for cell in notebook.grade_cells:
        task_id = task_of_cell.get(cell.name)
        if task_id not in points:
            continue
        grade = gb.find_grade(cell.name, notebook.name, record.assignment, record.student)
        grade.auto_score = points[task_id]
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def read_timestamp(path: Path) -> tuple[Any, str | None]:
    """``(time, None)`` from a submission's ``timestamp.txt``; ``(None, None)`` without one;
    ``(None, why)`` when it is not a small regular file holding a date."""
    from nbgrader.utils import parse_utc

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_TIMESTAMP_BYTES:
            return None, "is not a small regular file"
        text = os.read(fd, MAX_TIMESTAMP_BYTES).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    if not text:
        return None, None
    try:
        return parse_utc(text), None
    except (ValueError, OverflowError, TypeError):
        return None, "does not hold a date"


def _notebook(assignment: Any, topic: str) -> Any:
    """The assignment's notebook named like the topic, else its first notebook (or None)."""
    notebooks = list(assignment.notebooks)
    return next((n for n in notebooks if n.name == topic), notebooks[0] if notebooks else None)
