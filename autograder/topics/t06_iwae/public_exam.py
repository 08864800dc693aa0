"""Judges of topic 06's exam practice, public checks: each question at one worked instance,
whose answer and the answers of the classic wrong steps are tabulated here (the general
answers stay with the grader). The wording of the wrong steps and the verdict helpers are
shared with ``hidden.py``.

* ``iwae.exam_first_k``: the smallest K at which the IWAE bound of a model with a binary latent
  (two-point weights) exceeds a threshold, an int (or None).
* ``iwae.exam_gap``: for lognormal weights, log w ~ N(m, s2), the limit of L_K as K grows and
  the first-order gap log p(x) - L_K (delta method), sympy expressions.
"""

from __future__ import annotations

from typing import Any

import sympy
import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import describe, expect_sequence
from autograder.symbolic import confirm_values, to_sympy
from autograder.topics.t06_iwae.inputs import FIRST_K_PUBLIC

FIRST_K_FN = "iwae_first_k_above"
GAP_FN = "iwae_lognormal_limit_and_gap"

FIRST_K_STEPS = {
    "mean_of_log": "the mean of the log weights (the ELBO, the same for every K) was used in "
                   "place of the log of their mean",
    "log_of_mean": "log E[(1/K) sum_k w_k] = log p(x) does not depend on K: L_K is the "
                   "expectation of the log, E[log (1/K) sum_k w_k], over the K draws",
    "no_q": "the weights lack the division by q(z | x)",
    "no_prior": "the prior p(z) is missing from the weights",
    "prior_proposal": "the prior was used as the proposal (weights p(x | z), z drawn from "
                      "p(z)): a bound, but for another q than the one given",
    "prior_draws": "the K draws were counted with the prior's probabilities p(z), not with "
                   "q(z | x) that draws them",
    "q_swapped": "q(z = 1 | x) was used as q(z = 0 | x)",
    "before": "K vs K + 1: that is the last K with L_K <= threshold; the question asks for the "
              "first K with L_K > threshold",
    "after": "K vs K + 1: L_K already exceeds the threshold one K earlier",
}
"""The classic wrong steps of ``iwae.exam_first_k``, by id."""

PUBLIC_FIRST_K_ANSWER = 26
PUBLIC_FIRST_K_WRONG: dict[str, int | None] = {
    "mean_of_log": None, "log_of_mean": 1, "no_q": None, "no_prior": 11, "prior_proposal": 4,
    "prior_draws": 2, "q_swapped": 1}
"""What the worked model (``inputs.FIRST_K_PUBLIC``) gives, right and by each wrong step."""

LIMIT_STEPS = {
    "elbo": "m = E[log w] is the ELBO L_1; the limit of L_K is the log of the mean weight",
    "half": "the mean of a lognormal weight: check the factor on s2 (the moment-generating "
            "function of N(m, s2) at t = 1)",
    "std": "s2 is a variance; a standard deviation was used in its place",
    "not_log": "that is the limit of the mean weight, p(x); the bound tends to its log",
}
GAP_STEPS = {
    "log_variance": "the variance of log w (s2) was used where the delta method needs the "
                    "relative variance of w itself, Var(w) / E[w]^2",
    "half": "the factor 1/2 of the second-order Taylor term is missing",
    "std": "a standard deviation was used where the variance belongs",
    "k_plus_1": "K vs K + 1: the mean of K weights has variance Var(w) / K",
    "k_minus_1": "K vs K - 1: the mean of K weights has variance Var(w) / K",
    "sign": "the gap log p(x) - L_K is positive (L_K is a lower bound): the sign is wrong",
    "not_relative": "Var(w) was not divided by E[w]^2 = p(x)^2 (the relative variance)",
    "second_moment": "E[w^2] / E[w]^2 is not the relative variance: Var(w) = E[w^2] - E[w]^2",
    "mean_exp_m": "E[w] was taken as exp(m), the weight's median, not its mean",
}
"""The classic wrong steps of ``iwae.exam_gap``, by id (limit, then gap)."""

PUBLIC_GAP_ANSWER = (-2.1952810437829497, 0.2)
PUBLIC_LIMIT_WRONG = {"elbo": -3.0, "half": -1.3905620875658997, "std": -2.36568187941024,
                      "not_log": 0.11132726927097328}
PUBLIC_GAP_WRONG = {"log_variance": 0.08047189562170502, "half": 0.4, "std": 0.1,
                    "k_plus_1": 0.18181818181818182, "k_minus_1": 0.2222222222222222,
                    "sign": -0.2, "not_relative": 0.0024787521766663585, "second_moment": 0.25,
                    "mean_exp_m": 1.0}
"""The worked instance m = -3, s2 = log 5, K = 10 (``probes.gap_arguments("public")``): the
limit and the gap, and what each wrong step gives."""
NUMBER_RTOL = 1e-9


def wrong_step_hint(steps: list[str]) -> str:
    """' It is what you get when ...' for the wrong steps whose answer matches, or ''."""
    if not steps:
        return ""
    return " It is what you get when " + "; or when ".join(steps) + "."


# ------------------------------------------------------------------ iwae.exam_first_k
def as_k(value: Any) -> int | None:
    """The returned K as an int (None stays None), or CheckFailed naming what came back."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex() \
            and float(value) == int(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CheckFailed(f"{FIRST_K_FN} should return an int K (or None when no K up to k_max "
                      f"works), but returned {describe(value)}.")


def judge_first_k_values(got: Any, expected: int | None, wrong: dict[str, int | None],
                         threshold: float) -> None:
    """CheckFailed unless ``got`` is ``expected``, naming the wrong steps that give ``got``."""
    k = as_k(got)
    if k == expected:
        return
    steps = [FIRST_K_STEPS[s] for s, v in wrong.items() if v == k]
    if expected is not None and k is not None and abs(k - expected) == 1:
        steps.append(FIRST_K_STEPS["before" if k < expected else "after"])
    if expected is None:
        raise CheckFailed(f"for this model L_K stays at or below {threshold:g} for every K: the "
                          f"threshold is above log p(x), which bounds every L_K, so the answer "
                          f"is None, not {k}.")
    what = "None (no K up to k_max)" if k is None else f"K = {k}"
    raise CheckFailed(f"{what} is not the smallest K with L_K > {threshold:g} for this model."
                      + wrong_step_hint(steps))


def judge_first_k_public(j: Judgement) -> None:
    """The worked two-point model (``inputs.FIRST_K_PUBLIC``)."""
    judge_first_k_values(j.got, PUBLIC_FIRST_K_ANSWER, PUBLIC_FIRST_K_WRONG,
                         FIRST_K_PUBLIC["threshold"])


# ------------------------------------------------------------------ iwae.exam_gap
def gap_pair(got: Any) -> tuple[Any, Any]:
    """(limit, gap) as sympy expressions, or CheckFailed naming what came back."""
    limit, gap = expect_sequence(got, 2, GAP_FN)
    pair = to_sympy(limit, "the limit of L_K"), to_sympy(gap, "the first-order gap")
    for value, what in zip(pair, ("the limit of L_K", "the first-order gap"), strict=True):
        if not isinstance(value, sympy.Expr):
            raise CheckFailed(f"{what} should be a sympy expression, but it is "
                              f"{type(value).__name__}.")
    return pair


def number(expr: sympy.Expr, what: str) -> complex:
    """The value of an answer at a numeric instance, or CheckFailed if it is not a number."""
    if expr.free_symbols:
        names = ", ".join(sorted(str(s) for s in expr.free_symbols))
        raise CheckFailed(f"{what} still holds the symbols {names}: build it from the "
                          "arguments m, s2 and K (numbers in this check).")
    try:
        return complex(sympy.N(expr, 30))
    except (TypeError, ValueError) as exc:
        raise CheckFailed(f"{what} does not evaluate to a number ({exc}).") from None


def near(value: complex, expected: float) -> bool:
    """Whether ``value`` is ``expected`` within ``NUMBER_RTOL`` (relative, and absolute at 0)."""
    return abs(value - expected) <= NUMBER_RTOL * (1 + abs(expected))


def judge_gap_public(j: Judgement) -> None:
    """The worked instance m = -3, s2 = log 5, K = 10, by value."""
    limit, gap = (number(e, w) for e, w in zip(gap_pair(j.got), ("the limit of L_K",
                                                                 "the first-order gap"),
                                               strict=True))
    for value, expected, wrong, steps, what in (
            (limit, PUBLIC_GAP_ANSWER[0], PUBLIC_LIMIT_WRONG, LIMIT_STEPS, "the limit of L_K"),
            (gap, PUBLIC_GAP_ANSWER[1], PUBLIC_GAP_WRONG, GAP_STEPS, "the first-order gap")):
        if not near(value, expected):
            shown = f"{value.real:.6g}" if value.imag == 0 else f"{value:.6g}"
            raise CheckFailed(f"{what} for m = -3, s2 = log 5, K = 10 is not {shown}."
                              + wrong_step_hint([steps[s] for s, v in wrong.items()
                                                 if near(value, v)]))


def confirm_gap_public(j: Judgement) -> None:
    """The grading process's own look at the worked instance: the two numbers."""
    limit, gap = expect_sequence(j.got, 2, GAP_FN)
    confirm_values(limit, {}, [PUBLIC_GAP_ANSWER[0]], "the limit of L_K")
    confirm_values(gap, {}, [PUBLIC_GAP_ANSWER[1]], "the first-order gap")

