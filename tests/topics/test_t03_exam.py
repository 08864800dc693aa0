"""Topic 03's exam-practice questions: every equivalent answer passes, the classic wrong steps are
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

TOPIC = "03_elbo_jensen"
topic = TopicTests(TOPIC)
GAP_1D, MEAN_FIELD = "gap_1d_sympy_solution", "mean_field_gaps_sympy_solution"
CELL = {"elbo.exam_gap_1d": GAP_1D, "elbo.exam_mean_field_gap": MEAN_FIELD}

GAP_1D_VIA_ELBO = '''
def gap_1d_sympy(x, s2, m, v):
    # log p(x) minus the ELBO, term by term (no KL formula)
    log_px = -sympy.log(2 * sympy.pi * (1 + s2)) / 2 - x**2 / (2 * (1 + s2))
    recon = -sympy.log(2 * sympy.pi * s2) / 2 - ((x - m) ** 2 + v) / (2 * s2)
    prior = -sympy.log(2 * sympy.pi) / 2 - (m**2 + v) / 2
    entropy = sympy.log(2 * sympy.pi * sympy.E * v) / 2
    return sympy.factor(log_px - (recon + prior + entropy))
'''

MEAN_FIELD_BY_MATRICES = '''
def mean_field_gaps_sympy(rho):
    # unit variances (the answer cannot depend on them), sympy does the algebra unsimplified
    S = sympy.Matrix([[1, rho], [rho, 1]])
    L = S.inv()

    def kl(Sq):  # KL(N(0, Sq) || N(0, S))
        return ((L * Sq).trace() - 2 + sympy.log(S.det()) - sympy.log(Sq.det())) / 2

    return kl(sympy.diag(1 / L[0, 0], 1 / L[1, 1])), kl(sympy.diag(S[0, 0], S[1, 1]))
'''


@pytest.mark.parametrize(("task_id", "source"), [
    ("elbo.exam_gap_1d", solution_cell(TOPIC, GAP_1D)),
    ("elbo.exam_gap_1d", GAP_1D_VIA_ELBO),
    ("elbo.exam_mean_field_gap", solution_cell(TOPIC, MEAN_FIELD)),
    ("elbo.exam_mean_field_gap", MEAN_FIELD_BY_MATRICES),
], ids=["gap_1d-solution", "gap_1d-via-elbo", "mean_field-solution", "mean_field-matrices"])
def test_solution_and_a_differently_derived_answer_get_full_marks(tmp_path: Path, task_id: str,
                                                                   source: str) -> None:
    assert_full(topic.run(tmp_path, CELL[task_id], source, task_id))


KL = "(sympy.log(post_var / v) + (v + (m - post_mean) ** 2) / post_var - 1) / 2"
BUGS = [
    ("elbo.exam_gap_1d", topic.edit(GAP_1D, (KL, "(sympy.log(v / post_var) + (post_var + (m - "
                                              "post_mean) ** 2) / v - 1) / 2")),
     "wrong direction"),
    ("elbo.exam_gap_1d", topic.edit(GAP_1D, ("post_var = x / (1 + s2), s2 / (1 + s2)",
                                             "post_var = x / (1 + s2), 1 / (1 + s2)")),
     "posterior variance"),
    ("elbo.exam_gap_1d", topic.edit(GAP_1D, ("x / (1 + s2), s2 / (1 + s2)",
                                             "x / (1 + s2**2), s2**2 / (1 + s2**2)")),
     "standard deviation"),
    ("elbo.exam_gap_1d", topic.edit(GAP_1D, ("    post_mean, post_var",
                                             "    x, s2, m, v = sympy.symbols('x s2 m v')\n"
                                             "    post_mean, post_var")),
     "which the function was not given"),
    ("elbo.exam_mean_field_gap", topic.edit(MEAN_FIELD, ("return gap_best, gap_marginal",
                                                         "return gap_marginal, gap_best")),
     "wrong order"),
    ("elbo.exam_mean_field_gap", topic.edit(MEAN_FIELD, ("gap_best = -sympy.log",
                                                         "gap_best = sympy.log")), "sign"),
    ("elbo.exam_mean_field_gap", topic.edit(MEAN_FIELD, ("return gap_best, gap_marginal",
                                                         "return gap_best, gap_best")),
     "forward direction"),
    ("elbo.exam_mean_field_gap", topic.edit(MEAN_FIELD, ("    gap_best =",
                                                         "    rho = sympy.Symbol('rho')\n"
                                                         "    gap_best =")),
     "which the function was not given"),
    ("elbo.exam_mean_field_gap", topic.edit(MEAN_FIELD, ("return gap_best, gap_marginal",
                                                         "return float(gap_best.subs(rho, 0.6)),"
                                                         " gap_marginal")),
     "should be a sympy expression"),
]


@pytest.mark.parametrize(("task_id", "source", "concept"), BUGS,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BUGS)])
def test_classic_wrong_step_is_named(tmp_path: Path, task_id: str, source: str,
                                     concept: str) -> None:
    assert_caught(topic.run(tmp_path, CELL[task_id], source, task_id), concept)


def test_a_hard_coded_symbol_passes_the_public_check_but_not_the_hidden_ones() -> None:
    source = topic.edit(MEAN_FIELD, ("    gap_best =", "    rho = sympy.Symbol('rho')\n"
                                                      "    gap_best ="))
    assert topic.public("elbo.exam_mean_field_gap", "mock", {MEAN_FIELD: source}) == \
        ("passed", "")


@pytest.mark.parametrize("task_id", sorted(CELL))
def test_public_check_passes_the_solution_and_finds_the_stub_missing(task_id: str) -> None:
    assert_public_mock_passes_solution_and_finds_stub_missing(topic, task_id)


@pytest.mark.parametrize("task_id", sorted(CELL))
def test_untouched_exercise_scores_zero(task_id: str) -> None:
    assert_untouched_exercise_scores_zero(topic, task_id)
