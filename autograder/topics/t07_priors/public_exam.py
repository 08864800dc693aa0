"""Judges of topic 07's written (exam-practice) questions: the ELBO-surgery terms of a discrete
toy, and the best Gaussian prior for a fixed encoder. The public checks compare with the known
answers of the notebook's own toys (constants below); the classic slips are recognised from the
expected values, never from a formula of the answer."""

from __future__ import annotations

import math
from typing import Any

import sympy
import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import describe, expect_sequence
from autograder.payload import Symbolic
from autograder.symbolic import confirm_values, is_zero, to_sympy, values_at
from autograder.topics.t07_priors.inputs import SURGERY_Q

SURGERY_WHAT = "elbo_surgery_terms"
GAUSSIAN_WHAT = "best_gaussian_prior"

SURGERY_KNOWN = (0.08630462173553417, 0.27383777864339043)
"""(I_q(n; z), KL(q(z) || p(z))) of the toy (inputs.SURGERY_Q, inputs.SURGERY_P), in nats."""
SURGERY_REVERSED_KL = 0.25258931022830555
"""KL(p(z) || q(z)) of the toy: the aggregate KL in the wrong direction."""

GAUSSIAN_KNOWN = (sympy.Integer(3), sympy.Rational(20, 3))
"""(mean, variance) of the best Gaussian prior for the toy (inputs.GAUSSIAN_TOY)."""
GAUSSIAN_MEAN_SLIPS = {
    sympy.Integer(2): "That is the precision-weighted mean of a *product* of the Gaussians; "
                      "the aggregate posterior is their *average* (a mixture), whose mean is "
                      "the plain average of the means",
}
GAUSSIAN_VARIANCE_SLIPS = {
    sympy.Rational(14, 3): "Only the spread of the posterior means: the posteriors' own "
                           "variances are missing (law of total variance)",
    sympy.Integer(2): "Only the average posterior variance: the spread of the posterior "
                      "means is missing (law of total variance)",
    sympy.Integer(9): "The spread of the means was divided by N - 1: the aggregate posterior "
                      "weighs each image 1/N, there is no Bessel correction in a mixture",
    sympy.Rational(47, 3): "That is the second moment E[z^2]: subtract the squared mean",
    sympy.Rational(4, 9): "That is the variance of a *product* of the Gaussians; the aggregate "
                          "posterior is their average (a mixture)",
    sympy.sqrt(sympy.Rational(20, 3)): "That is a standard deviation; return the variance",
}


# ------------------------------------------------------------------- the ELBO-surgery terms
def as_number(value: Any, what: str) -> float:
    """A returned number (Python number, one-element tensor, or a sympy number) as a float."""
    if isinstance(value, Symbolic):
        _, entries = values_at(value, {}, what)
        if len(entries) != 1 or abs(entries[0].imag) > 1e-12:
            raise CheckFailed(f"{what} should be one real number.")
        return entries[0].real
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().to(torch.float64).reshape(()))
    if type(value) in (int, float):
        return float(value)
    raise CheckFailed(f"{what} should be a number (a float or a one-element tensor), but it is "
                      f"{describe(value)}.")


def surgery_pair(got: Any) -> tuple[float, float]:
    """The returned (mutual information, aggregate KL), finite floats."""
    mi, kl = expect_sequence(got, 2, SURGERY_WHAT)
    mi = as_number(mi, "the mutual information I_q(n; z)")
    kl = as_number(kl, "the aggregate KL(q(z) || p(z))")
    if not (math.isfinite(mi) and math.isfinite(kl)):
        raise CheckFailed(f"{SURGERY_WHAT} returned a non-finite number ({mi}, {kl}).")
    return mi, kl


def surgery_slip(mi: float, kl: float, expected: tuple[float, float], n: int,
                 reversed_kl: float | None, atol: float) -> str:
    """The name of the classic slip that (mi, kl) matches, or ''."""
    mi0, kl0 = expected

    def near(a: float, b: float) -> bool:
        return abs(a - b) <= atol * (1 + abs(b))

    average_kl = mi0 + kl0
    if near(mi, kl0) and near(kl, mi0):
        return " The two terms are swapped: return (I_q(n; z), KL(q(z) || p(z)))."
    if near(mi, -mi0) or near(kl, -kl0):
        return " Sign: both terms are KL divergences and are >= 0."
    if near(mi, mi0 / math.log(2)) or near(kl, kl0 / math.log(2)):
        return " That is in bits (log base 2): use the natural log, nats."
    if near(kl, average_kl):
        return (" That is the average of the per-example KLs (1/N) sum_n KL(q(z|n) || p), "
                "the whole rate; the aggregate KL compares the aggregate posterior "
                "q(z) = (1/N) sum_n q(z|n) with p.")
    if near(mi, average_kl):
        return (" That is the average per-example KL to the prior; the mutual information "
                "compares each q(z|n) with the aggregate posterior q(z), not with p.")
    if reversed_kl is not None and near(kl, reversed_kl):
        return " That is KL(p || q(z)): the KL's direction is reversed."
    if near(mi, n * mi0):
        return (" That is N times the mutual information: the joint of (n, z) weighs each "
                "image 1/N.")
    return ""


def compare_surgery(got: Any, expected: tuple[float, float], n: int, what: str,
                    reversed_kl: float | None, atol: float) -> None:
    """CheckFailed unless ``got`` is ``expected`` within ``atol``, naming a recognised slip."""
    mi, kl = surgery_pair(got)
    wrong = [name for name, a, b in (("the mutual information I_q(n; z)", mi, expected[0]),
                                     ("the aggregate KL(q(z) || p(z))", kl, expected[1]))
             if abs(a - b) > atol * (1 + abs(b))]
    if wrong:
        slip = surgery_slip(mi, kl, expected, n, reversed_kl, atol) or (
            " Check: I_q(n; z) + KL(q(z) || p(z)) must equal the average per-example KL "
            f"(1/N) sum_n KL(q(z|n) || p(z)) = {sum(expected):.6g} here.")
        verb = "is" if len(wrong) == 1 else "are"
        raise CheckFailed(f"{' and '.join(wrong)} {verb} not the value for {what} "
                          f"(got I = {mi:.6g}, KL = {kl:.6g}).{slip}")


def judge_surgery_known(j: Judgement, *, atol: float) -> None:
    """The notebook's two-image toy; also the confirmation of a sympy-number answer."""
    compare_surgery(j.got, SURGERY_KNOWN, len(SURGERY_Q), "the notebook's two-image toy",
                    SURGERY_REVERSED_KL, atol)


# ------------------------------------------------------------- the best Gaussian prior
def gaussian_pair(got: Any) -> tuple[Any, Any]:
    """The returned (mean, variance) as sympy expressions."""
    mean, variance = expect_sequence(got, 2, GAUSSIAN_WHAT)
    return (to_sympy(mean, "the prior's mean"), to_sympy(variance, "the prior's variance"))


def compare_gaussian(got: Any, expected: tuple[Any, Any], what: str,
                     slips: tuple[dict[Any, str], dict[Any, str]]) -> None:
    """CheckFailed unless (mean, variance) simplify to ``expected``, naming a recognised slip."""
    answers = gaussian_pair(got)
    for name, answer, right, named in zip(("mean", "variance"), answers, expected, slips,
                                          strict=True):
        if is_zero(answer - right):
            continue
        hint = next((f" {message}." for value, message in named.items()
                     if is_zero(answer - value)),
                    " The best prior minimises the cross-entropy -E_q(z)[log p(z)] with the "
                    "aggregate posterior.")
        raise CheckFailed(f"the prior's {name} is not the one that maximises the averaged "
                          f"ELBO for {what} (got {answer}).{hint}")


def judge_gaussian_known(j: Judgement) -> None:
    """The notebook's three-image toy, exact."""
    compare_gaussian(j.got, GAUSSIAN_KNOWN, "the notebook's three-image toy",
                     (GAUSSIAN_MEAN_SLIPS, GAUSSIAN_VARIANCE_SLIPS))


def confirm_gaussian_known(j: Judgement) -> None:
    """The grading process's own look at the toy's answer: its two numbers."""
    mean, variance = expect_sequence(j.got, 2, GAUSSIAN_WHAT)
    confirm_values(mean, {}, [complex(GAUSSIAN_KNOWN[0])], "the prior's mean")
    confirm_values(variance, {}, [complex(GAUSSIAN_KNOWN[1])], "the prior's variance")
