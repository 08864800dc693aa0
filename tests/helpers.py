"""Shared helpers for the project's tests: notebook variants and grading shortcuts."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import nbformat

from autograder.grading import Grader, NotebookResult, TaskResult
from autograder.paths import solution_notebook

_GRADER: Grader | None = None


NEEDS_MNIST = {"05_vae_binary_mnist", "06_iwae", "07_priors", "08_hierarchical_vae"}

PPCA_SQUARED_SIGMA2_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    D = W.shape[0]
    eye = torch.eye(D, dtype=W.dtype, device=W.device)
    return b.clone(), W @ W.T + torch.as_tensor(sigma2, dtype=W.dtype) ** 2 * eye
'''
"""Topic 01's marginal with sigma2 used as a standard deviation (a buggy answer cell)."""


def topic_points(topic: str) -> float:
    """A topic's full marks: the sum of its tasks' points (so tests follow the task table)."""
    from autograder.registry import tasks_for_topic

    return sum(t.points for t in tasks_for_topic(topic))


def skip_without_data(topic: str) -> None:
    """Skip a test of a topic that needs MNIST when no copy is available."""
    import pytest

    from vaelib.data import has_mnist

    if topic in NEEDS_MNIST and not has_mnist():
        pytest.skip(f"{topic} needs MNIST (see README: python -m vaelib.data prepare)")


REFERENCES_ENV = "VAE_TEST_REFERENCES"


def shared_grader() -> Grader:
    """One CPU grader for the whole test session, so reference results are computed once.

    With ``$VAE_TEST_REFERENCES`` (set by ``tests/conftest.py``) its references are also kept
    on disk there, shared by the session's test processes (``pytest -n 2``).
    """
    global _GRADER
    if _GRADER is None:
        store = None
        if os.environ.get(REFERENCES_ENV):
            from autograder.classgrade.references import DiskReferenceStore

            store = DiskReferenceStore(Path(os.environ[REFERENCES_ENV]), "cpu")
        _GRADER = Grader(device="cpu", jobs=2, reference_store=store)
    return _GRADER


def variant(topic: str, directory: Path, replace: dict[str, str], name: str | None = None,
            base: Path | None = None) -> Path:
    """Copy a solution notebook, replacing solution-cell sources by their nbgrader grade_id.

    ``replace`` maps a solution cell's grade_id (e.g. ``ppca_marginal_solution``) to the new
    source of that cell. ``base`` is the notebook to start from (default: the solution).
    Returns the path of the written notebook (named like the topic).
    """
    nb = nbformat.read(str(base or solution_notebook(topic)), as_version=4)
    unknown = set(replace)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in replace:
            cell.source = replace[grade_id]
            unknown.discard(grade_id)
    if unknown:
        raise KeyError(f"no cells with grade_id {sorted(unknown)} in {topic}")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or topic}.ipynb"
    nbformat.write(nb, str(path))
    return path


@cache
def _solution_sources(topic: str) -> dict[str, str]:
    nb = nbformat.read(str(solution_notebook(topic)), as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def solution_cell(topic: str, grade_id: str) -> str:
    """The source of the solution notebook's cell with this nbgrader grade_id."""
    return _solution_sources(topic)[grade_id]


def edited_solution_cell(topic: str, grade_id: str, *pairs: tuple[str, str]) -> str:
    """A solution cell with textual replacements (old, new); each must occur in the cell."""
    source = solution_cell(topic, grade_id)
    for old, new in pairs:
        assert old in source, f"{old!r} is not in {topic}'s cell {grade_id}"
        source = source.replace(old, new)
    return source


def grade(path: Path, grader: Grader | None = None) -> NotebookResult:
    """Grade one notebook with the shared grader (or the one given)."""
    return (grader or shared_grader()).grade_notebook(path)


def task(result: NotebookResult, task_id: str) -> TaskResult:
    """One task's result from a notebook result."""
    for item in result.tasks:
        if item.id == task_id:
            return item
    raise KeyError(task_id)


def grade_variant(topic: str, directory: Path, grade_id: str, source: str, task_id: str,
                  grader: Grader | None = None) -> TaskResult:
    """Replace one solution cell and return the grade of one task (only that task runs)."""
    from autograder.notebook_code import load_notebook_code
    from autograder.registry import get_task

    path = variant(topic, directory, {grade_id: source})
    return (grader or shared_grader()).grade_task(load_notebook_code(path), get_task(task_id))


def assert_caught(result: TaskResult, *concepts: str) -> None:
    """The task did not pass, lost points, and its message names one of the concepts."""
    assert result.status != "passed", result.message
    assert result.points < result.max_points
    assert any(c.lower() in result.message.lower() for c in concepts), result.message


def assert_full(result: TaskResult) -> None:
    """The task passed with full marks."""
    assert result.status == "passed", result.message
    assert result.points == result.max_points


def fill(released: Path, source: Path, out: Path, keep_stub: set[str] = frozenset(),
         override: dict[str, str] | None = None) -> None:
    """A student's submission: the released notebook with solution cells answered."""
    override = override or {}
    answers = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
               for c in nbformat.read(str(source), as_version=4).cells}
    nb = nbformat.read(str(released), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if meta.get("solution") and grade_id not in keep_stub:
            text = override.get(grade_id, answers[grade_id])
            cell.source = "\n".join(line for line in text.splitlines()
                                    if line.strip() not in ("### BEGIN SOLUTION",
                                                            "### END SOLUTION"))
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
