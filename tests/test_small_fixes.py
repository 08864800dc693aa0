"""Smaller things a new user meets: pytest's collection, the offline-data message, what git
ignores, the order of tasks, nbgrader's feedback page, and the set-up command CI runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.grading import TaskResult
from autograder.notebook_code import load_notebook_code
from autograder.paths import TOPICS, course_root, exercise_notebook
from autograder.registry import tasks_for_topic
from autograder.status import Status

ROOT = course_root()


def test_pytest_collects_only_the_topics_own_notebook_and_says_when_it_was_saved(tmp_path):
    folder = tmp_path / "01_ppca"
    folder.mkdir()
    for name in ("01_ppca.ipynb", "01_ppca-Copy1.ipynb", "01_ppca.nbconvert.ipynb"):
        shutil.copy(exercise_notebook("01_ppca"), folder / name)
    os.utime(folder / "01_ppca.ipynb", (1_700_000_000, 1_700_000_000))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "autograder.pytest_plugin", "--collect-only",
         "-q", "-p", "no:cacheprovider", str(folder)], capture_output=True, text=True,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    items = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(items) == len(tasks_for_topic("01_ppca")), done.stdout
    assert all(line.split("::")[0].endswith("01_ppca/01_ppca.ipynb") for line in items), items
    import time

    saved = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000))
    assert f"01_ppca.ipynb: checked as saved at {saved}" in done.stdout


def test_offline_data_message_gives_the_generic_instruction(tmp_path):
    from vaelib.data import DataUnavailable, load_mnist_uint8

    with pytest.raises(DataUnavailable) as caught:
        load_mnist_uint8("test", root=tmp_path, download=False)
    message = str(caught.value)
    assert "shared/data" not in message
    assert "python -m vaelib.data prepare --source path/to/copy" in message


@pytest.mark.parametrize("path", ["grades/x.json", "grades.csv", "gradebook.db",
                                  "feedback/a/b.html", "autograded/a/b.ipynb",
                                  "submitted/a/b.ipynb"])
def test_student_data_is_ignored_by_git(path):
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    assert done.returncode == 0, f"{path} is not in .gitignore"


@pytest.mark.parametrize("topic", TOPICS)
def test_tasks_are_listed_in_notebook_order(topic):
    ids = [t.grade_id for t in tasks_for_topic(topic)]
    cells = [g for g in load_notebook_code(exercise_notebook(topic)).grade_ids if g in ids]
    assert ids == cells


def test_task_ids_name_their_test_cells_in_the_feedback_summary():
    """The feedback template turns a grade_id back into the task id (first '_' -> '.')."""
    for task in tasks_for_topic("01_ppca") + tasks_for_topic("08_hierarchical_vae"):
        assert task.grade_id.replace("_", ".", 1) == task.id


def _cell(result: TaskResult) -> nbformat.NotebookNode:
    from autograder.nbgrader_plugin import task_outputs

    cell = nbformat.v4.new_code_cell("check('x', globals())")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": result.max_points,
                                 "grade_id": "ppca_sample", "locked": True}
    cell.outputs = task_outputs(result)
    return cell


@pytest.mark.parametrize("points", [2.0, 1.5, 0.0])
def test_test_cell_outputs_score_right_without_a_stray_result(points):
    from nbgrader.utils import determine_grade

    status = Status.PASSED if points == 2 else Status.FAILED
    cell = _cell(TaskResult("ppca.sample", points, 2.0, status, "msg"))
    assert determine_grade(cell)[0] == points
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(results) == (1 if 0 < points < 2 else 0)  # only partial credit needs one


def test_long_failure_lines_are_wrapped_under_their_message():
    from autograder.grading import CheckOutcome
    from autograder.nbgrader_plugin import FEEDBACK_WIDTH

    long = "Likely cause: " + "the variance was used as a standard deviation " * 6
    result = TaskResult("ppca.sample", 0.0, 2.0, Status.FAILED, long,
                        [CheckOutcome("known values", False, 1.0, Status.FAILED, long)])
    text = _cell(result).outputs[0].text
    lines = text.splitlines()
    assert all(len(line) <= FEEDBACK_WIDTH for line in lines), lines
    fail = next(n for n, line in enumerate(lines) if line.lstrip().startswith("FAIL"))
    assert lines[fail + 1].startswith(" " * 8) and not lines[fail + 1].startswith(" " * 9)


def test_feedback_page_names_each_test_cell_by_its_task():
    import nbgrader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    exec(compile((ROOT / "nbgrader_config.py").read_text(), "nbgrader_config.py", "exec"),
         {"get_config": lambda: config})
    nb = nbformat.v4.new_notebook()
    nb.cells.append(_cell(TaskResult("ppca.sample", 1.0, 2.0, Status.FAILED, "x")))
    nb.cells[0].metadata["nbgrader"]["score"] = 1.0
    css = (Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "static" /
           "node_modules" / "bootstrap" / "dist" / "css")
    exporter = HTMLExporter(config=config, template_name="feedback",
                            extra_template_paths=[str(css)])
    html, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {
        "notebook": "01_ppca", "score": 1, "max_score": 2, "late_penalty": 0}})
    assert re.search(r'href="#ppca_sample">Test cell <code>ppca\.sample</code></a>', html)
    assert "white-space: pre-wrap" in html


def test_readme_set_up_is_the_line_ci_runs_and_ci_checks_torchvision():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1]
    set_up = quickstart.strip().splitlines()[0]
    assert "pip install -e ." in set_up
    ci = (ROOT / ".ci" / "run").read_text()
    assert set_up in ci.splitlines()
    after = ci.split(set_up, 1)[1]
    assert re.search(r"import torch, torchvision", after)


def test_a_test_cells_check_call_leaves_no_result_to_display(monkeypatch, capsys):
    """A test cell ends with ``check(...)``: it returns None, so Jupyter shows no ``Out[..]``."""
    import torch

    from autograder.notebook import DEFERRED_ENV, check

    def ppca_marginal(W, b, sigma2):  # noqa: N803 - the notebook's names
        return b, W @ W.T + sigma2 * torch.eye(W.shape[0], dtype=W.dtype)

    monkeypatch.delenv(DEFERRED_ENV, raising=False)
    assert check("ppca.marginal", {"ppca_marginal": ppca_marginal, "torch": torch}) is None
    assert "ppca.marginal: all" in capsys.readouterr().out
    monkeypatch.setenv(DEFERRED_ENV, "1")
    assert check("ppca.marginal", {}) is None
