"""Gradescope's autograder ``results.json`` for each submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder.classgrade.names import submission_path
from autograder.classgrade.records import Record
from autograder.classgrade.store import write_atomic

FOLDER = "gradescope"


def results_json(record: Record) -> dict[str, Any]:
    """Gradescope's format: overall score and one test per task (name, points, message)."""
    tests = [{"name": t.id, "score": t.points, "max_score": t.max_points,
              "status": "passed" if t.status == "passed" else "failed",
              "output": f"{t.status}: {t.message}", "visibility": "visible"}
             for t in record.tasks]
    result: dict[str, Any] = {"score": record.score, "execution_time": round(record.elapsed_s),
                              "visibility": "visible", "stdout_visibility": "hidden",
                              "tests": tests}
    if record.error:
        result["output"] = f"Your notebook could not be graded: {record.error}"
    return result


def write_gradescope(records: list[Record], out: Path) -> list[Path]:
    """``<out>/gradescope/<student>/<assignment>/results.json`` for every record (names
    encoded)."""
    written = []
    for record in records:
        path = submission_path(out / FOLDER, record.student, record.assignment, "")
        path = path / "results.json"
        write_atomic(path, (json.dumps(results_json(record), indent=1) + "\n").encode())
        written.append(path)
    return written
