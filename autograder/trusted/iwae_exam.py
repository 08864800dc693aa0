"""Grading-process-only answers of topic 06's exam practice: the IWAE bound of a two-point
model in closed form, and the lognormal weights' limit and first-order gap, each with the
answers of the classic wrong steps. Topic 06's ``hidden.py`` imports it.

Two-point model: a binary latent z with p(z = 1) = ``prior_1``, likelihoods
p(x | z = 0) = ``lik_0`` and p(x | z = 1) = ``lik_1``, and a proposal q(z = 1 | x) = ``q_1``.
The weight w(z) = p(x | z) p(z) / q(z | x) takes two values, and L_K depends on the K draws
only through how many of them are z = 1 (a binomial count).

The hidden judges of both questions are here too (``hidden.py`` attaches them): they compare
with these general answers and name the wrong step through ``public_exam``'s wording.
"""

from __future__ import annotations

import math
from typing import Any

import sympy

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import expect_sequence
from autograder.symbolic import confirm_same, encode, is_zero
from autograder.topics.t06_iwae.probes import gap_arguments
from autograder.topics.t06_iwae.public_exam import (
    GAP_FN,
    GAP_STEPS,
    LIMIT_STEPS,
    gap_pair,
    judge_first_k_values,
    wrong_step_hint,
)

TwoPoint = tuple[float, float, float]
"""(w0, w1, r): the weight's two values and the probability r of drawing w1."""


def two_point(prior_1: float, lik_0: float, lik_1: float, q_1: float) -> TwoPoint:
    """The weights of the model and the probability of w1 under q."""
    return (1 - prior_1) * lik_0 / (1 - q_1), prior_1 * lik_1 / q_1, q_1


def bound(k: int, weights: TwoPoint) -> float:
    """L_K = sum_j Binomial(j; K, r) log((j w1 + (K - j) w0) / K), exactly (float64)."""
    w0, w1, r = weights
    total = 0.0
    for j in range(k + 1):
        log_pmf = math.lgamma(k + 1) - math.lgamma(j + 1) - math.lgamma(k - j + 1)
        log_pmf += (j * math.log(r) if j else 0.0) + ((k - j) * math.log1p(-r) if k - j else 0.0)
        total += math.exp(log_pmf) * math.log((j * w1 + (k - j) * w0) / k)
    return total


def first_k_above(bound_of_k: dict[int, float] | None, weights: TwoPoint, threshold: float,
                  k_max: int) -> int | None:
    """The smallest K in 1..k_max with L_K > threshold, or None; ``bound_of_k`` caches L_K."""
    cache = {} if bound_of_k is None else bound_of_k
    for k in range(1, k_max + 1):
        if k not in cache:
            cache[k] = bound(k, weights)
        if cache[k] > threshold:
            return k
    return None


def wrong_first_k(prior_1: float, lik_0: float, lik_1: float, q_1: float, threshold: float,
                  k_max: int) -> dict[str, int | None]:
    """What the classic wrong derivations return, by the wrong step's id (the ids of
    ``FIRST_K_STEPS`` in topic 06's ``public_exam``)."""
    w0, w1, r = two_point(prior_1, lik_0, lik_1, q_1)
    log_px = math.log(prior_1 * lik_1 + (1 - prior_1) * lik_0)
    elbo = r * math.log(w1) + (1 - r) * math.log(w0)
    models = {
        "no_q": ((1 - prior_1) * lik_0, prior_1 * lik_1, r),
        "no_prior": (lik_0 / (1 - q_1), lik_1 / q_1, r),
        "prior_proposal": (lik_0, lik_1, prior_1),
        "prior_draws": (w0, w1, prior_1),
        "q_swapped": ((1 - prior_1) * lik_0 / q_1, prior_1 * lik_1 / (1 - q_1), 1 - r),
    }
    wrong: dict[str, int | None] = {"mean_of_log": 1 if elbo > threshold else None,
                                    "log_of_mean": 1 if log_px > threshold else None}
    for step, weights in models.items():
        wrong[step] = first_k_above(None, weights, threshold, k_max)
    return wrong


# ------------------------------------------------------------------ lognormal weights
def lognormal_answers(m: sympy.Expr, s2: sympy.Expr, k: sympy.Expr
                      ) -> tuple[sympy.Expr, sympy.Expr]:
    """For log w ~ N(m, s2): lim L_K = log E[w], and Var(w) / (2 K E[w]^2)."""
    return m + s2 / 2, (sympy.exp(s2) - 1) / (2 * k)


def wrong_limits(m: sympy.Expr, s2: sympy.Expr) -> dict[str, sympy.Expr]:
    """Classic wrong limits of L_K, by the wrong step's id (``LIMIT_STEPS``)."""
    return {"elbo": m, "half": m + s2, "std": m + sympy.sqrt(s2) / 2,
            "not_log": sympy.exp(m + s2 / 2)}


def wrong_gaps(m: sympy.Expr, s2: sympy.Expr, k: sympy.Expr) -> dict[str, sympy.Expr]:
    """Classic wrong first-order gaps, by the wrong step's id (``GAP_STEPS``)."""
    rel = sympy.exp(s2) - 1
    return {"log_variance": s2 / (2 * k), "half": rel / k, "std": sympy.sqrt(rel) / (2 * k),
            "k_plus_1": rel / (2 * (k + 1)), "k_minus_1": rel / (2 * (k - 1)),
            "sign": -rel / (2 * k), "not_relative": rel * sympy.exp(2 * m + s2) / (2 * k),
            "second_moment": sympy.exp(s2) / (2 * k), "mean_exp_m": rel * sympy.exp(s2) / (2 * k)}


# ------------------------------------------------------------------ hidden judges
FIRST_K_HIDDEN = {
    "other": {"prior_1": 0.3, "lik_0": 0.02, "lik_1": 0.9, "q_1": 0.1, "threshold": -1.8,
              "k_max": 1000},
    "unreachable": {"prior_1": 0.3, "lik_0": 0.02, "lik_1": 0.8, "q_1": 0.05,
                    "threshold": -1.3, "k_max": 200},
}
"""Two more two-point models: another model and threshold (K = 15), and a threshold above
log p(x) (no K: None)."""


def first_k_hidden_inputs(kind: str) -> dict[str, Any]:
    """One of ``FIRST_K_HIDDEN``'s models."""
    return dict(FIRST_K_HIDDEN[kind])


def judge_first_k_hidden(j: Judgement) -> None:
    """The smallest K with L_K > threshold, computed here exactly."""
    model = [j.inputs[n] for n in ("prior_1", "lik_0", "lik_1", "q_1")]
    threshold, k_max = j.inputs["threshold"], j.inputs["k_max"]
    expected = first_k_above(None, two_point(*model), threshold, k_max)
    judge_first_k_values(j.got, expected, wrong_first_k(*model, threshold, k_max), threshold)


def judge_gap(j: Judgement, *, kind: str) -> None:
    """Limit and gap simplify to the answers at ``probes.gap_arguments(kind)`` (judge child)."""
    m, s2, k = gap_arguments(kind)
    limit, gap = gap_pair(j.got)
    expected = lognormal_answers(m, s2, k)
    shown = f"m = {m}, s2 = {s2}, K = {k}"
    for got, answer, wrong, steps, what in (
            (limit, expected[0], wrong_limits(m, s2), LIMIT_STEPS, "the limit of L_K"),
            (gap, expected[1], wrong_gaps(m, s2, k), GAP_STEPS, "the first-order gap")):
        if not is_zero(got - answer):
            raise CheckFailed(f"{what} for {shown} is not right (simplify(got - expected) != 0)."
                              + wrong_step_hint([steps[s] for s, w in wrong.items()
                                                 if is_zero(got - w)]))


def confirm_gap(j: Judgement, *, kind: str) -> None:
    """The grading process's own comparison with the answers, at random points."""
    limit, gap = expect_sequence(j.got, 2, GAP_FN)
    expected = lognormal_answers(*gap_arguments(kind))
    confirm_same(limit, encode(expected[0]), "the limit of L_K", "iwae.limit")
    confirm_same(gap, encode(expected[1]), "the first-order gap", "iwae.gap")
