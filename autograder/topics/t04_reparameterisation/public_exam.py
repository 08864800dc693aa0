"""Judges of topic 04's public exam-practice checks: the answers at four (mu, sigma), worked by
hand (``autograder.checks.written``). The closed forms stay with the grader (``hidden.py``)."""

from __future__ import annotations

import math

from autograder.checks.api import Judgement
from autograder.checks.written import confirm_answer, judge_answer

POINTS = tuple({"mu": mu, "sigma": sigma} for mu, sigma in
               ((1.0, 1.0), (0.0, 2.0), (2.0, 0.5), (-1.0, 1.5)))
"""The (mu, sigma) of q = N(mu, sigma²) the public checks evaluate the answers at."""

VARIANCES = "estimator_variances_sympy(mu, sigma)"
VARIANCES_NAMES = ("the variance of the pathwise estimate",
                   "the variance of the score-function estimate")
PATHWISE = (4.0, 16.0, 1.0, 9.0)
SCORE = (30.0, 60.0, 123.75, 4 / 9 + 191 / 4)
STD = "this is a standard deviation: the question asks for the variance"
SECOND_MOMENT = ("this is the second moment E[g²]: the variance subtracts the squared mean "
                 "(2 mu)²")
SIGMA_AS_VARIANCE = ("sigma was used as the variance (it is the standard deviation: "
                     "q = N(mu, sigma²))")
VARIANCES_HINTS = (
    {STD: (2.0, 4.0, 1.0, 3.0), SECOND_MOMENT: (8.0, 16.0, 17.0, 13.0),
     SIGMA_AS_VARIANCE: (4.0, 8.0, 2.0, 6.0)},
    {STD: tuple(math.sqrt(v) for v in SCORE),
     SECOND_MOMENT: (34.0, 60.0, 139.75, 4 / 9 + 207 / 4),
     "the score of the mean is (z - mu) / sigma², not z - mu":
         (30.0, 960.0, 123.75 / 16, 81 / 16 * (4 / 9 + 191 / 4)),
     SIGMA_AS_VARIANCE: (30.0, 30.0, 95.5, 2 / 3 + 73 / 2)},
)


def judge_variances_mock(j: Judgement) -> None:
    judge_answer(j.got, function=VARIANCES, names=VARIANCES_NAMES, expected=(PATHWISE, SCORE),
                 points=POINTS, hints=VARIANCES_HINTS, reveal=True)


def confirm_variances_mock(j: Judgement) -> None:
    confirm_answer(j.got, function=VARIANCES, names=VARIANCES_NAMES,
                   expected=(PATHWISE, SCORE), points=POINTS)


BASELINE = "optimal_baseline_sympy(mu, sigma)"
BASELINE_NAMES = ("the optimal constant baseline b*",
                  "the variance of the score-function estimate with b*")
B_STAR = (4.0, 12.0, 4.75, 7.75)
VAR_STAR = (14.0, 24.0, 33.5, 21.5)
MEAN_OF_F = ("b = E[f] is the usual baseline but not the variance-minimising one: minimise "
             "Var[(f(z) - b) s(z)] over b, with s the score")
BASELINE_HINTS = (
    {MEAN_OF_F: (2.0, 4.0, 4.25, 3.25),
     "the minimiser of the variance is E[f s²] / E[s²]: the division by E[s²] = 1/sigma² is "
     "missing": (4.0, 3.0, 19.0, 31 / 9)},
    {MEAN_OF_F: (18.0, 40.0, 34.5, 30.5),
     "this is the variance without a baseline (b = 0)": SCORE,
     SECOND_MOMENT: (18.0, 24.0, 49.5, 25.5),
     STD: tuple(math.sqrt(v) for v in VAR_STAR)},
)


def judge_baseline_mock(j: Judgement) -> None:
    judge_answer(j.got, function=BASELINE, names=BASELINE_NAMES, expected=(B_STAR, VAR_STAR),
                 points=POINTS, hints=BASELINE_HINTS, reveal=True)


def confirm_baseline_mock(j: Judgement) -> None:
    confirm_answer(j.got, function=BASELINE, names=BASELINE_NAMES, expected=(B_STAR, VAR_STAR),
                   points=POINTS)
