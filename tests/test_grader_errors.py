"""No grader-side error is ever a student's score.

A solution edited but not released stops every front end (``grade``, ``grade-class``,
``nbgrader autograde``) before it grades anything: exit code 2, one line, nothing stored; after
``release`` the same commands grade. A judge that raises on a result of the right form is a
grader error (no score, not stored, non-zero exit); on a result of another form it is the
student's failure, said precisely.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.checks.api import CheckFailed
from autograder.grading import NotebookResult, TaskResult
from autograder.notebook_code import load_notebook_code
from autograder.paths import course_root, exercise_notebook, solution_notebook
from autograder.registry import get_task, tasks_for_topic
from autograder.release import tool_env
from autograder.status import Status
from tests.helpers import fill, shared_grader, variant

TOPIC = "01_ppca"
FULL = sum(t.points for t in tasks_for_topic(TOPIC))


def run(course: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A command with the course at ``course`` (``VAE_COURSE_ROOT``)."""
    env = {**tool_env(), "VAE_COURSE_ROOT": str(course),
           "PYTHONPATH": str(course_root())}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd or course, timeout=900)


def edit_docstring(notebook: Path) -> None:
    """A lecturer's harmless edit of a solution (a docstring), without a release."""
    nb = nbformat.read(str(notebook), as_version=4)
    cell = next(c for c in nb.cells if "def ppca_marginal(" in c.source)
    cell.source = cell.source.replace('"""', '"""Edited by the lecturer. ', 1)
    nbformat.write(nb, str(notebook))


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (done.stdout + done.stderr).splitlines()
            if "autograder release" in line]


def gradebook_students(course: Path) -> list[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return [s.student.id for s in gb.assignment_submissions(TOPIC)]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict[str, object]:
    """Every front end run on an edited, unreleased solution; then released and run again."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(course_root() / "nbgrader_config.py", root)
    shutil.copytree(course_root() / "solutions" / TOPIC, root / "solutions" / TOPIC)
    shutil.copy(course_root() / "solutions" / "SHA256SUMS", root / "solutions")
    assert run(root, "-m", "nbgrader", "generate_assignment", TOPIC, "--force").returncode == 0
    released = root / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    source = root / "solutions" / TOPIC / f"{TOPIC}.ipynb"
    solved = root / "submitted" / "alice" / TOPIC / f"{TOPIC}.ipynb"
    fill(released, source, solved)
    edit_docstring(source)
    out = root / "grades"
    before = {
        "grade": run(root, "-m", "autograder", "grade", str(solved)),
        "grade-class": run(root, "-m", "autograder", "grade-class", "submitted", "--out",
                           str(out), "--jobs", "1"),
        "nbgrader": run(root, "-m", "nbgrader", "autograde", TOPIC),
    }
    stored_before = sorted(p.name for p in out.rglob("*.json")) if out.exists() else []
    students_before = gradebook_students(root)
    autograded_before = sorted(p.name for p in (root / "autograded").rglob("*.ipynb"))
    release = run(root, "-m", "autograder", "release", TOPIC)
    assert release.returncode == 0, release.stderr[-2000:]
    report = root / "grades.json"
    after = {
        "grade": run(root, "-m", "autograder", "grade", str(solved), "--json", str(report)),
        "grade-class": run(root, "-m", "autograder", "grade-class", "submitted", "--out",
                           str(out), "--jobs", "1"),
        "nbgrader": run(root, "-m", "nbgrader", "autograde", TOPIC),
    }
    return {"root": root, "out": out, "before": before, "after": after, "report": report,
            "stored_before": stored_before, "students_before": students_before,
            "autograded_before": autograded_before}


@pytest.mark.slow
@pytest.mark.parametrize("front_end", ["grade", "grade-class", "nbgrader"])
def test_unreleased_solution_stops_every_front_end_in_one_line(course, front_end):
    done = course["before"][front_end]
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(error_lines(done)) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"python -m autograder release {TOPIC}" in error_lines(done)[0]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_nothing_is_stored_while_the_solution_is_unreleased(course):
    assert course["stored_before"] == []
    assert course["students_before"] == []  # no submission, no score in the gradebook
    assert course["autograded_before"] == []
    assert "0/12" not in course["before"]["grade"].stdout  # no table of zeros either


@pytest.mark.slow
def test_after_release_every_front_end_grades(course):
    after = course["after"]
    for name, done in after.items():
        assert done.returncode == 0, (name, done.stdout[-2000:] + done.stderr[-3000:])
    assert json.loads(course["report"].read_text())["score"] == FULL
    with open(course["out"] / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[0]["total"]) == FULL
    assert "1 graded now, 0 unchanged" in after["grade-class"].stdout
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gb:
        assert gb.find_submission(TOPIC, "alice").score == FULL


@pytest.mark.slow
def test_regrade_grades_again_only_what_it_names(tmp_path):
    (tmp_path / "submitted" / "alice" / TOPIC).mkdir(parents=True)
    shutil.copy(exercise_notebook(TOPIC), tmp_path / "submitted" / "alice" / TOPIC)
    base = ["-m", "autograder", "grade-class", "submitted", "--out", "grades", "--jobs", "1"]
    assert "1 graded now, 0 unchanged" in run(course_root(), *base, cwd=tmp_path).stdout
    assert "0 graded now, 1 unchanged" in run(course_root(), *base, cwd=tmp_path).stdout
    assert "0 graded now, 1 unchanged" in run(course_root(), *base, "--regrade", "bob",
                                              cwd=tmp_path).stdout
    again = run(course_root(), *base, "--regrade", "alice", cwd=tmp_path)
    assert "1 graded now, 0 unchanged" in again.stdout, again.stderr[-2000:]
    everything = run(course_root(), *base, "--regrade", cwd=tmp_path)
    assert "1 graded now, 0 unchanged" in everything.stdout, everything.stderr[-2000:]


def test_the_result_key_follows_the_release(tmp_path, monkeypatch):
    from autograder.classgrade import store

    (tmp_path / "solutions" / TOPIC).mkdir(parents=True)
    shutil.copy(solution_notebook(TOPIC), tmp_path / "solutions" / TOPIC)
    monkeypatch.setenv("VAE_COURSE_ROOT", str(tmp_path))
    store.solution_sha256.cache_clear()
    try:
        unreleased = store.submission_key("abc", TOPIC, {})
        from autograder.release_manifest import write_manifest

        write_manifest([TOPIC])
        assert store.submission_key("abc", TOPIC, {}) != unreleased
    finally:
        store.solution_sha256.cache_clear()


# ------------------------------------------------------------------ judges that raise


def _with_judge(task_id: str, judge) -> object:
    """The task with only its first check, judged by ``judge`` (the probe is unchanged)."""
    task = get_task(task_id)
    return dataclasses.replace(task, checks=(dataclasses.replace(task.checks[0], judge=judge),))


def _broken_judge(j) -> None:
    raise ZeroDivisionError("a bug in the judge")


def _unpacking_judge(j) -> None:
    mean, cov = j.got  # no form check: raises TypeError on None
    if mean.shape[0] != cov.shape[0]:
        raise CheckFailed("the shapes disagree")


def test_a_judge_that_raises_on_a_correct_result_is_a_grader_bug():
    result = shared_grader().grade_task(load_notebook_code(solution_notebook(TOPIC)),
                                        _with_judge("ppca.marginal", _broken_judge))
    assert result.status == Status.GRADER_ERROR
    assert "grader bug in check 'mock-exam marginal'" in result.message
    assert "ZeroDivisionError" in result.message
    assert "unexpected form" not in result.message


def test_a_result_of_another_form_is_the_students_failure(tmp_path):
    path = variant(TOPIC, tmp_path, {"ppca_marginal_solution":
                                     "def ppca_marginal(W, b, sigma2):\n    W @ W.T\n"})
    result = shared_grader().grade_task(load_notebook_code(path),
                                        _with_judge("ppca.marginal", _unpacking_judge))
    assert result.status == Status.FAILED
    assert "unexpected form: expected a tuple of 2 items, got None" in result.message


def _grader_error_result(path: str) -> NotebookResult:
    tasks = [TaskResult(t.id, t.points, t.points, Status.PASSED, "ok")
             for t in tasks_for_topic(TOPIC)]
    tasks[0] = TaskResult(tasks[0].id, 0.0, tasks[0].max_points, Status.GRADER_ERROR,
                          "mock-exam marginal: grader bug in check 'mock-exam marginal' "
                          "(ZeroDivisionError: x)")
    return NotebookResult(path, TOPIC, tasks)


def test_cli_reports_a_grader_error_and_exits_non_zero(monkeypatch, capsys, tmp_path):
    from autograder import cli
    from autograder.grading import Grader

    monkeypatch.setattr(Grader, "grade_path", lambda self, p: [_grader_error_result(str(p))])
    report = tmp_path / "r.json"
    code = cli.main(["grade", str(exercise_notebook(TOPIC)), "--json", str(report)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "INCOMPLETE" in out and "grader-error" in out
    assert "grader bug in check 'mock-exam marginal'" in err
    assert json.loads(report.read_text())["grader_errors"] == 1


def test_grade_class_never_stores_or_exports_a_grader_error(monkeypatch, tmp_path, capsys):
    from autograder.classgrade import command, records, runner
    from autograder.cli import build_parser

    submitted = tmp_path / "submitted" / "alice" / TOPIC
    submitted.mkdir(parents=True)
    shutil.copy(exercise_notebook(TOPIC), submitted / f"{TOPIC}.ipynb")

    def fake_grade_jobs(jobs, settings, backend, on_warning=print):
        store = runner.ResultStore(Path(settings.out))
        for job in jobs:
            record = records.from_result(job.student, job.assignment, job.path, job.key,
                                         _grader_error_result(job.path))
            store.save(record)
            yield record

    monkeypatch.setattr(runner, "grade_jobs", fake_grade_jobs)
    out = tmp_path / "grades"
    gradebook = tmp_path / "gradebook.db"
    args = build_parser().parse_args(["grade-class", str(tmp_path / "submitted"), "--out",
                                      str(out), "--gradescope", "--nbgrader-db",
                                      str(gradebook)])
    assert command.run(args) == 1
    err = capsys.readouterr().err
    assert "grader error for alice/01_ppca (not stored" in err
    assert not (out / "alice" / f"{TOPIC}.json").exists()  # graded again next time
    with open(out / "grades.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    broken = tasks_for_topic(TOPIC)[0].id
    assert row[f"{TOPIC}/{broken}"] == "" and row[f"{TOPIC}/total"] == ""
    assert row["total"] == "" and float(row[f"{TOPIC}/ppca.mle"]) == 2
    with open(out / "errors.csv", newline="") as handle:
        errors = list(csv.DictReader(handle))
    assert [e["student"] for e in errors] == ["alice"]
    assert errors[0]["error"].startswith("grader error (no score): ")
    assert not (out / "feedback" / "alice").exists()
    assert not (out / "gradescope" / "alice").exists()
    if gradebook.exists():
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{gradebook}") as gb:
            assert gb.students == []


def test_release_check_refuses_a_topic_never_released(tmp_path, monkeypatch):
    from autograder.grading import ReferenceNotReleased, check_released

    (tmp_path / "solutions" / TOPIC).mkdir(parents=True)
    shutil.copy(solution_notebook(TOPIC), tmp_path / "solutions" / TOPIC)
    monkeypatch.setenv("VAE_COURSE_ROOT", str(tmp_path))
    with pytest.raises(ReferenceNotReleased, match="never released"):
        check_released([TOPIC])
    os.remove(tmp_path / "solutions" / TOPIC / f"{TOPIC}.ipynb")
    with pytest.raises(ReferenceNotReleased, match="cannot use the reference notebook"):
        check_released([TOPIC])


BROKEN_JUDGE_AUTOGRADE = f'''
import sys
from autograder.registry import get_task

def broken(j):
    raise ZeroDivisionError("a bug in the judge")

object.__setattr__(get_task("ppca.marginal").checks[0], "judge", broken)
from nbgrader.apps.nbgraderapp import NbGraderApp
sys.argv = ["nbgrader", "autograde", "{TOPIC}"]
NbGraderApp.launch_instance()
'''


@pytest.mark.slow
def test_nbgrader_autograde_stores_no_score_for_a_grader_error(tmp_path):
    """A judge raising on a well-formed result under ``nbgrader autograde``: the submission's
    autograde fails with the grader-bug line, and the gradebook holds no score for it."""
    shutil.copy(course_root() / "nbgrader_config.py", tmp_path)
    shutil.copytree(course_root() / "solutions" / TOPIC, tmp_path / "solutions" / TOPIC)
    shutil.copy(course_root() / "solutions" / "SHA256SUMS", tmp_path / "solutions")
    assert run(tmp_path, "-m", "nbgrader", "generate_assignment", TOPIC,
               "--force").returncode == 0
    released = tmp_path / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    stubs = {c.metadata["nbgrader"]["grade_id"] for c in nbformat.read(released, 4).cells
             if c.metadata.get("nbgrader", {}).get("solution")} - {"ppca_marginal_solution"}
    fill(released, tmp_path / "solutions" / TOPIC / f"{TOPIC}.ipynb",
         tmp_path / "submitted" / "alice" / TOPIC / f"{TOPIC}.ipynb", keep_stub=stubs)
    done = run(tmp_path, "-c", BROKEN_JUDGE_AUTOGRADE)
    printed = done.stdout + done.stderr
    assert done.returncode != 0, printed[-3000:]
    assert "grader bug in check 'mock-exam marginal'" in printed, printed[-3000:]
    assert "no score stored for this submission" in printed, printed[-3000:]
    assert gradebook_students(tmp_path) == []
