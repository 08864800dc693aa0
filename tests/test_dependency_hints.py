"""The dependency hint, in the engine and in the student's pytest self-check: a failing task whose
graded dependency fails its own task says so first, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder.checks.api import Task
from autograder.grading import (
    TaskResult,
    add_dependency_hints,
    dependency_prefix,
    graded_dependencies,
)
from autograder.notebook_code import extract_code
from autograder.paths import course_root, exercise_notebook
from autograder.registry import get_task

MARGINAL = '''
def ppca_marginal(W, b, sigma2):
    return b, W @ W.T + sigma2 ** 2 * torch.eye(W.shape[0])
'''
LOG_MARGINAL = '''
def ppca_log_marginal(x, W, b, sigma2):
    mean, cov = ppca_marginal(W, b, sigma2)
    return torch.distributions.MultivariateNormal(mean, cov).log_prob(x)
'''
SELF_CONTAINED = '''
def ppca_log_marginal(x, W, b, sigma2):
    cov = W @ W.T + sigma2 * torch.eye(W.shape[0])
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)
'''


def solution_cell(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": grade_id}
    return cell


def code_of(marginal: str, log_marginal: str):
    nb = new_notebook(cells=[solution_cell(marginal, "ppca_marginal_solution"),
                             solution_cell(log_marginal, "ppca_log_marginal_solution")])
    return extract_code(nb, "01_ppca.ipynb")


TASKS = (get_task("ppca.marginal"), get_task("ppca.log_marginal"))


def results(marginal_status: str, log_status: str) -> list[TaskResult]:
    return [TaskResult("ppca.marginal", 0.0, 2.0, marginal_status, "marginal message"),
            TaskResult("ppca.log_marginal", 0.0, 2.0, log_status, "expected -3.15741, got "
                       "-3.62964")]


def test_failing_dependency_is_named_first():
    found = results("failed", "failed")
    add_dependency_hints(code_of(MARGINAL, LOG_MARGINAL), TASKS, found)
    assert found[1].message.startswith("`ppca_marginal`, which this uses, is wrong "
                                       "(ppca.marginal): fix it first. expected -3.15741")
    assert found[0].message == "marginal message"


def test_no_prefix_when_the_dependency_passes_or_the_task_passes():
    code = code_of(MARGINAL, LOG_MARGINAL)
    passed_dependency = results("passed", "failed")
    add_dependency_hints(code, TASKS, passed_dependency)
    assert passed_dependency[1].message == "expected -3.15741, got -3.62964"
    passed_task = results("failed", "passed")
    passed_task[1].message = "all 4 checks passed"
    add_dependency_hints(code, TASKS, passed_task)
    assert passed_task[1].message == "all 4 checks passed"


def test_no_prefix_when_the_task_does_not_use_the_symbol():
    found = results("failed", "failed")
    add_dependency_hints(code_of(MARGINAL, SELF_CONTAINED), TASKS, found)
    assert found[1].message == "expected -3.15741, got -3.62964"


def test_unimplemented_dependency_is_named_as_such():
    by_id = {r.id: r for r in results("missing", "failed")}
    prefix = dependency_prefix(code_of(MARGINAL, LOG_MARGINAL), TASKS[1], by_id, TASKS)
    assert prefix == ("`ppca_marginal`, which this uses, is not implemented yet "
                      "(ppca.marginal): fix it first. ")


def test_extra_symbols_count_as_dependencies_but_own_symbols_do_not():
    """A task that uses another task's symbol as an extra symbol (here a training task and a
    warm-up schedule graded on its own) names it first; its own symbols are never named."""
    training = replace(get_task("hvae.training"), symbols=("TopDownHVAE", "BottomUpHVAE"),
                       extra_symbols=("kl_warmup",), companions=())
    warmup = Task("hvae.warmup", training.topic, ("kl_warmup",), 1.0, ())
    bottom_up = get_task("hvae.bottom_up")
    nb = new_notebook(cells=[solution_cell("def kl_warmup(step, n):\n    return step // n\n",
                                           "kl_warmup_solution")])
    code = extract_code(nb, "08_hierarchical_vae.ipynb")
    by_id = {"hvae.warmup": TaskResult("hvae.warmup", 0.0, 1.0, "failed", ""),
             "hvae.bottom_up": TaskResult("hvae.bottom_up", 0.0, 3.0, "failed", "")}
    prefix = dependency_prefix(code, training, by_id, (training, warmup, bottom_up))
    assert prefix == "`kl_warmup`, which this uses, is wrong (hvae.warmup): fix it first. "


def test_companions_are_not_dependencies():
    """hvae.training loads GaussianConditional (graded with hvae.bottom_up) as a companion: a
    failing hvae.bottom_up is not blamed on GaussianConditional in the training message."""
    training, bottom_up = get_task("hvae.training"), get_task("hvae.bottom_up")
    assert "GaussianConditional" in training.companions
    nb = new_notebook(cells=[solution_cell("class GaussianConditional:\n    pass\n",
                                           "GaussianConditional_solution")])
    code = extract_code(nb, "08_hierarchical_vae.ipynb")
    by_id = {"hvae.bottom_up": TaskResult("hvae.bottom_up", 0.0, 4.0, "failed", "")}
    assert dependency_prefix(code, training, by_id, (training, bottom_up)) == ""


def test_graded_dependencies_are_the_tasks_whose_symbols_a_task_uses():
    assert [t.id for t in graded_dependencies(code_of(MARGINAL, LOG_MARGINAL), TASKS[1],
                                              TASKS)] == ["ppca.marginal"]
    assert graded_dependencies(code_of(MARGINAL, SELF_CONTAINED), TASKS[1], TASKS) == []
    assert graded_dependencies(code_of(MARGINAL, LOG_MARGINAL), TASKS[0], TASKS) == []


def test_students_self_check_names_the_failing_dependency_first(tmp_path):
    """pytest on the notebook (the kit's fast self-check), only the dependent task selected:
    the dependency is graded on demand and named before the task's own message."""
    nb = nbformat.read(exercise_notebook("01_ppca"), as_version=4)
    sources = {"ppca_marginal_solution": MARGINAL, "ppca_log_marginal_solution": LOG_MARGINAL}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = "import torch\n" + sources[grade_id]
    folder = tmp_path / "01_ppca"
    folder.mkdir()
    nbformat.write(nb, folder / "01_ppca.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "autograder.pytest_plugin", "-q", "-p",
         "no:cacheprovider", "-k", "log_marginal", str(folder)], capture_output=True,
        text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": str(course_root()), "VAE_COURSE_SELF_CHECK": "fast"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout, done.stdout
    assert ("`ppca_marginal`, which this uses, is wrong (ppca.marginal): fix it first."
            in done.stdout), done.stdout


def test_feedback_text_names_the_dependency_once_before_the_checks():
    from autograder.feedback import task_text
    from autograder.grading import CheckOutcome
    from autograder.nbgrader_plugin import task_outputs

    found = results("failed", "failed")
    found[1].checks = [CheckOutcome("mock-exam log-density", False, 1.0, "failed",
                                    "expected -3.15741, got -3.62964"),
                       CheckOutcome("integrates to one", False, 1.0, "passed")]
    add_dependency_hints(code_of(MARGINAL, LOG_MARGINAL), TASKS, found)
    sentence = "`ppca_marginal`, which this uses, is wrong (ppca.marginal): fix it first."
    assert found[1].dependency == sentence
    text = task_text(found[1].id, found[1].status, found[1].message, found[1].checks,
                     dependency=found[1].dependency)
    lines = text.splitlines()
    assert lines[1] == sentence and text.count("fix it first") == 1, text
    assert "expected -3.15741" in text
    nbgrader_text = task_outputs(found[1])[0]["text"]
    assert nbgrader_text.count("fix it first") == 1, nbgrader_text
    one_line = task_text("ppca.log_marginal", "error", "raised ValueError: bad", [],
                         dependency=sentence)
    assert one_line == f"ppca.log_marginal: {sentence} raised ValueError: bad"
