"""Topic 02's exam-practice questions: the reference passes, correct answers written otherwise
get full marks, classic wrong steps are caught and named, answers that only fit the public
check fail the hidden one, and the untouched exercise gets nothing."""

from __future__ import annotations

import pytest

from tests.helpers import assert_caught, assert_full
from tests.topics.scaffold import TopicTests

TOPIC = "02_gaussian_kl"
topic = TopicTests(TOPIC)

VAR = ("kl.exam_log_ratio_variance", "kl_log_ratio_variance_solution")
FIELD = ("kl.exam_mean_field", "mean_field_variances_solution")
VAR_HEAD = "def kl_log_ratio_variance(mu1, s1, mu2, s2):\n"
FIELD_HEAD = "def mean_field_variances(s1, s2, rho):\n"

VARIANTS = {
    "variance in the variance ratio, unsimplified": (VAR, VAR_HEAD + (
        "    r = s1**2 / s2**2\n"
        "    return (r - 1)**2 / 2 + r * (mu1 - mu2)**2 / s2**2\n")),
    "variance by integrating over x": (VAR, VAR_HEAD + (
        "    x = sympy.Symbol('x', real=True)\n"
        "    log_q = -sympy.log(s1) - (x - mu1)**2 / (2 * s1**2)\n"
        "    log_p = -sympy.log(s2) - (x - mu2)**2 / (2 * s2**2)\n"
        "    d = sympy.expand(log_q - log_p)\n"
        "    q = sympy.exp(-(x - mu1)**2 / (2 * s1**2)) / (s1 * sympy.sqrt(2 * sympy.pi))\n"
        "    m = sympy.integrate(q * d, (x, -sympy.oo, sympy.oo))\n"
        "    return sympy.integrate(q * sympy.expand((d - m)**2), (x, -sympy.oo, sympy.oo))\n")),
    "mean-field variances as a 2x2 Matrix, expanded": (FIELD, FIELD_HEAD + (
        "    return sympy.Matrix([[s1**2, s2**2],\n"
        "                         [s1**2 - rho**2 * s1**2, s2**2 - s2**2 * rho**2]])\n")),
    "mean-field variances from the conditional of a Gaussian, as lists": (FIELD, FIELD_HEAD + (
        "    c = rho * s1 * s2\n"
        "    return [s1**2, s2**2], [s1**2 - c**2 / s2**2, s2**2 - c**2 / s1**2]\n")),
}

BUGS = {
    "second moment instead of the variance": (VAR, VAR_HEAD + (
        "    r = s1**2 / s2**2\n"
        "    kl = sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2)**2) / (2 * s2**2) - sympy.S.Half\n"
        "    return (r - 1)**2 / 2 + r * (mu1 - mu2)**2 / s2**2 + kl**2\n"), "second moment"),
    "Var[eps^2] taken as 1": (VAR, VAR_HEAD + (
        "    r = s1**2 / s2**2\n"
        "    return (r - 1)**2 / 4 + r * (mu1 - mu2)**2 / s2**2\n"), "Var[eps^2]"),
    "variance under p": (VAR, VAR_HEAD + (
        "    r = s2**2 / s1**2\n"
        "    return (r - 1)**2 / 2 + r * (mu1 - mu2)**2 / s1**2\n"), "under p"),
    "forward and reverse swapped": (FIELD, FIELD_HEAD + (
        "    return (s1**2 * (1 - rho**2), s2**2 * (1 - rho**2)), (s1**2, s2**2)\n"), "swapped"),
    "standard deviations": (FIELD, FIELD_HEAD + (
        "    k = sympy.sqrt(1 - rho**2)\n"
        "    return (s1, s2), (s1 * k, s2 * k)\n"), "standard deviations"),
    "the precision's diagonal": (FIELD, FIELD_HEAD + (
        "    L = sympy.Matrix([[s1**2, rho * s1 * s2], [rho * s1 * s2, s2**2]]).inv()\n"
        "    return (s1**2, s2**2), (L[0, 0], L[1, 1])\n"), "precision"),
}


def test_the_own_symbols_bug_passes_public_and_is_named_by_the_hidden_check(tmp_path):
    source = FIELD_HEAD + (
        "    a, b = sympy.symbols('s1 s2', positive=True)\n"
        "    r = sympy.Symbol('rho', real=True)\n"
        "    return (a**2, b**2), (a**2 * (1 - r**2), b**2 * (1 - r**2))\n")
    assert topic.public(FIELD[0], "mock", {FIELD[1]: source}) == ("passed", "")
    result = topic.run(tmp_path, FIELD[1], source, FIELD[0])
    assert_caught(result, "not the arguments passed")
    assert result.points > 0


@pytest.mark.parametrize("task_id", [VAR[0], FIELD[0]])
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
