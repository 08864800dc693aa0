"""The gradebook as CSV: wide (one row per student), long (one row per task) and errors.

Every text cell (names, messages, column names) is quoted and written so that no spreadsheet
runs it as a formula (``escaping.csv_cell``); numbers stay unquoted numbers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.classgrade.records import Record
from autograder.classgrade.store import write_atomic
from autograder.escaping import csv_cell
from autograder.status import Status

WIDE = "grades.csv"
LONG = "grades_long.csv"
ERRORS = "errors.csv"


def gradable(records: list[Record]) -> list[Record]:
    """Records that belong to a known topic (the others appear only in ``errors.csv``)."""
    return [r for r in records if r.topic is not None]


def task_columns(records: list[Record]) -> dict[str, list[str]]:
    """Each assignment's task ids, in the order the grader reports them."""
    columns: dict[str, list[str]] = {}
    for record in sorted(gradable(records), key=lambda r: r.assignment):
        known = columns.setdefault(record.assignment, [])
        known.extend(t.id for t in record.tasks if t.id not in known)
    return columns


def wide_rows(records: list[Record]) -> tuple[list[str], list[dict[str, object]]]:
    """Header and rows: student, <assignment>/<task> ..., <assignment>/total, total."""
    columns = task_columns(records)
    header = ["student"]
    for assignment, tasks in columns.items():
        header += [f"{assignment}/{t}" for t in tasks] + [f"{assignment}/total"]
    header.append("total")
    rows: dict[str, dict[str, object]] = {}
    for record in gradable(records):
        row = rows.setdefault(record.student, {"student": record.student, "total": 0.0})
        for task in record.tasks:  # a grader error has no score: its cell stays empty
            if task.status != Status.GRADER_ERROR:
                row[f"{record.assignment}/{task.id}"] = task.points
        if record.grader_errors or row["total"] == "":
            row["total"] = ""  # an incomplete total is no total
        else:
            row["total"] = round(float(row["total"]) + record.score, 2)  # type: ignore[arg-type]
        if not record.grader_errors:
            row[f"{record.assignment}/total"] = record.score
    return header, [rows[s] for s in sorted(rows)]


def long_rows(records: list[Record]) -> list[dict[str, object]]:
    """One row per (student, assignment, task)."""
    return [{"student": r.student, "assignment": r.assignment, "topic": r.topic, "task": t.id,
             "points": "" if t.status == Status.GRADER_ERROR else t.points,
             "max_points": t.max_points, "status": t.status, "message": t.message}
            for r in sorted(gradable(records), key=lambda r: (r.student, r.assignment))
            for t in r.tasks]


def write_tables(records: list[Record], out: Path) -> None:
    """Write ``grades.csv``, ``grades_long.csv`` and ``errors.csv`` into ``out``."""
    header, rows = wide_rows(records)
    _write_csv(out / WIDE, header, rows)
    _write_csv(out / LONG, ["student", "assignment", "topic", "task", "points", "max_points",
                            "status", "message"], long_rows(records))
    errors = [{"student": r.student, "assignment": r.assignment, "path": r.path,
               "error": r.error} for r in records if r.error]
    errors += [{"student": r.student, "assignment": r.assignment, "path": r.path,
                "error": f"grader error (no score): {problem}"}
               for r in records for problem in r.grader_errors]
    _write_csv(out / ERRORS, ["student", "assignment", "path", "error"], errors)


def _write_csv(path: Path, header: list[str], rows: list[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(row.get(name, "")) for name in header] for row in rows)
    write_atomic(path, buffer.getvalue().encode("utf-8", "backslashreplace"))
