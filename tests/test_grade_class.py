"""``python -m autograder grade-class``: a small class of real notebooks, graded, resumed after
a kill, and compared with ``nbgrader autograde`` + ``nbgrader export``.

The class (topics 01 and 03): alice hands in both reference solutions, bob the untouched
exercise, carol a buggy 01 (variance squared; a ``ppca_mle`` that raises with HTML in its
message), dave an unreadable file and erin topic 03's notebook under assignment 01_ppca.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.classgrade.references import DiskReferenceStore
from autograder.classgrade.runner import REFERENCES_DIR
from autograder.grading import Grader
from autograder.paths import course_root, exercise_notebook, solution_notebook
from autograder.registry import tasks_for_topic
from tests.helpers import variant

P01, P03 = "01_ppca", "03_elbo_jensen"
BUGGY_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    return b.clone(), W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0], dtype=W.dtype)
'''
HTML_RAISING_MLE = '''def ppca_mle(X, M):
    raise ValueError("<script>alert(1)</script>")
'''
GRADED = [("alice", P01), ("alice", P03), ("bob", P01), ("carol", P01)]
UNGRADABLE = [("dave", P01), ("erin", P01)]


def build_class(root: Path) -> Path:
    """The class described in the module docstring, in nbgrader's submitted/ layout."""
    sub = root / "submitted"
    for student, topic in (("alice", P01), ("alice", P03)):
        (sub / student / topic).mkdir(parents=True)
        shutil.copy(solution_notebook(topic), sub / student / topic / f"{topic}.ipynb")
    (sub / "bob" / P01).mkdir(parents=True)
    shutil.copy(exercise_notebook(P01), sub / "bob" / P01 / f"{P01}.ipynb")
    variant(P01, sub / "carol" / P01, {"ppca_marginal_solution": BUGGY_MARGINAL,
                                       "ppca_mle_solution": HTML_RAISING_MLE})
    (sub / "dave" / P01).mkdir(parents=True)
    (sub / "dave" / P01 / f"{P01}.ipynb").write_text('{"cells": [ oops')
    (sub / "erin" / P01).mkdir(parents=True)
    shutil.copy(solution_notebook(P03), sub / "erin" / P01 / f"{P01}.ipynb")
    return sub


def command(submitted: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade-class", str(submitted), "--out", str(out),
            "--jobs", "2", *extra]


def grade_class(submitted: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run(command(submitted, out, *extra), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def summary_counts(done: subprocess.CompletedProcess) -> tuple[int, int]:
    """(graded now, unchanged) from the summary line."""
    match = re.search(r"\((\d+) graded now, (\d+) unchanged", done.stdout)
    assert match, done.stdout
    return int(match[1]), int(match[2])


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def stored_results(out: Path) -> set[Path]:
    return {p for p in out.glob("records/*/*.json")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("class")
    submitted = build_class(root)
    out = root / "grades"
    return submitted, out, grade_class(submitted, out, "--gradescope")


def with_references(graded_out: Path, out: Path) -> Path:
    """A fresh grades folder that starts with the reference cache of the first run."""
    shutil.copytree(graded_out / REFERENCES_DIR, out / REFERENCES_DIR)
    return out


def test_grades_csv_has_one_row_per_student_and_a_column_per_task(graded):
    _, out, done = graded
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin"]
    full01 = sum(t.points for t in tasks_for_topic(P01))
    full03 = sum(t.points for t in tasks_for_topic(P03))
    assert float(rows["alice"][f"{P01}/total"]) == full01
    assert float(rows["alice"][f"{P03}/total"]) == full03
    assert float(rows["alice"]["total"]) == full01 + full03
    assert float(rows["bob"][f"{P01}/total"]) == 0
    assert rows["bob"][f"{P03}/total"] == ""  # not submitted
    assert 0 < float(rows["carol"][f"{P01}/total"]) < full01
    assert float(rows["carol"][f"{P01}/ppca.marginal"]) == 0
    assert float(rows["carol"][f"{P01}/ppca.posterior"]) == 2
    assert float(rows["dave"][f"{P01}/total"]) == 0
    assert float(rows["erin"][f"{P01}/total"]) == 0
    long = read_csv(out / "grades_long.csv")
    assert len(long) == 5 * len(tasks_for_topic(P01)) + len(tasks_for_topic(P03))
    assert "tasks: " in done.stdout and "2 could not be graded" in done.stdout


def test_unreadable_and_wrong_topic_notebooks_get_a_clear_error(graded):
    _, out, done = graded
    errors = {r["student"]: r["error"] for r in read_csv(out / "errors.csv")}
    assert set(errors) == {"dave", "erin"}
    assert "not a readable notebook" in errors["dave"]
    assert P03 in errors["erin"] and "not of the assignment 01_ppca" in errors["erin"]
    assert "cannot grade dave/01_ppca" in done.stderr


def test_results_are_stored_per_submission_with_their_key(graded):
    _, out, _ = graded
    assert {p.relative_to(out / "records").as_posix() for p in stored_results(out)} == {
        f"{s}/{a}.json" for s, a in GRADED}
    record = json.loads((out / "records" / "carol" / f"{P01}.json").read_text())
    assert len(record["key"]) == 64 and record["score"] < record["max_score"]


def test_feedback_shows_messages_escaped_and_no_hidden_tests(graded):
    _, out, _ = graded
    pages = {p.relative_to(out / "feedback").as_posix(): p.read_text()
             for p in (out / "feedback").rglob("*.html")}
    assert set(pages) == {f"{s}/{a}.html" for s, a in GRADED + UNGRADABLE}
    carol = pages[f"carol/{P01}.html"]
    assert "standard deviation" in carol  # the diagnosis reaches the student
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in carol
    assert "<script>" not in carol
    hidden = hidden_test_lines(P01) + hidden_test_lines(P03)
    assert hidden
    for page in pages.values():
        assert "HIDDEN TESTS" not in page
        assert not [line for line in hidden if line in page]


def hidden_test_lines(topic: str) -> list[str]:
    """The substantial lines inside the solution notebook's hidden-test regions."""
    lines = []
    for cell in nbformat.read(str(solution_notebook(topic)), as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


def test_report_and_gradescope(graded):
    _, out, _ = graded
    report = (out / "report.md").read_text()
    assert f"## {P01}" in report and f"## {P03}" in report
    assert (out / "report" / f"{P01}_scores.png").stat().st_size > 1000
    assert "**ppca.marginal** (1×)" in report and "standard deviation" in report
    results = json.loads((out / "gradescope" / "alice" / P01 / "results.json").read_text())
    assert results["score"] == sum(t.points for t in tasks_for_topic(P01))
    assert [t["name"] for t in results["tests"]] == [t.id for t in tasks_for_topic(P01)]


def test_references_are_cached_and_reused(graded):
    submitted, out, _ = graded

    class CountingStore(DiskReferenceStore):
        puts = 0

        def put(self, *args):
            CountingStore.puts += 1
            super().put(*args)

    store = CountingStore(out / REFERENCES_DIR, "cpu")
    result = Grader(reference_store=store).grade_notebook(
        submitted / "carol" / P01 / f"{P01}.ipynb", P01)
    csv_points = {r["task"]: float(r["points"]) for r in read_csv(out / "grades_long.csv")
                  if r["student"] == "carol"}
    assert {t.id: t.points for t in result.tasks} == csv_points
    assert CountingStore.puts == 0  # every hidden reference came from the disk cache


def test_rerun_grades_only_what_changed(graded, tmp_path):
    submitted, out, _ = graded
    shutil.copytree(submitted, tmp_path / "submitted")
    shutil.copytree(out, tmp_path / "grades")
    done = grade_class(tmp_path / "submitted", tmp_path / "grades")
    assert summary_counts(done) == (0, len(GRADED))
    assert (tmp_path / "grades" / "grades.csv").read_text() == (out / "grades.csv").read_text()
    shutil.copy(solution_notebook(P01), tmp_path / "submitted" / "bob" / P01 / f"{P01}.ipynb")
    done = grade_class(tmp_path / "submitted", tmp_path / "grades")
    assert summary_counts(done) == (1, len(GRADED) - 1)
    rows = {r["student"]: r for r in read_csv(tmp_path / "grades" / "grades.csv")}
    assert float(rows["bob"][f"{P01}/total"]) == sum(t.points for t in tasks_for_topic(P01))


def test_killed_run_resumes_without_losing_or_double_counting(graded, tmp_path):
    submitted, out, _ = graded
    resumed = with_references(out, tmp_path / "grades")
    process = subprocess.Popen(command(submitted, resumed, "--gradescope"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 600
    while not stored_results(resumed) and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    survived = stored_results(resumed)
    assert 0 < len(survived) < len(GRADED), "kill the run between two submissions"
    done = grade_class(submitted, resumed, "--gradescope")
    assert summary_counts(done) == (len(GRADED) - len(survived), len(survived))
    for name in ("grades.csv", "grades_long.csv", "errors.csv"):
        assert (resumed / name).read_text() == (out / name).read_text(), name
    assert not list(resumed.rglob("*.partial"))


@pytest.mark.exhaustive  # ~2 min; nbgrader parity of the grades is also in test_nbgrader_e2e
def test_csv_and_gradebook_agree_with_nbgrader_autograde_and_export(tmp_path):
    """Per task, grade-class's points equal the scores ``nbgrader autograde`` stores; its
    gradebook, exported by ``nbgrader export``, equals its own CSV.

    Every task is compared (task time limits never count the fork server's start-up).
    """
    from nbgrader.api import Gradebook

    from tests.test_nbgrader_e2e import fill, nbgrader

    course = tmp_path / "course"
    shutil.copytree(course_root() / "solutions" / P01, course / "solutions" / P01)
    shutil.copy(course_root() / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", P01, "--force")
    released = course / "exercises" / P01 / f"{P01}.ipynb"
    source = course / "solutions" / P01 / f"{P01}.ipynb"
    submitted = course / "submitted"
    fill(released, source, submitted / "alice" / P01 / f"{P01}.ipynb")
    fill(released, source, submitted / "carol" / P01 / f"{P01}.ipynb",
         keep_stub={"ppca_mle_solution"}, override={"ppca_marginal_solution": BUGGY_MARGINAL})
    ours_db = tmp_path / "ours.db"
    shutil.copy(course / "gradebook.db", ours_db)
    nbgrader(course, "autograde", P01)
    grades = tmp_path / "grades"
    grade_class(submitted, grades, "--nbgrader-db", str(ours_db))
    nbgrader(course, "export", f"--db=sqlite:///{ours_db}", f"--to={tmp_path / 'ours.csv'}")

    ours = {(r["student"], r["task"]): float(r["points"])
            for r in read_csv(grades / "grades_long.csv")}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        theirs = {(student, task.id): gb.find_grade(task.grade_id, P01, P01, student).score
                  for student in ("alice", "carol") for task in tasks_for_topic(P01)}
    assert {key: ours[key] for key in theirs} == theirs
    assert theirs[("carol", "ppca.marginal")] == 0 < theirs[("carol", "ppca.posterior")]
    exported = {r["student_id"]: float(r["raw_score"]) for r in read_csv(tmp_path / "ours.csv")}
    assert exported == {r["student"]: float(r[f"{P01}/total"])
                        for r in read_csv(grades / "grades.csv")}


def test_flat_folder_names_the_student_and_reads_the_topic_from_the_test_cells(tmp_path):
    from autograder.classgrade.discover import discover

    shutil.copy(solution_notebook(P01), tmp_path / "alice_01_ppca.ipynb")
    shutil.copy(exercise_notebook(P03), tmp_path / "bob_homework2.ipynb")
    shutil.copy(exercise_notebook(P03), tmp_path / "anonymous.ipynb")
    (tmp_path / "carol_upload.ipynb").write_text("not a notebook")
    found = {s.path.name: s for s in discover(tmp_path, flat=True)}
    assert (found["alice_01_ppca.ipynb"].student, found["alice_01_ppca.ipynb"].topic) == (
        "alice", P01)
    assert found["alice_01_ppca.ipynb"].problem is None
    assert (found["bob_homework2.ipynb"].student, found["bob_homework2.ipynb"].assignment) == (
        "bob", P03)
    assert "cannot be told" in found["anonymous.ipynb"].problem
    assert found["carol_upload.ipynb"].topic is None
    assert "not a readable notebook" in found["carol_upload.ipynb"].problem
    assert [s.student for s in discover(tmp_path, flat=True, assignments=[P03])] == ["bob"]


def test_reference_store_gives_back_what_it_was_given(tmp_path):
    import torch

    from autograder import payload

    value = payload.decode(payload.encode(
        {"mean": torch.arange(3.0, requires_grad=True) * 2, "n": 3,
         "dist": torch.distributions.Normal(torch.zeros(2), torch.ones(2)),
         "items": (1.5, "text", None)}))
    store = DiskReferenceStore(tmp_path, "cpu")
    with pytest.raises(KeyError):
        store.get(P01, "ppca.mle", 0)
    store.put(P01, "ppca.mle", 0, value)
    back = store.get(P01, "ppca.mle", 0)
    assert torch.equal(back["mean"], value["mean"])
    assert payload.tensor_info(back["mean"]).has_grad_fn
    assert (back["n"], back["items"]) == (3, (1.5, "text", None))
    assert repr(back["dist"]) == repr(value["dist"])
