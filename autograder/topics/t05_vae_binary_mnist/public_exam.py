"""Judges of topic 05's written questions (exam practice): the student's sympy answers evaluated
at points worked by hand, with the values the classic wrong steps give there. The judges run in
a sandboxed judge child; the ``confirm_*`` functions are the grading process's own numeric look
at the same points (``autograder.symbolic``)."""

from __future__ import annotations

import math
from typing import Any

import sympy

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import expect_sequence
from autograder.symbolic import confirm_values, to_sympy

LOG_PI = math.log(math.pi)
TOL = 1e-9

NLL_WHAT = "gaussian_decoder_nll(SE, D, sigma2)"
BETA_WHAT = "beta_vae_optimum(x, sigma2, beta)"

NLL_POINTS: tuple[tuple[dict[str, float], dict[str, float], dict[str, float]], ...] = (
    ({"SE": 6.0, "D": 3.0, "sigma2": 0.5}, {
        "": 1.5 * LOG_PI + 6.0,
        "a factor 1/2 is missing in front of D log(2π σ²): the normalising constant of D "
        "independent Gaussians is (2πσ²)^(-D/2)": 3.0 * LOG_PI + 6.0,
        "the factor 1/2 of the squared error is missing: each pixel's Gaussian exponent is "
        "-(x_d - μ_d)² / (2σ²)": 1.5 * LOG_PI + 12.0,
        "the normalising constant D/2 log(2πσ²) is missing: it depends on σ², so it cannot be "
        "dropped when σ² is a parameter": 6.0,
        "log(2π) is missing from the normalising constant": 1.5 * math.log(0.5) + 6.0,
        "this is log p(x|z); the question asks for the NEGATIVE log-likelihood (sign)":
            -(1.5 * LOG_PI + 6.0),
        "sigma2 was used as a standard deviation; it is the variance σ²":
            3.0 * math.log(0.5) + 1.5 * math.log(2 * math.pi) + 12.0,
    }, {
        "": 2.0,
        "the factor 1/2 in front of D log σ² was dropped before differentiating "
        "(-log p has D/2 log(2πσ²))": 1.0,
        "the factor 1/2 of the squared error was dropped before differentiating "
        "(-log p has SE / (2σ²))": 4.0,
        "this is the standard deviation σ; the question asks for the variance σ²":
            math.sqrt(2.0),
        "the squared error is not divided by the number of pixels D (the optimum is a mean "
        "over pixels)": 6.0,
    }),
    ({"SE": 1.0, "D": 4.0, "sigma2": 2.0}, {"": 2.0 * math.log(4 * math.pi) + 0.25},
     {"": 0.25}),
)
"""(SE, D, sigma2), -log p(x|z) and the best σ² there, worked by hand: the right value under
"", then the values of classic wrong steps (for -log p first, the best σ² second)."""

BETA_POINTS: tuple[tuple[dict[str, float], dict[str, tuple[float, float]]], ...] = (
    ({"x": 2.0, "sigma2": 0.5, "beta": 4.0}, {
        "": (2 / 3, 2 / 3),
        "β multiplies the reconstruction term; in the β-VAE objective "
        "E_q[log p(x|z)] - β KL(q || p) it weights the KL": (16 / 9, 1 / 9),
        "β is ignored: this is the β = 1 optimum (the exact posterior)": (4 / 3, 1 / 3),
        "sigma2 was used as a standard deviation; it is the decoder's variance σ²": (1.0, 0.5),
        "the KL's factor 1/2 is missing (per dimension KL = ½(μ² + v - 1 - log v))": (0.4, 0.8),
        "the second item is the standard deviation of q; the question asks for its variance":
            (2 / 3, math.sqrt(2 / 3)),
        "E_q[(x - z)²] = (x - μ)² + v: the variance term v of the reconstruction was dropped, "
        "so the optimal variance only balances the KL": (2 / 3, 1.0),
    }),
    ({"x": -1.0, "sigma2": 3.0, "beta": 1 / 3}, {"": (-0.5, 0.5)}),
)
"""(x, sigma2, beta) and the optimal (mean, variance) of q there, worked by hand; then the
values of classic wrong steps."""


def answer(value: Any, what: str) -> Any:
    """A scalar sympy expression (not a Matrix) from one decoded item."""
    expr = to_sympy(value, what)
    if isinstance(expr, sympy.MatrixBase):
        raise CheckFailed(f"{what} should be a scalar sympy expression, not a Matrix.")
    return expr


def number_at(expr: Any, point: dict[str, float], what: str) -> complex:
    """``expr`` with its symbols set by name to the values of ``point``, as a number."""
    subs = {s: sympy.nsimplify(point[s.name]) for s in expr.free_symbols if s.name in point}
    try:
        return complex(sympy.N(expr.subs(subs), 30))
    except (TypeError, ValueError):
        shown = ", ".join(f"{k} = {v:g}" for k, v in point.items())
        raise CheckFailed(f"{what} does not evaluate to a number at {shown} (does it use other "
                          "symbols than its arguments?).") from None


def near(a: complex, b: float) -> bool:
    return abs(a - b) <= TOL * (1 + abs(b))


def named(got: complex, cases: dict[str, float]) -> str:
    """' Likely cause: ...' for the first classic wrong value ``got`` matches, else ''."""
    for concept, wrong in cases.items():
        if concept and near(got, wrong):
            return f" Likely cause: {concept}."
    return ""


def judge_nll_mock(j: Judgement) -> None:
    nll, best = expect_sequence(j.got, 2, NLL_WHAT)
    nll, best = answer(nll, "-log p(x|z)"), answer(best, "the best sigma2")
    if any(s.name == "sigma2" for s in best.free_symbols):
        raise CheckFailed("the best σ² still depends on sigma2: it is the value of σ² that "
                          "minimises -log p(x|z) for the given SE and D (set the derivative "
                          "with respect to σ² to zero and solve).")
    for point, nll_cases, best_cases in NLL_POINTS:
        shown = ", ".join(f"{k} = {v:g}" for k, v in point.items())
        value = number_at(nll, point, "-log p(x|z)")
        if not near(value, nll_cases[""]):
            raise CheckFailed(f"-log p(x|z) at {shown} should be {nll_cases['']:.6f} (worked "
                              f"by hand), got {value.real:.6f}.{named(value, nll_cases)}")
        value = number_at(best, point, "the best sigma2")
        if not near(value, best_cases[""]):
            raise CheckFailed(f"the best σ² at {shown} should be {best_cases['']:.6f} (worked "
                              f"by hand), got {value.real:.6f}.{named(value, best_cases)}")


def confirm_nll_mock(j: Judgement) -> None:
    """The grading process's own evaluation at the hand-worked points."""
    nll, best = expect_sequence(j.got, 2, NLL_WHAT)
    for point, nll_cases, best_cases in NLL_POINTS:
        confirm_values(nll, point, [nll_cases[""]], "-log p(x|z)")
        confirm_values(best, {k: v for k, v in point.items() if k != "sigma2"},
                       [best_cases[""]], "the best sigma2")


def judge_beta_mock(j: Judgement) -> None:
    mean, var = expect_sequence(j.got, 2, BETA_WHAT)
    mean, var = answer(mean, "the optimal mean"), answer(var, "the optimal variance")
    for point, cases in BETA_POINTS:
        shown = ", ".join(f"{k} = {v:g}" for k, v in point.items())
        got = (number_at(mean, point, "the optimal mean"),
               number_at(var, point, "the optimal variance"))
        right = cases[""]
        if near(got[0], right[0]) and near(got[1], right[1]):
            continue
        cause = next((f" Likely cause: {concept}." for concept, wrong in cases.items()
                      if concept and near(got[0], wrong[0]) and near(got[1], wrong[1])), "")
        raise CheckFailed(f"at {shown} the maximiser of the β-ELBO is (mean, variance) = "
                          f"({right[0]:.6f}, {right[1]:.6f}) (worked by hand), got "
                          f"({got[0].real:.6f}, {got[1].real:.6f}).{cause}")


def confirm_beta_mock(j: Judgement) -> None:
    """The grading process's own evaluation at the hand-worked points."""
    mean, var = expect_sequence(j.got, 2, BETA_WHAT)
    for point, cases in BETA_POINTS:
        confirm_values(mean, point, [cases[""][0]], "the optimal mean")
        confirm_values(var, point, [cases[""][1]], "the optimal variance")
