"""Judges of topic 03's public exam-practice checks: the answers at a few points, worked by hand
(``autograder.checks.written``). The closed forms stay with the grader (``hidden.py``)."""

from __future__ import annotations

import math

from autograder.checks.api import Judgement
from autograder.checks.written import confirm_answer, judge_answer

LOG2, LOG3, LOG5 = math.log(2.0), math.log(3.0), math.log(5.0)

GAP_1D = "gap_1d_sympy(x, s2, m, v)"
GAP_1D_NAMES = ("log p(x) - ELBO",)
GAP_1D_POINTS = tuple(dict(zip(("x", "s2", "m", "v"), p, strict=True)) for p in (
    (2.0, 1.0, 1.0, 0.5), (2.0, 1.0, 0.0, 0.5), (3.0, 2.0, 1.0, 1.0), (1.0, 3.0, 0.0, 0.25)))
"""(x, s2, m, v): q = the posterior N(1, 1/2) of x = 2; the same q shifted by 1; two others."""
GAP_1D_VALUES = (0.0, 1.0, 0.5 * math.log(2 / 3) + 0.25, 0.5 * LOG3 - 7 / 24)
GAP_1D_HINTS = {
    "the KL has the wrong direction: log p(x) - ELBO = KL(q || p(z|x)), the expectation under q,"
    " not KL(p(z|x) || q)": (0.0, 1.0, 0.5 * math.log(1.5) - 1 / 6, 9 / 8 - 0.5 * LOG3),
    "the sign is flipped: log p(x) - ELBO = KL(q || p(z|x)) >= 0":
        tuple(-v for v in GAP_1D_VALUES),
    "a factor 1/2 is missing in the Gaussian KL": tuple(2 * v for v in GAP_1D_VALUES),
    "s2 was used as a standard deviation (it is the noise variance)":
        (0.0, 1.0, LOG2 - 0.5 * LOG5 + 9 / 40, 0.5 * math.log(18 / 5) - 16 / 45),
    "the posterior variance is s2 / (1 + s2), not 1 / (1 + s2) (PPCA: sigma2 A^-1 with "
    "A = 1 + s2)": (0.0, 1.0, 1 - 0.5 * LOG3, 1 / 8),
    "the posterior mean is x / (1 + s2), shrunk towards the prior mean 0, not x":
        (1.0, 4.0, 0.5 * math.log(2 / 3) + 13 / 4, 1 / 3 + 0.5 * LOG3),
}


def judge_gap_1d_mock(j: Judgement) -> None:
    judge_answer(j.got, function=GAP_1D, names=GAP_1D_NAMES, expected=(GAP_1D_VALUES,),
                 points=GAP_1D_POINTS, hints=(GAP_1D_HINTS,), reveal=True)


def confirm_gap_1d_mock(j: Judgement) -> None:
    confirm_answer(j.got, function=GAP_1D, names=GAP_1D_NAMES, expected=(GAP_1D_VALUES,),
                   points=GAP_1D_POINTS)


MEAN_FIELD = "mean_field_gaps_sympy(rho)"
MEAN_FIELD_NAMES = ("the gap of the best factorised q",
                    "the gap of the factorised q with the marginal variances")
MEAN_FIELD_POINTS = ({"rho": 0.6}, {"rho": -0.8}, {"rho": 0.0})
L54, L53 = math.log(5 / 4), math.log(5 / 3)
BEST = (L54, L53, 0.0)
MARGINAL = (9 / 16 - L54, 16 / 9 - L53, 0.0)
"""Worked by hand: 1 - rho² = 16/25 and 9/25."""
SIGN = "the sign is flipped: a KL divergence is never negative"
HALF = "a factor 1/2 is missing in the Gaussian KL"
MEAN_FIELD_HINTS = (
    {SIGN: tuple(-v for v in BEST), HALF: tuple(2 * v for v in BEST),
     "rho must be squared: the 2-D determinant is s11 s22 (1 - rho²)":
         (-0.5 * math.log(0.4), -0.5 * math.log(1.8), 0.0),
     "this is the gap of the q with the marginal variances: the best factorised q has the "
     "variances 1/Lambda_ii of the posterior precision (the conditional variances)": MARGINAL},
    {"this is KL(p(z|x) || q), the forward direction: the gap is KL(q || p(z|x))": BEST,
     SIGN: tuple(-v for v in MARGINAL), HALF: tuple(2 * v for v in MARGINAL)},
)


def judge_mean_field_mock(j: Judgement) -> None:
    judge_answer(j.got, function=MEAN_FIELD, names=MEAN_FIELD_NAMES, expected=(BEST, MARGINAL),
                 points=MEAN_FIELD_POINTS, hints=MEAN_FIELD_HINTS, reveal=True)


def confirm_mean_field_mock(j: Judgement) -> None:
    confirm_answer(j.got, function=MEAN_FIELD, names=MEAN_FIELD_NAMES,
                   expected=(BEST, MARGINAL), points=MEAN_FIELD_POINTS)
