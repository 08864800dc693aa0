"""Topic 04's exam-practice questions: every equivalent answer passes, the classic wrong steps are
named, a hard-coded answer fails the hidden checks, and the untouched exercise scores 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_caught, assert_full, solution_cell
from tests.topics.exam_checks import (
    assert_public_mock_passes_solution_and_finds_stub_missing,
    assert_untouched_exercise_scores_zero,
)
from tests.topics.scaffold import TopicTests

TOPIC = "04_reparameterisation"
topic = TopicTests(TOPIC)
VARIANCES, BASELINE = "estimator_variances_sympy_solution", "optimal_baseline_sympy_solution"
CELL = {"reparam.exam_variances": VARIANCES, "reparam.exam_baseline": BASELINE}

VARIANCES_BY_SYMPY_STATS = '''
def estimator_variances_sympy(mu, sigma):
    # let sympy.stats take the expectations over eps ~ N(0, 1)
    from sympy.stats import Normal, variance
    eps = Normal("eps", 0, 1)
    z = mu + sigma * eps
    return variance(2 * z), sympy.simplify(variance(z**2 * eps / sigma))
'''

BASELINE_BY_MINIMISING = '''
def optimal_baseline_sympy(mu, sigma):
    # minimise the second moment over b with sympy, then subtract the squared mean
    from sympy.stats import E, Normal
    eps, b = Normal("eps", 0, 1), sympy.Symbol("b")
    g = ((mu + sigma * eps) ** 2 - b) * eps / sigma
    second = E(sympy.expand(g**2))
    b_star = sympy.solve(sympy.diff(second, b), b)[0]
    return sympy.factor(b_star), second.subs(b, b_star) - E(g) ** 2
'''


@pytest.mark.parametrize(("task_id", "source"), [
    ("reparam.exam_variances", solution_cell(TOPIC, VARIANCES)),
    ("reparam.exam_variances", VARIANCES_BY_SYMPY_STATS),
    ("reparam.exam_baseline", solution_cell(TOPIC, BASELINE)),
    ("reparam.exam_baseline", BASELINE_BY_MINIMISING),
], ids=["variances-solution", "variances-sympy-stats", "baseline-solution",
        "baseline-minimised"])
def test_solution_and_a_differently_derived_answer_get_full_marks(tmp_path: Path, task_id: str,
                                                                   source: str) -> None:
    assert_full(topic.run(tmp_path, CELL[task_id], source, task_id))


BUGS = [
    ("reparam.exam_variances", topic.edit(VARIANCES, ("var_pathwise = 4 * sigma**2",
                                                      "var_pathwise = 2 * sigma")),
     "standard deviation"),
    ("reparam.exam_variances", topic.edit(VARIANCES, (" - (2 * mu) ** 2", "")),
     "second moment"),
    ("reparam.exam_variances", topic.edit(VARIANCES, (
        "var_score = mu**4 / sigma**2 + 18 * mu**2 + 15 * sigma**2 - (2 * mu) ** 2",
        "var_score = mu**4 * sigma**2 + 14 * mu**2 * sigma**4 + 15 * sigma**6")),
     "(z - mu) / sigma²"),
    ("reparam.exam_variances", topic.edit(VARIANCES, ("return var_pathwise, var_score",
                                                      "return var_score, var_pathwise")),
     "wrong order"),
    ("reparam.exam_variances", topic.edit(VARIANCES, ("    var_pathwise =",
                                                      "    mu, sigma = sympy.symbols('mu sigma')\n"
                                                      "    var_pathwise =")),
     "which the function was not given"),
    ("reparam.exam_baseline", topic.edit(BASELINE, ("b_star = mu**2 + 3 * sigma**2",
                                                    "b_star = mu**2 + sigma**2")),
     "not the variance-minimising one"),
    ("reparam.exam_baseline", topic.edit(BASELINE, ("b_star = mu**2 + 3 * sigma**2",
                                                    "b_star = (mu**2 + 3 * sigma**2) / sigma**2")),
     "division by E[s²]"),
]


@pytest.mark.parametrize(("task_id", "source", "concept"), BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_classic_wrong_step_is_named(tmp_path: Path, task_id: str, source: str,
                                     concept: str) -> None:
    assert_caught(topic.run(tmp_path, CELL[task_id], source, task_id), concept)


def test_a_hard_coded_symbol_passes_the_public_check_but_not_the_hidden_ones() -> None:
    source = topic.edit(BASELINE, ("    b_star =", "    mu, sigma = sympy.symbols('mu sigma')\n"
                                                  "    b_star ="))
    assert topic.public("reparam.exam_baseline", "mock", {BASELINE: source}) == ("passed", "")


@pytest.mark.parametrize("task_id", sorted(CELL))
def test_public_check_passes_the_solution_and_finds_the_stub_missing(task_id: str) -> None:
    assert_public_mock_passes_solution_and_finds_stub_missing(topic, task_id)


@pytest.mark.parametrize("task_id", sorted(CELL))
def test_untouched_exercise_scores_zero(task_id: str) -> None:
    assert_untouched_exercise_scores_zero(topic, task_id)
