"""Judges of topic 01's exam-practice questions (public checks): the answers, returned as
sympy for symbolic arguments, at numbers worked by hand. The general symbolic comparisons are
grader-only (``hidden.py``)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.exam import confirm_entries, expect_numbers, sympy_entries
from autograder.symbolic import to_sympy

POSTERIOR_POINTS = (
    ({"w00": 1, "w10": 2, "sigma2": 2}, Fraction(2, 7), {
        "the factor sigma2 in front of the inverse is missing": [1 / 7],
        "the noise term sigma2 I is missing from the matrix that is inverted": [2 / 5],
        "(Wᵀ W)^-1 alone: both the noise term and the factor sigma2 are missing": [1 / 5],
        "sigma2 was used as a standard deviation (variance/std confusion)": [4 / 9],
        "this is the posterior precision (the inverse covariance), not the covariance":
            [7 / 2],
        "the matrix was not inverted (sigma2 (Wᵀ W + sigma2 I) instead of its inverse times "
        "sigma2)": [14.0],
    }),
    ({"w00": 1, "w10": -1, "sigma2": Fraction(1, 2)}, Fraction(1, 5), {}),
)
"""W = (w00, w10)ᵀ (D = 2, M = 1) and sigma2 worked by hand: the covariance, then the numbers
of the classic wrong steps."""


def posterior_cov_matrix(j: Judgement, m: int) -> Any:
    """The answer as an (m, m) Matrix; a D x D answer is named (W Wᵀ instead of Wᵀ W)."""
    cov = to_sympy(j.got, "ppca_posterior_cov_symbolic(W, sigma2)")
    if not isinstance(cov, sympy.MatrixBase):
        cov = sympy.Matrix([[cov]])
    d = j.inputs["D"]
    if cov.shape == (d, d) and d != m:
        raise CheckFailed(f"the posterior covariance has shape {cov.shape}, but z has M = {m} "
                          f"dimensions, so it must be ({m}, {m}): it is built from Wᵀ W "
                          "(M x M), not W Wᵀ (D x D).")
    if cov.shape != (m, m):
        raise CheckFailed(f"the posterior covariance has shape {cov.shape}, expected ({m}, {m}) "
                          "(M x M, the latent dimension).")
    return cov


def judge_exam_posterior_cov(j: Judgement) -> None:
    """A 2 x 1 symbolic W: the covariance at two points worked by hand."""
    cov = posterior_cov_matrix(j, 1)
    for point, expected, bugs in POSTERIOR_POINTS:
        expect_numbers(list(cov), point, [float(expected)],
                       "the posterior covariance for W = (w00, w10)ᵀ", bugs)


def confirm_exam_posterior_cov(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in POSTERIOR_POINTS:
        confirm_entries(j.got, point, [float(expected)], "ppca_posterior_cov_symbolic(W, sigma2)")


SHRINKAGE_POINTS = (
    ({"lambda1": 8, "lambda2": 4, "lambda3": 2, "lambda4": 1}, (13 / 16, 5 / 8), {
        "sigma2 was not subtracted from the eigenvalue: at the ML solution the squared "
        "singular values of W are lambda_j - sigma2": (16 / 19, 8 / 11),
        "this is the part that is lost (1 minus the factor), not the factor": (3 / 16, 3 / 8),
        "the factor is inverted: the posterior mean is shrunk, so the factor is below 1":
            (16 / 13, 8 / 5),
        "sigma2 is the mean, not the sum, of the discarded eigenvalues": (5 / 8, 1 / 4),
        "sigma2 is the mean of the discarded eigenvalues only, not of all of them":
            (17 / 32, 1 / 16),
        "the singular values of W are the square roots (lambda_j - sigma2)^1/2, not "
        "lambda_j - sigma2": (169 / 175, 25 / 31),
    }),
    ({"lambda1": 5, "lambda2": 4, "lambda3": 1, "lambda4": Fraction(1, 2)}, (17 / 20, 13 / 16),
     {}),
)
"""Eigenvalues (largest first; D = 4, M = 2) worked by hand: the two factors, then the numbers
of the classic wrong steps (first point only)."""


def judge_exam_ml_shrinkage(j: Judgement) -> None:
    """D = 4, M = 2, symbolic eigenvalues: the factors at two points worked by hand."""
    entries = sympy_entries(j.got, "ppca_ml_shrinkage(eigenvalues, M)", count=j.inputs["M"])
    for point, expected, bugs in SHRINKAGE_POINTS:
        expect_numbers(entries, point, expected, "the shrinkage factors of the ML model", bugs)


def confirm_exam_ml_shrinkage(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in SHRINKAGE_POINTS:
        confirm_entries(j.got, point, expected, "ppca_ml_shrinkage(eigenvalues, M)")
