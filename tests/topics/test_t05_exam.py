"""Topic 05's written questions (exam practice): the Gaussian decoder's -log p(x|z) and best
variance, and the β-ELBO's optimal q in a linear Gaussian toy. The reference and answers derived
another way pass; classic wrong steps fail with the step named; the untouched exercise scores 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_caught, assert_full
from tests.topics.scaffold import TopicTests

topic = TopicTests("05_vae_binary_mnist")

NLL = "gaussian_decoder_nll_solution"
NLL_HEAD = '''
import sympy


def gaussian_decoder_nll(SE, D, sigma2):
    """(-log p(x|z), best sigma2)."""
'''
BETA = "beta_vae_optimum_solution"
BETA_HEAD = '''
import sympy


def beta_vae_optimum(x, sigma2, beta):
    """(m, v)."""
'''


def test_reference_passes_both_written_questions(tmp_path: Path) -> None:
    assert_full(topic.run(tmp_path, NLL, topic.edit(NLL), "vae.exam_gaussian_nll"))
    assert_full(topic.run(tmp_path, BETA, topic.edit(BETA), "vae.exam_beta_optimum"))


def test_nll_derived_from_the_density_with_sympy_passes(tmp_path: Path) -> None:
    """The density written as a product, its log taken, the optimum solved by sympy."""
    body = ("    density = (2 * sympy.pi * sigma2) ** (-D / 2) * sympy.exp(-SE / (2 * sigma2))\n"
            "    nll = -sympy.log(density)\n"
            "    best = sympy.solve(sympy.diff(nll, sigma2), sigma2)[0]\n"
            "    return (sympy.expand_log(nll, force=True), best)\n")
    assert_full(topic.run(tmp_path, NLL, NLL_HEAD + body, "vae.exam_gaussian_nll"))


def test_beta_optimum_solved_by_sympy_passes(tmp_path: Path) -> None:
    """The β-ELBO written out and both stationarity equations solved, as a list."""
    body = ("    m = sympy.Symbol('m', real=True)\n"
            "    v = sympy.Symbol('v', positive=True)\n"
            "    rec = -((x - m)**2 + v) / (2 * sigma2)\n"
            "    kl = (m**2 + v - 1 - sympy.log(v)) / 2\n"
            "    objective = rec - beta * kl\n"
            "    m_star = sympy.solve(sympy.diff(objective, m), m)[0]\n"
            "    v_star = sympy.solve(sympy.diff(objective, v), v)[0]\n"
            "    return [sympy.factor(m_star), sympy.simplify(v_star)]\n")
    assert_full(topic.run(tmp_path, BETA, BETA_HEAD + body, "vae.exam_beta_optimum"))


NLL_BUGS = {
    "half": ("    return D * sympy.log(2 * sympy.pi * sigma2) + SE / (2 * sigma2), SE / D\n",
             ("factor 1/2 is missing",)),
    "std": ("    return (D * sympy.log(sigma2) + D / 2 * sympy.log(2 * sympy.pi)"
            " + SE / (2 * sigma2**2), SE / D)\n", ("standard deviation",)),
    "sign": ("    return -(D / 2 * sympy.log(2 * sympy.pi * sigma2) + SE / (2 * sigma2)), SE / D\n",
             ("NEGATIVE",)),
    "no constant": ("    return SE / (2 * sigma2), SE / D\n", ("normalising constant",)),
    "best is a std": ("    return (D / 2 * sympy.log(2 * sympy.pi * sigma2) + SE / (2 * sigma2),"
                      " sympy.sqrt(SE / D))\n", ("standard deviation",)),
}


@pytest.mark.parametrize("bug", sorted(NLL_BUGS))
def test_nll_wrong_steps_are_named(bug: str) -> None:
    body, concepts = NLL_BUGS[bug]
    status, message = topic.public("vae.exam_gaussian_nll", "mock", {NLL: NLL_HEAD + body})
    assert status == "failed", message
    assert any(c.lower() in message.lower() for c in concepts), message


BETA_BUGS = {
    "beta on the reconstruction": (
        "    return beta * x / (beta + sigma2), sigma2 / (sigma2 + beta)\n", ("reconstruction",)),
    "beta ignored": ("    return x / (1 + sigma2), sigma2 / (1 + sigma2)\n", ("β is ignored",)),
    "variance as std": ("    return (x / (1 + beta * sigma2),"
                        " sympy.sqrt(beta * sigma2 / (1 + beta * sigma2)))\n",
                        ("standard deviation",)),
    "no variance term": ("    return x / (1 + beta * sigma2), sympy.Integer(1)\n",
                         ("variance term",)),
}


@pytest.mark.parametrize("bug", sorted(BETA_BUGS))
def test_beta_wrong_steps_are_named(bug: str) -> None:
    body, concepts = BETA_BUGS[bug]
    status, message = topic.public("vae.exam_beta_optimum", "mock", {BETA: BETA_HEAD + body})
    assert status == "failed", message
    assert any(c.lower() in message.lower() for c in concepts), message


def test_a_wrong_step_is_named_in_grading_too(tmp_path: Path) -> None:
    body = NLL_BUGS["half"][0]
    assert_caught(topic.run(tmp_path, NLL, NLL_HEAD + body, "vae.exam_gaussian_nll"),
                  "factor 1/2")


def test_answers_that_ignore_the_arguments_fail_the_hidden_instance(tmp_path: Path) -> None:
    """Symbols of its own with the probe's names pass the public check, not the numbers."""
    body = ("    SE, sigma2 = sympy.symbols('SE sigma2', positive=True)\n"
            "    D = sympy.Symbol('D', positive=True, integer=True)\n"
            "    return D / 2 * sympy.log(2 * sympy.pi * sigma2) + SE / (2 * sigma2), SE / D\n")
    assert topic.public("vae.exam_gaussian_nll", "mock", {NLL: NLL_HEAD + body})[0] == "passed"
    assert_caught(topic.run(tmp_path, NLL, NLL_HEAD + body, "vae.exam_gaussian_nll"),
                  "use the arguments")


@pytest.mark.parametrize("task_id", ["vae.exam_gaussian_nll", "vae.exam_beta_optimum"])
def test_untouched_exercise_gets_nothing(task_id: str) -> None:
    stub = topic.public_outcomes(task_id, exercise=True)
    assert {status for status, _ in stub.values()} == {"missing"}, stub
