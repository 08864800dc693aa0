"""Run one public check in-process, as a student's test cell does, on a solution notebook whose
cells may be replaced (for the tests of the public checks of topics 06-08)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.checks.api import Check, Task
from autograder.notebook import _run_check
from autograder.notebook_code import load_notebook_code
from autograder.paths import solution_notebook
from autograder.registry import get_task
from autograder.worker import run_cells
from tests.helpers import variant

CPU = "cpu"


def public_check(task_id: str, name: str) -> Check:
    """The task's public check whose name starts with ``name``."""
    found = [c for c in get_task(task_id).checks if not c.hidden and c.name.startswith(name)]
    assert len(found) == 1, [c.name for c in get_task(task_id).checks]
    return found[0]


def namespace(task: Task, notebook: Path) -> dict[str, Any]:
    """The notebook's setup cells and the solution cells the task needs, executed."""
    code = load_notebook_code(notebook)
    cells = code.cells_for(task.symbols + task.extra_symbols)
    ns, failures = run_cells([(c.index, c.source) for c in cells])
    assert not failures, failures
    return ns


def run_public(task_id: str, name: str, tmp_path: Path | None = None,
               replace: dict[str, str] | None = None) -> Any:
    """The outcome (status, message) of one public check on the solution notebook, with the
    cells of ``replace`` (grade_id -> source) swapped in."""
    task = get_task(task_id)
    notebook = solution_notebook(task.topic)
    if replace:
        assert tmp_path is not None
        notebook = variant(task.topic, tmp_path, replace)
    import torch

    ctx_device = torch.device(CPU)
    from autograder.checks.api import ProbeContext

    return _run_check(public_check(task_id, name), namespace(task, notebook),
                      ProbeContext(ctx_device), None, CPU)
