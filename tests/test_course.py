"""The whole course: solutions get full marks, untouched exercises get zero, and the
notebooks, the registry and the released exercises agree with each other."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from autograder.grading import Grader
from autograder.notebook import check
from autograder.paths import exercise_notebook, solution_notebook
from autograder.registry import tasks_for_topic, topics_with_tasks
from autograder.release import generate
from autograder.worker import run_cells
from tests.helpers import grade, shared_grader, skip_without_data, task, variant

TOPICS = topics_with_tasks()


@pytest.mark.parametrize("topic", TOPICS)
def test_solution_gets_full_marks(topic):
    skip_without_data(topic)
    result = grade(solution_notebook(topic))
    failing = {t.id: t.message for t in result.tasks if t.status != "passed"}
    assert not failing
    assert result.score == result.max_score > 0


@pytest.mark.parametrize("topic", TOPICS)
def test_untouched_exercise_gets_zero_without_grader_errors(topic):
    result = grade(exercise_notebook(topic))
    assert result.error is None
    assert result.score == 0
    assert {t.status for t in result.tasks} == {"missing"}, [t.message for t in result.tasks]


@pytest.mark.parametrize("topic", TOPICS)
def test_every_task_has_a_matching_test_cell(topic):
    for path in (solution_notebook(topic), exercise_notebook(topic)):
        nb = nbformat.read(str(path), as_version=4)
        cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
                 if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
        for item in tasks_for_topic(topic):
            assert item.grade_id in cells, (path, item.id)
            assert float(cells[item.grade_id].metadata["nbgrader"]["points"]) == item.points
            assert f'check("{item.id}", globals())' in cells[item.grade_id].source


def test_released_exercises_match_a_fresh_generation(tmp_path):
    generate(TOPICS, tmp_path)
    for topic in TOPICS:
        fresh = nbformat.read(str(tmp_path / topic / f"{topic}.ipynb"), as_version=4)
        committed = nbformat.read(str(exercise_notebook(topic)), as_version=4)
        assert [c.source for c in fresh.cells] == [c.source for c in committed.cells], (
            f"exercises/{topic} is stale: run `python -m autograder release`")
        assert [c.metadata.get("nbgrader") for c in fresh.cells] == \
            [c.metadata.get("nbgrader") for c in committed.cells]


def test_released_exercises_hide_solutions_and_hidden_tests():
    for topic in TOPICS:
        text = exercise_notebook(topic).read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "hidden=True" not in text


def test_same_submission_same_score(tmp_path):
    source = '''
def ppca_sample(n, W, b, sigma2):
    z = torch.randn(n, W.shape[1], dtype=W.dtype)
    return z @ W.T + b + sigma2 * torch.randn(n, W.shape[0], dtype=W.dtype)
'''
    path = variant("01_ppca", tmp_path, {"ppca_sample_solution": source})
    runs = [[(t.id, t.points, t.status, t.message) for t in grade(path, Grader(jobs=2)).tasks]
            for _ in range(2)]  # fresh graders: nothing cached between the runs
    assert runs[0] == runs[1]
    assert task(grade(path), "ppca.sample").points < 2


def test_in_notebook_check_passes_reference_and_names_bugs(capsys):
    nb = nbformat.read(str(solution_notebook("01_ppca")), as_version=4)
    cells = [(i, c.source) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and ("setup" in c.metadata.get("tags", [])
                                           or c.metadata.get("nbgrader", {}).get("solution"))]
    namespace, failures = run_cells(cells)
    assert not failures
    check("ppca.marginal", namespace)
    assert "4" not in capsys.readouterr().err
    namespace["ppca_marginal"] = lambda W, b, s2: (b, W @ W.T)
    with pytest.raises(AssertionError, match="public checks failed"):
        check("ppca.marginal", namespace)
    assert "noise" in capsys.readouterr().out  # the cause is printed once, above the error


def test_pytest_self_check_reports_one_line_per_task(tmp_path):
    conftest = exercise_notebook("01_ppca").parents[1] / "conftest.py"
    (tmp_path / "conftest.py").write_text(conftest.read_text())
    filled = variant("01_ppca", tmp_path / "01_ppca", {})
    stub = tmp_path / "stub" / "01_ppca.ipynb"
    stub.parent.mkdir()
    stub.write_text(exercise_notebook("01_ppca").read_text())
    count = len(tasks_for_topic("01_ppca"))
    for path, passed, failed in ((filled, count, 0), (stub, 0, count)):
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(path)], capture_output=True, text=True, cwd=tmp_path,
                              timeout=600)
        summary = done.stdout.strip().splitlines()[-1]
        assert (f"{passed} passed" in summary) == bool(passed), done.stdout[-2000:]
        assert (f"{failed} failed" in summary) == bool(failed), done.stdout[-2000:]
        assert "error" not in summary


def test_grader_is_shared_and_public_only_mode_skips_hidden_checks():
    public = shared_grader().__class__(device="cpu", include_hidden=False)
    result = public.grade_notebook(solution_notebook("01_ppca"))
    assert result.score == result.max_score
    assert all(not c.hidden for t in result.tasks for c in t.checks)
