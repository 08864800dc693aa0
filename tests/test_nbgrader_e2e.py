"""nbgrader end to end on a real course directory with a real sqlite gradebook.

For each topic: generate_assignment -> autograde (solution: full, untouched: 0, the same
per-task points as ``python -m autograder grade``). For topic 01 also a buggy submission
(partial credit), generate_feedback (no hidden tests in the HTML) and export (grades.csv).

The default run builds topics 01 and 03 only (nbgrader's part is the same for every topic;
``tests/test_course.py`` grades every topic with the grader itself). ``pytest -m exhaustive
tests/test_nbgrader_e2e.py`` runs the same checks through nbgrader for all eight topics.
"""

from __future__ import annotations

import copy
import csv
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.paths import course_root
from autograder.registry import tasks_for_topic, topics_with_tasks
from autograder.release import tool_env
from tests.helpers import NEEDS_MNIST, fill, shared_grader, topic_points

TOPIC = "01_ppca"
# Right distribution, but drawn with NumPy's generator: passes the distribution checks,
# fails the "uses torch's global generator" check -> partial credit.
NUMPY_RNG_SAMPLE = '''def ppca_sample(n, W, b, sigma2):
    import numpy as np
    rng = np.random.default_rng()
    z = torch.from_numpy(rng.standard_normal((n, W.shape[1]))).to(W.dtype)
    eps = torch.from_numpy(rng.standard_normal((n, W.shape[0]))).to(W.dtype)
    return z @ W.T + b + float(sigma2) ** 0.5 * eps
'''
# Correct, but noisy on stderr: a warning must not cost points.
NOISY_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    import sys
    import warnings
    warnings.warn("a harmless warning")
    print("debug output", file=sys.stderr)
    eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    return b.clone(), W @ W.T + torch.as_tensor(sigma2, dtype=W.dtype) * eye
'''
BUGGY_MARGINAL = '''def ppca_marginal(W, b, sigma2):
    return b.clone(), W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0], dtype=W.dtype)
'''


PLOT_TOPIC = "03_elbo_jensen"
"""Its Jensen figure (an early cell) uses no student code: every student's feedback has it."""
LOGS: dict[Path, list[str]] = {}
"""Everything the nbgrader commands printed, per course folder (for warnings a TA would see;
other test files run nbgrader on tampered courses of their own)."""


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          capture_output=True, text=True, env=tool_env(), timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    LOGS.setdefault(course, []).append(done.stdout + done.stderr)
    return done


DEFAULT_TOPICS = (TOPIC, PLOT_TOPIC)
"""Topics graded through nbgrader in the default run; the others under ``-m exhaustive``."""


def topic_params() -> list:
    """Every graded topic, those beyond ``DEFAULT_TOPICS`` marked exhaustive."""
    return [t if t in DEFAULT_TOPICS else pytest.param(t, marks=pytest.mark.exhaustive)
            for t in topics_with_tasks()]


def course_topics(mnist: Path | None, session: pytest.Session | None = None) -> list[str]:
    """The topics this run needs (those needing MNIST only when a copy is available)."""
    wanted = set(DEFAULT_TOPICS)
    for item in session.items if session is not None else ():
        callspec = getattr(item, "callspec", None)
        if item.module.__name__ == __name__ and callspec and "topic" in callspec.params:
            wanted.add(callspec.params["topic"])
    return [t for t in topics_with_tasks()
            if t in wanted and (t not in NEEDS_MNIST or mnist is not None)]


@pytest.fixture(scope="module")
def course(tmp_path_factory, mnist_environment, request) -> Path:
    root = tmp_path_factory.mktemp("course")
    shutil.copy(course_root() / "nbgrader_config.py", root)
    submitted = root / "submitted"
    topics = course_topics(mnist_environment, request.session)
    for topic in topics:
        shutil.copytree(course_root() / "solutions" / topic, root / "solutions" / topic)
        nbgrader(root, "generate_assignment", topic, "--force")
        released = root / "exercises" / topic / f"{topic}.ipynb"
        source = root / "solutions" / topic / f"{topic}.ipynb"
        override = {"ppca_marginal_solution": NOISY_MARGINAL} if topic == TOPIC else {}
        fill(released, source, submitted / "alice" / topic / f"{topic}.ipynb", override=override)
        shutil.copytree(released.parent, submitted / "bob" / topic)
    released = root / "exercises" / TOPIC / f"{TOPIC}.ipynb"
    fill(released, root / "solutions" / TOPIC / f"{TOPIC}.ipynb",
         submitted / "carol" / TOPIC / f"{TOPIC}.ipynb",
         keep_stub={"ppca_mle_solution"}, override={"ppca_marginal_solution": BUGGY_MARGINAL,
                   "ppca_sample_solution": NUMPY_RNG_SAMPLE})
    for topic in topics:
        nbgrader(root, "autograde", topic)
    nbgrader(root, "generate_feedback", TOPIC)
    nbgrader(root, "generate_feedback", PLOT_TOPIC)
    nbgrader(root, "export")
    return root


def cell_scores(course: Path, student: str, topic: str = TOPIC) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {t.id: gb.find_grade(t.grade_id, topic, topic, student).score
                for t in tasks_for_topic(topic)}


def total(course: Path, student: str, topic: str = TOPIC) -> float:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission(topic, student).score


@pytest.mark.parametrize("topic", topic_params())
def test_solution_gets_full_marks_and_the_cli_agrees(course, topic, mnist_environment):
    if topic in NEEDS_MNIST and mnist_environment is None:
        pytest.skip(f"{topic} needs MNIST")
    max_score = sum(t.points for t in tasks_for_topic(topic))
    assert total(course, "alice", topic) == pytest.approx(max_score), \
        cell_scores(course, "alice", topic)
    cli = shared_grader().grade_notebook(course / "submitted" / "alice" / topic /
                                         f"{topic}.ipynb")
    assert {t.id: t.points for t in cli.tasks} == pytest.approx(
        cell_scores(course, "alice", topic))


@pytest.mark.parametrize("topic", topic_params())
def test_untouched_exercise_gets_zero(course, topic, mnist_environment):
    if topic in NEEDS_MNIST and mnist_environment is None:
        pytest.skip(f"{topic} needs MNIST")
    assert total(course, "bob", topic) == 0


def test_buggy_submission_gets_partial_credit_matching_the_cli(course):
    scores = cell_scores(course, "carol")
    assert 0 < total(course, "carol") < sum(t.points for t in tasks_for_topic(TOPIC))
    assert scores["ppca.mle"] == 0
    assert scores["ppca.marginal"] == 0
    assert 0 < scores["ppca.sample"] < 2
    cli = shared_grader().grade_notebook(course / "submitted" / "carol" / TOPIC /
                                         f"{TOPIC}.ipynb")
    assert {t.id: t.points for t in cli.tasks} == pytest.approx(scores)


def test_feedback_shows_messages_but_no_hidden_tests(course):
    html = (course / "feedback" / "carol" / TOPIC / f"{TOPIC}.html").read_text()
    assert "standard deviation" in html  # the diagnosis reaches the student
    assert "BEGIN HIDDEN TESTS" not in html
    assert "hidden=True" not in html


@pytest.mark.parametrize("student", ["alice", "bob"])
def test_every_students_feedback_keeps_its_figures(course, student):
    # nbgrader grades alice then bob in one process: bob's kernel must not inherit a
    # non-inline matplotlib backend from the grading of alice.
    html = (course / "feedback" / student / PLOT_TOPIC / f"{PLOT_TOPIC}.html").read_text()
    assert html.count("<img") >= 1, f"no figure in {student}'s feedback"


def test_nbgrader_prints_no_false_tampering_or_root_warnings(course):
    log = "\n".join(LOGS.get(course, []))
    assert "Attribute 'checksum'" not in log and "has changed" not in log
    assert "is not absolute" not in log
    assert "not in session" not in log  # nbgrader's SQLAlchemy 2 warning, filtered
    assert len(LOGS.get(course, [])) >= 4  # the commands ran and their output was captured


def _overwrite(submitted_source: str, caplog) -> str:
    """Run the course's OverwriteCells on one test cell; the warnings it logged."""
    from types import SimpleNamespace

    from nbgrader import utils

    from autograder.nbgrader_plugin import OverwriteReleasedCells, released_source

    meta = {"nbgrader": {"grade": True, "grade_id": "t", "locked": True, "points": 2.0,
                         "solution": False, "schema_version": 3, "cell_type": "code"}}
    stored = nbformat.v4.new_code_cell(HIDDEN_TEST_CELL, metadata=meta)
    record = SimpleNamespace(source=stored.source, locked=True, cell_type="code",
                             checksum=utils.compute_checksum(stored))
    step = OverwriteReleasedCells()
    step.notebook_id = step.assignment_id = "x"
    step.gradebook = SimpleNamespace(find_source_cell=lambda *a: record,
                                     find_graded_cell=lambda *a: SimpleNamespace(max_score=2.0))
    cell = nbformat.v4.new_code_cell(submitted_source.replace("RELEASED",
                                                              released_source(stored.source)),
                                     metadata=copy.deepcopy(meta))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        cell, _ = step.preprocess_cell(cell, {}, 0)
    assert cell.source == stored.source  # hidden tests restored either way
    return caplog.text


HIDDEN_TEST_CELL = ("check('t', globals())\n### BEGIN HIDDEN TESTS\n"
                    "check('t', globals(), hidden=True)\n### END HIDDEN TESTS")


def test_untouched_test_cell_is_quiet_but_an_edited_one_is_reported(caplog):
    assert "has changed" not in _overwrite("RELEASED", caplog)
    assert "Attribute 'checksum'" in _overwrite("RELEASED  # edited by a student", caplog)


def test_export_writes_grades_csv(course):
    with open(course / "grades.csv", newline="") as handle:
        rows = {(r["assignment"], r["student_id"]): float(r["raw_score"])
                for r in csv.DictReader(handle)}
    assert rows[(TOPIC, "bob")] == 0
    assert rows[(TOPIC, "alice")] == pytest.approx(topic_points(TOPIC))
