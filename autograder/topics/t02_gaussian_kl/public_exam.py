"""Judges of topic 02's exam-practice questions (public checks): the answers, returned as
sympy for symbolic arguments, at numbers worked by hand. The general symbolic comparisons are
grader-only (``hidden.py``)."""

from __future__ import annotations

from fractions import Fraction

from autograder.checks.api import Judgement
from autograder.checks.exam import confirm_entries, expect_numbers, sympy_entries

MEAN_FIELD_WHAT = ("the factor variances (forward s1, s2; reverse s1, s2) of the mean-field fit "
                   "to N(0, [[s1^2, rho s1 s2], [rho s1 s2, s2^2]])")
MEAN_FIELD_POINTS = (
    ({"s1": 2, "s2": 1, "rho": Fraction(1, 2)}, (4, 1, 3, 0.75), {
        "forward and reverse are swapped: minimising the forward KL(p || q) matches the "
        "marginal variances (mass-covering); the reverse KL(q || p) gives the narrower "
        "conditional ones": (3, 0.75, 4, 1),
        "these are standard deviations, not variances": (2, 1, 1.7320508075688772,
                                                          0.8660254037844386),
        "the reverse-KL variances are the diagonal of the precision Sigma^-1 itself; the "
        "factor's variance is one over that diagonal entry": (4, 1, 1 / 3, 4 / 3),
        "the reverse-KL factor variances use (1 - rho), not (1 - rho^2)": (4, 1, 2, 0.5),
        "the reverse-KL factor variances divide by (1 - rho^2): that widens q, but a factorised "
        "q minimising KL(q || p) is narrower than p": (4, 1, 16 / 3, 4 / 3),
        "the reverse KL does not match the marginal variances: a factorised q minimising "
        "KL(q || p) takes the conditional variances (one over the precision's diagonal)":
            (4, 1, 4, 1),
        "the forward KL(p || q) is minimised by matching the moments of p: the marginal "
        "variances, not the conditional ones": (3, 0.75, 3, 0.75),
    }),
    ({"s1": Fraction(1, 2), "s2": 3, "rho": Fraction(-4, 5)}, (0.25, 9, 0.09, 3.24), {}),
)
"""(s1, s2, rho) worked by hand: the four variances, then the numbers of the classic wrong
steps (first point only)."""


def judge_exam_mean_field(j: Judgement) -> None:
    """Symbolic s1, s2, rho: the four variances at two points worked by hand."""
    entries = sympy_entries(j.got, "mean_field_variances(s1, s2, rho)", count=4)
    for point, expected, bugs in MEAN_FIELD_POINTS:
        expect_numbers(entries, point, expected, MEAN_FIELD_WHAT, bugs)


def confirm_exam_mean_field(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in MEAN_FIELD_POINTS:
        confirm_entries(j.got, point, expected, "mean_field_variances(s1, s2, rho)")


LOG_RATIO_POINTS = (
    ({"mu1": 0, "s1": 1, "mu2": 1, "s2": 2}, 11 / 32, {
        "Var[eps^2] of a standard normal eps is 2, not 1": 13 / 64,
        "this is the second moment E_q[(log q - log p)^2]: the variance subtracts the square "
        "of the mean, which is the KL": 0.5401294236382288,
        "the term from the difference of the means is missing": 9 / 32,
        "the variance was taken under p; the samples x come from q": 8.5,
        "this is the standard deviation, not the variance": 0.5863019699779287,
        "s1, s2 were used as variances instead of standard deviations (variance/std "
        "confusion)": 3 / 8,
    }),
    ({"mu1": 2, "s1": 3, "mu2": -1, "s2": 1}, 113, {}),
)
"""(mu1, s1, mu2, s2) worked by hand: the variance, then the numbers of the classic wrong
steps (first point only)."""


def judge_exam_log_ratio_variance(j: Judgement) -> None:
    """Symbolic arguments: the variance at two points worked by hand."""
    entries = sympy_entries(j.got, "kl_log_ratio_variance(mu1, s1, mu2, s2)", count=1)
    for point, expected, bugs in LOG_RATIO_POINTS:
        expect_numbers(entries, point, [expected], "Var_q[log q(x) - log p(x)]",
                       {concept: [value] for concept, value in bugs.items()})


def confirm_exam_log_ratio_variance(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in LOG_RATIO_POINTS:
        confirm_entries(j.got, point, [expected], "kl_log_ratio_variance(mu1, s1, mu2, s2)")
