"""Helpers for writing course notebooks programmatically (nbgrader metadata done right).

Lecturers normally edit ``solutions/`` in Jupyter; these helpers are for scaffolding a new
topic from a script. Every cell kind the grader understands has a constructor here.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _nbgrader(grade_id: str, *, grade: bool = False, solution: bool = False,
              locked: bool = False, points: float | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def md(text: str) -> nbformat.NotebookNode:
    """Prose and maths."""
    return new_markdown_cell(text.strip("\n"))


def setup(source: str, grade_id: str) -> nbformat.NotebookNode:
    """A read-only cell the grader runs before the solution cells (imports, fixed helpers)."""
    cell = new_code_cell(source.strip("\n"))
    cell.metadata["tags"] = ["setup"]
    cell.metadata["nbgrader"] = _nbgrader(grade_id, locked=True)
    return cell


def solution(source: str, grade_id: str) -> nbformat.NotebookNode:
    """A student cell; put the answer between ``### BEGIN SOLUTION`` / ``### END SOLUTION``."""
    cell = new_code_cell(source.strip("\n"))
    cell.metadata["nbgrader"] = _nbgrader(grade_id, solution=True)
    return cell


def tests(task_id: str, points: float, hidden: bool = True) -> nbformat.NotebookNode:
    """The locked test cell of a task: public checks, and hidden ones stripped on release."""
    lines = ["from autograder.notebook import check", "", f'check("{task_id}", globals())']
    if hidden:
        lines += ["### BEGIN HIDDEN TESTS", f'check("{task_id}", globals(), hidden=True)',
                  "### END HIDDEN TESTS"]
    cell = new_code_cell("\n".join(lines))
    cell.metadata["nbgrader"] = _nbgrader(task_id.replace(".", "_"), grade=True, locked=True,
                                          points=points)
    return cell


def code(source: str) -> nbformat.NotebookNode:
    """A demo cell (plots, training): never run by the grader."""
    return new_code_cell(source.strip("\n"))


def write(path: str | Path, cells: list[nbformat.NotebookNode]) -> None:
    """Write a notebook with a Python 3 kernelspec."""
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
