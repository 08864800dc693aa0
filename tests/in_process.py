"""A task's public checks run in this process on a notebook's code (fast; no sandbox): the one
helper tests use to run public checks.

For tests of public checks: the probe runs next to the notebook's definitions exactly as in a
student's kernel (``autograder.notebook``), and the judge sees what the grader would see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import torch

from autograder.checks.api import Check, ProbeContext, Task
from autograder.notebook import _run_check
from autograder.notebook_code import extract_code, parse_notebook
from autograder.paths import course_root, solution_notebook
from autograder.registry import get_task
from autograder.worker import run_cells


def notebook_namespace(topic: str, replace: dict[str, str] | None = None,
                       exercise: bool = False) -> dict[str, Any]:
    """The namespace after running a notebook's setup and solution cells in order.

    ``replace`` maps a solution cell's grade_id to the source to run instead; ``exercise``
    takes the released notebook (the stubs) instead of the solution.
    """
    path = (course_root() / "exercises" / topic / f"{topic}.ipynb" if exercise
            else solution_notebook(topic))
    nb = nbformat.read(str(Path(path)), as_version=4)
    replace = dict(replace or {})
    ns: dict[str, Any] = {"__name__": f"notebook_{topic}"}
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        grade_id = meta.get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or not ("setup" in meta.get("tags", [])
                                            or meta.get("nbgrader", {}).get("solution")):
            continue
        exec(compile(replace.pop(grade_id, cell.source), f"<{grade_id}>", "exec"), ns)  # noqa: S102
    assert not replace, f"no solution cells {sorted(replace)} in {topic}"
    return ns


def task_namespace(task: Task, replace: dict[str, str] | None = None,
                   exercise: bool = False) -> dict[str, Any]:
    """The namespace after running the cells ``task`` needs (setup cells, the cells defining
    its symbols and what they use), as the grader picks them; ``replace`` and ``exercise``
    as in ``notebook_namespace``."""
    path = (course_root() / "exercises" / task.topic / f"{task.topic}.ipynb" if exercise
            else solution_notebook(task.topic))
    nb = nbformat.read(str(path), as_version=4)
    replace = dict(replace or {})
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in replace:
            cell.source = replace.pop(grade_id)
    assert not replace, f"no cells {sorted(replace)} in {task.topic}"
    code = extract_code(parse_notebook(nbformat.writes(nb).encode(), path), str(path))
    cells = code.cells_for(task.symbols + task.extra_symbols + task.companions)
    ns, failures = run_cells([(c.index, c.source) for c in cells])
    assert not failures, failures
    return ns


def run_public_check(check: Check, ns: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of one public check on a namespace, as a student's test cell runs it."""
    assert not check.hidden, f"'{check.id}' is a hidden check"
    outcome = _run_check(check, ns, ProbeContext(torch.device("cpu")), None, "cpu")
    return outcome.status, outcome.message


def public_outcome(task_id: str, check_id: str, replace: dict[str, str] | None = None,
                   exercise: bool = False) -> tuple[str, str]:
    """(status, message) of the public check ``check_id`` of ``task_id`` on the solution (or
    exercise) notebook, with the cells of ``replace`` (grade_id -> source) swapped in."""
    task = get_task(task_id)
    return run_public_check(task.check(check_id), task_namespace(task, replace, exercise))


def public_outcomes(topic: str, task_id: str, replace: dict[str, str] | None = None,
                    exercise: bool = False) -> dict[str, tuple[str, str]]:
    """Check name -> (status, message) for each public check of ``task_id`` (the namespace
    of every setup and solution cell: ``notebook_namespace``)."""
    ns = notebook_namespace(topic, replace, exercise)
    return {check.name: run_public_check(check, ns)
            for check in get_task(task_id).checks if not check.hidden}


def assert_public_pass(outcomes: dict[str, tuple[str, str]]) -> None:
    """At least one public check, and every one passed."""
    assert outcomes
    failed = {name: o for name, o in outcomes.items() if o[0] != "passed"}
    assert not failed, failed


def assert_public_catch(outcomes: dict[str, tuple[str, str]], *concepts: str) -> None:
    """Some public check failed, and a failing message names one of the concepts."""
    messages = [message for status, message in outcomes.values() if status == "failed"]
    assert messages, outcomes
    assert any(c.lower() in m.lower() for m in messages for c in concepts), messages


def assert_reference_passes_and_stub_is_missing(topic: str, task_id: str) -> None:
    """The solution passes every public check of the task; the exercise stub is 'missing'."""
    assert_public_pass(public_outcomes(topic, task_id))
    stub = public_outcomes(topic, task_id, exercise=True)
    assert {status for status, _ in stub.values()} == {"missing"}, stub
