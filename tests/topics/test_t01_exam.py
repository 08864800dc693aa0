"""Topic 01's exam-practice questions: the reference passes, correct answers written otherwise
get full marks, classic wrong steps are caught and named, a hard-coded answer fails the hidden
check, and the untouched exercise gets nothing."""

from __future__ import annotations

import pytest

from tests.helpers import assert_caught, assert_full
from tests.topics.scaffold import TopicTests

TOPIC = "01_ppca"
topic = TopicTests(TOPIC)

COV = ("ppca.exam_posterior_cov", "ppca_posterior_cov_symbolic_solution")
SHRINK = ("ppca.exam_ml_shrinkage", "ppca_ml_shrinkage_solution")
COV_HEAD = "def ppca_posterior_cov_symbolic(W, sigma2):\n    W = sympy.Matrix(W)\n"
SHRINK_HEAD = ("def ppca_ml_shrinkage(eigenvalues, M):\n"
               "    lam = list(eigenvalues)\n"
               "    s2 = sum(lam[M:]) / (len(lam) - M)\n")

VARIANTS = {
    "cov as the inverse precision": (COV, COV_HEAD + (
        "    return (sympy.eye(W.shape[1]) + W.T * W / sigma2).inv()\n")),
    "cov by LU solve, unsimplified": (COV, COV_HEAD + (
        "    M = W.shape[1]\n"
        "    return (W.T * W + sigma2 * sympy.eye(M)).LUsolve(sigma2 * sympy.eye(M))\n")),
    "shrinkage from the squared singular values, as a Matrix": (SHRINK, SHRINK_HEAD + (
        "    l2 = [v - s2 for v in lam[:M]]\n"
        "    return sympy.Matrix([l / (l + s2) for l in l2])\n")),
    "shrinkage as a tuple, expanded": (SHRINK, SHRINK_HEAD + (
        "    return tuple(sympy.expand(1 - s2 / v) for v in lam[:M])\n")),
}

BUGS = {
    "W W^T instead of W^T W": (COV, COV_HEAD + (
        "    return sigma2 * (W * W.T + sigma2 * sympy.eye(W.shape[0])).inv()\n"), "not W Wᵀ"),
    "factor sigma2 missing": (COV, COV_HEAD + (
        "    return (W.T * W + sigma2 * sympy.eye(W.shape[1])).inv()\n"), "factor sigma2"),
    "noise term missing": (COV, COV_HEAD + (
        "    return sigma2 * (W.T * W).inv()\n"), "noise term"),
    "precision instead of covariance": (COV, COV_HEAD + (
        "    return sympy.eye(W.shape[1]) + W.T * W / sigma2\n"), "precision"),
    "sigma2 not subtracted from the eigenvalue": (SHRINK, SHRINK_HEAD + (
        "    return [v / (v + s2) for v in lam[:M]]\n"), "not subtracted"),
    "sigma2 as the sum of the discarded eigenvalues": (SHRINK, SHRINK_HEAD + (
        "    return [1 - sum(lam[M:]) / v for v in lam[:M]]\n"), "not the sum"),
    "the complement of the factor": (SHRINK, SHRINK_HEAD + (
        "    return [s2 / v for v in lam[:M]]\n"), "1 minus the factor"),
}

HARD_CODED = {
    "cov for a 2x1 W only": (COV, COV_HEAD + (
        "    return sympy.Matrix([[sigma2 / (W[0]**2 + W[1]**2 + sigma2)]])\n")),
    "shrinkage for D = 4, M = 2 only": (SHRINK, (
        "def ppca_ml_shrinkage(eigenvalues, M):\n"
        "    s2 = (eigenvalues[2] + eigenvalues[3]) / 2\n"
        "    return [1 - s2 / eigenvalues[0], 1 - s2 / eigenvalues[1]]\n")),
}


@pytest.mark.parametrize("task_id", [COV[0], SHRINK[0]])
def test_public_check_passes_the_reference_and_finds_the_stub_missing(task_id):
    assert topic.public(task_id, "mock") == ("passed", "")
    assert topic.public(task_id, "mock", exercise=True)[0] == "missing"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_correct_answer_written_differently_gets_full_marks(tmp_path, name):
    (task_id, grade_id), source = VARIANTS[name]
    assert_full(topic.run(tmp_path, grade_id, source, task_id))


@pytest.mark.parametrize("name", sorted(BUGS))
def test_classic_wrong_step_is_caught_and_named(tmp_path, name):
    (task_id, grade_id), source, concept = BUGS[name]
    assert_caught(topic.run(tmp_path, grade_id, source, task_id), concept)


@pytest.mark.parametrize("name", sorted(HARD_CODED))
def test_answer_for_the_public_shape_only_passes_public_and_fails_hidden(tmp_path, name):
    (task_id, grade_id), source = HARD_CODED[name]
    assert topic.public(task_id, "mock", {grade_id: source}) == ("passed", "")
    result = topic.run(tmp_path, grade_id, source, task_id)
    assert result.status == "failed", result.message
    assert 0 < result.points < result.max_points
