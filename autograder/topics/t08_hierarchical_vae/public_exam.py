"""Judges of topic 08's public written (exam-practice) questions: the precision-weighted merge
derived in sympy (judged in a sandboxed judge child, confirmed here by numeric evaluation,
``autograder.symbolic``), and which KL terms of the notebook's two ELBOs are analytic (a set of
names, judged in the grading process). The hidden checks (``hidden.py``) ask the same
questions about other inputs."""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import describe, expect_sequence
from autograder.symbolic import confirm_same, encode, is_zero, to_sympy
from autograder.topics.t08_hierarchical_vae.probes import merge_symbols
from autograder.topics.t08_hierarchical_vae.public import sympy_product_of_gaussians

KL_NAMES = ("kl1", "kl2")
MERGE_POINT = {"mu1": 1, "v1": 1, "mu2": 3, "v2": 3}
"""Where a wrong merged mean or variance is shown next to the expected value."""


@cache
def expected_merge(mu1: Any, v1: Any, mu2: Any, v2: Any) -> tuple[sympy.Expr, sympy.Expr]:
    """(mean, variance) of the normalised product N(z; mu1, v1) N(z; mu2, v2), derived by
    ``sympy_product_of_gaussians`` and written in the given arguments."""
    mean, var, (a, va, b, vb) = sympy_product_of_gaussians()
    args = {a: mu1, va: v1, b: mu2, vb: v2}
    return mean.xreplace(args), var.xreplace(args)


def merge_slips(mu1: Any, v1: Any, mu2: Any, v2: Any
                ) -> tuple[dict[str, sympy.Expr], dict[str, sympy.Expr]]:
    """(slips of the mean, slips of the variance): what each classic wrong step gives."""
    as_std_var = 1 / (1 / v1**2 + 1 / v2**2)
    mean_slips = {
        "the means were averaged without weights: each mean is weighted by its precision "
        "(1 / its variance)": (mu1 + mu2) / 2,
        "the means were weighted by their variances instead of their precisions: the more "
        "certain source (smaller variance) must get the larger weight":
            (mu1 * v1 + mu2 * v2) / (v1 + v2),
        "the precision-weighted sum of the means is not normalised (divide by the sum of the "
        "weights, i.e. multiply by the merged variance)": mu1 / v1 + mu2 / v2,
        "v1 and v2 were used as standard deviations: they are variances":
            as_std_var * (mu1 / v1**2 + mu2 / v2**2),
    }
    var_slips = {
        "the variances were averaged: it is the precisions (1 / variance) that add":
            (v1 + v2) / 2,
        "the variances were added: it is the precisions (1 / variance) that add": v1 + v2,
        "this is the merged standard deviation, not the variance":
            sympy.sqrt(v1 * v2 / (v1 + v2)),
        "this is the merged precision (1 / variance), not the variance": 1 / v1 + 1 / v2,
        "v1 and v2 were used as standard deviations: they are variances": as_std_var,
    }
    return mean_slips, var_slips


def merge_answer(j: Judgement) -> tuple[Any, Any]:
    """The returned (mean, variance) as sympy expressions, or CheckFailed saying why not."""
    mean, var = expect_sequence(j.got, 2, "merge_gaussians_sympy(mu1, v1, mu2, v2)")
    return to_sympy(mean, "the merged mean"), to_sympy(var, "the merged variance")


def _at_point(expr: Any, symbols: tuple[sympy.Symbol, ...]) -> str:
    point = {s: sympy.Integer(MERGE_POINT[s.name]) for s in symbols}
    try:
        return f"{float(sympy.N(expr.xreplace(point))):.4g}"
    except (TypeError, ValueError):
        return "not a number"


def merge_problem(what: str, got: Any, expected: sympy.Expr, slips: dict[str, sympy.Expr],
                  symbols: tuple[sympy.Symbol, ...]) -> str | None:
    """None when ``got`` equals ``expected`` symbolically; else a sentence naming the slip
    when one matches, or the two values at MERGE_POINT."""
    if is_zero(got - expected):
        return None
    for text, slip in slips.items():
        if is_zero(got - slip):
            return f"{what}: {text}."
    shown = ", ".join(f"{k} = {v}" for k, v in MERGE_POINT.items())
    return (f"{what} is not that of the normalised product of the two densities: at {shown} it "
            f"should be {_at_point(expected, symbols)}, yours gives {_at_point(got, symbols)}.")


def judge_exam_merge(j: Judgement) -> None:
    """Symbolic equality with the product of the two densities derived by sympy; the classic
    slips named (runs in a judge child)."""
    mean, var = merge_answer(j)
    symbols = merge_symbols()
    stray = {str(s) for s in (mean.free_symbols | var.free_symbols) - set(symbols)}
    if stray:
        raise CheckFailed(f"the answer uses symbols that are not its arguments "
                          f"({', '.join(sorted(stray))}): build it from the arguments mu1, v1, "
                          "mu2, v2 that the function receives.")
    exp_mean, exp_var = expected_merge(*symbols)
    mean_slips, var_slips = merge_slips(*symbols)
    problems = [p for p in (merge_problem("the merged variance", var, exp_var, var_slips,
                                          symbols),
                            merge_problem("the merged mean", mean, exp_mean, mean_slips, symbols))
                if p]
    if problems:
        raise CheckFailed(" ".join(problems))


def confirm_exam_merge(j: Judgement) -> None:
    """The grading process's own comparison with the derived mean and variance, at points."""
    mean, var = expect_sequence(j.got, 2, "merge_gaussians_sympy(mu1, v1, mu2, v2)")
    exp_mean, exp_var = expected_merge(*merge_symbols())
    confirm_same(mean, encode(exp_mean), "the merged mean", "hvae.exam_merge.mean")
    confirm_same(var, encode(exp_var), "the merged variance", "hvae.exam_merge.var")


# ------------------------------------------------------------------- which KL is analytic
EXPECTED_ANALYTIC = {"bottom-up": {"kl2"}, "top-down": {"kl1", "kl2"}}
WHY = {
    ("bottom-up", "kl1"): "kl1 of the bottom-up ELBO has no closed form: z2 is drawn from "
                          "q(z2|z1), after and given the z1 being scored, so its prior "
                          "p(z1|z2) is not a fixed Gaussian when z1 is drawn",
    ("bottom-up", "kl2"): "kl2 of the bottom-up ELBO is analytic: once z1 is drawn, q(z2|z1) "
                          "and p(z2) are two fixed Gaussians over z2",
    ("top-down", "kl1"): "kl1 of the top-down ELBO is analytic: once z2 is drawn, q(z1|z2, x) "
                         "and p(z1|z2) are two fixed Gaussians over z1",
    ("top-down", "kl2"): "kl2 of the top-down ELBO is analytic: q(z2|x) and p(z2) are two "
                         "fixed Gaussians over z2",
}


def kl_names(value: Any, what: str) -> set[str]:
    """The names in a returned set (sent as a list), or CheckFailed saying what is wrong."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CheckFailed(f"{what} should be a set of names such as {{'kl1'}}, but it is "
                          f"{describe(value)}.")
    unknown = sorted(set(value) - set(KL_NAMES))
    if unknown:
        raise CheckFailed(f"{what} contains {unknown}: the names are those of section 1's "
                          f"terms, {', '.join(repr(n) for n in KL_NAMES)}.")
    return set(value)


def factorisation_call(parents: Any) -> str:
    """The call as a student would write it, e.g. analytic_kl_terms({'x'}, {'z1'})."""
    p1, p2 = (("{" + ", ".join(repr(p) for p in sorted(ps)) + "}") for ps in parents)
    return f"analytic_kl_terms({p1}, {p2})"


def judge_analytic_kl(j: Judgement) -> None:
    """The notebook's two factorisations: the sets compared, each wrong name explained."""
    got = j.got if isinstance(j.got, dict) else {}
    for name, expected in EXPECTED_ANALYTIC.items():
        call_text = factorisation_call(j.inputs["factorisations"][name])
        names = kl_names(got.get(name), f"{call_text} ({name})")
        wrong = sorted(names ^ expected)
        if wrong:
            raise CheckFailed(f"{call_text} ({name}) = {sorted(names)}: "
                              + "; ".join(WHY[(name, term)] for term in wrong) + ".")
