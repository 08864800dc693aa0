"""Topic 04's hidden checks: they compare with the reference solution's results. Never
shipped to students and unreadable from the sandbox; attached to the rows of ``tasks.py`` by
``autograder.checks.rows``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import sympy
import torch
from scipy import stats

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_tensor
from autograder.checks.written import confirm_answer, judge_answer, random_points
from autograder.topics.t04_reparameterisation import inputs, probes, public
from autograder.topics.t04_reparameterisation.public import NO_GRAD, RATE, collect, std_hints
from autograder.topics.t04_reparameterisation.public_exam import (
    BASELINE,
    BASELINE_HINTS,
    BASELINE_NAMES,
    VARIANCES,
    VARIANCES_HINTS,
    VARIANCES_NAMES,
)

F64 = torch.float64


def judge_reparam_reference(j: Judgement) -> None:
    mu = j.inputs["mu"]
    z = expect_tensor(j.got["z"], "reparameterize(mu, logvar, eps)", shape=tuple(mu.shape),
                      dtype=mu.dtype, device=j.device)
    expect_close(z, j.ref["z"], "z", reveal=False,
                 hints=std_hints(mu, j.inputs["logvar"], j.inputs["eps"]))
    for key, name in (("grad_mu", "mu"), ("grad_logvar", "logvar")):
        if j.got[key] is None:
            raise CheckFailed(NO_GRAD.format(what=name) + ".")
        expect_close(j.got[key], j.ref[key], f"the gradient w.r.t. {name}", reveal=False)


def judge_matches_reference(j: Judgement, *, what: str, on_error: str) -> None:
    """Welch two-sample t-test: the student's and the reference's estimates have the same mean.

    Bonferroni over the 2 M coordinates; false-failure rate at most RATE (CLT).
    """
    g_mu, g_ls = collect(j, what, on_error)
    r_mu = torch.stack([v[0].to(F64) for v in j.ref["calls"]])
    r_ls = torch.stack([v[1].to(F64) for v in j.ref["calls"]])
    tests = 2 * g_mu.shape[1]
    for name, got, ref in (("mu", g_mu, r_mu), ("log_sigma", g_ls, r_ls)):
        n1, n2 = got.shape[0], ref.shape[0]
        v1, v2 = got.var(0) / n1, ref.var(0) / n2
        se = torch.sqrt(v1 + v2).clamp_min(1e-9)
        t = (got.mean(0) - ref.mean(0)) / se
        dof = float(((v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1) + 1e-300)).min())
        thr = float(stats.t.isf(RATE / (2 * tests), max(dof, 2.0)))
        if bool((t.abs() > thr).any()):
            raise CheckFailed(f"the mean of {what}'s gradient w.r.t. {name} differs from the "
                              f"reference's (Welch t = {float(t.abs().max()):.1f}, threshold "
                              f"{thr:.1f} at false-failure rate {RATE:g}): the estimator is "
                              "biased for this f.")


# ------------------------------------------------------------------ exam practice (sympy)
def variances_forms(mu: Any, sigma: Any) -> tuple[tuple[Any, Any], tuple[dict[str, Any], ...]]:
    """Single-sample estimates of d/dmu E[z²], z ~ N(mu, sigma²): the variances of the pathwise
    2 z and of the score-function z² (z - mu) / sigma², and the classic mistakes' values (the
    concepts of ``VARIANCES_HINTS``, in order)."""
    pathwise = 4 * sigma**2
    score = mu**4 / sigma**2 + 14 * mu**2 + 15 * sigma**2
    root = sympy.sqrt(sigma)
    wrong_path = (2 * sigma, pathwise + 4 * mu**2, 4 * sigma)
    wrong_score = (sympy.sqrt(score), score + 4 * mu**2, sigma**4 * score,
                   score.subs(sigma, root))
    return (pathwise, score), tuple(dict(zip(h, w, strict=True)) for h, w in
                                    zip(VARIANCES_HINTS, (wrong_path, wrong_score), strict=True))


def baseline_forms(mu: Any, sigma: Any) -> tuple[tuple[Any, Any], tuple[dict[str, Any], ...]]:
    """The variance-minimising constant baseline of the single-sample score-function estimate
    of d/dmu E[z²] and the variance it leaves, and the classic mistakes' values."""
    b_star = mu**2 + 3 * sigma**2
    var_star = 8 * mu**2 + 6 * sigma**2
    wrong_b = (mu**2 + sigma**2, b_star / sigma**2)
    wrong_var = (8 * mu**2 + 10 * sigma**2, mu**4 / sigma**2 + 14 * mu**2 + 15 * sigma**2,
                 var_star + 4 * mu**2, sympy.sqrt(var_star))
    return (b_star, var_star), tuple(dict(zip(h, w, strict=True)) for h, w in
                                     zip(BASELINE_HINTS, (wrong_b, wrong_var), strict=True))


EXAMS = {"estimator_variances_sympy": (VARIANCES, VARIANCES_NAMES, variances_forms),
         "optimal_baseline_sympy": (BASELINE, BASELINE_NAMES, baseline_forms)}
MU_SIGMA_RANGES = {"mu": (-2.5, 2.5), "sigma": (0.3, 2.5)}


def exam_check(j: Judgement, *, symbol: str, numbers: bool, confirm: bool) -> None:
    """Symbols: the closed forms at random (mu, sigma); numbers: at mu = -3/2, sigma = 3."""
    function, names, forms = EXAMS[symbol]
    if numbers:
        args: tuple[Any, Any] = (sympy.Rational(-3, 2), sympy.Integer(3))
        points: list[dict[str, float]] = [{}]
        function = f"{symbol}(-3/2, 3)"
    else:
        args, points = probes.mu_sigma_symbols(), random_points(MU_SIGMA_RANGES, symbol)
    expected, hints = forms(*args)
    if confirm:
        confirm_answer(j.got, function=function, names=names, expected=expected, points=points)
    else:
        judge_answer(j.got, function=function, names=names, expected=expected, points=points,
                     hints=hints, reveal=False)


def exam_checks(symbol: str) -> tuple[Check, ...]:
    """The hidden checks of an exam question on q = N(mu, sigma²)."""
    return tuple(
        Check(name, partial(probes.probe_exam, symbol=symbol, numbers=numbers),
              partial(exam_check, symbol=symbol, numbers=numbers, confirm=False), id=check_id,
              hidden=True, confirm=partial(exam_check, symbol=symbol, numbers=numbers,
                                           confirm=True))
        for name, check_id, numbers in (
            ("the closed forms for symbolic mu, sigma", "symbolic", False),
            ("numbers in, numbers out (mu = -3/2, sigma = 3)", "numbers", True)))


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "reparam.reparameterize": (
        Check("explicit eps matches the reference (float32, 3-D batch)",
              probes.probe_reparam_explicit, judge_reparam_reference, inputs.reparam_inputs_3d,
              id="reparam_reference", hidden=True, seed=5),
        Check("eps=None samples have the right distribution (float64, other seed)",
              probes.probe_reparam_random,
              partial(public.judge_reparam_random, grad_rtol=1e-3, grad_atol=1e-4),
              partial(inputs.stats_inputs, F64), id="reparam_random_hidden", hidden=True,
              seed=77),
    ),
    "reparam.pathwise": (
        Check("matches the reference's mean for f(z) = sum(a sin z) (Welch t-test)",
              partial(probes.probe_estimator, symbol="pathwise_gradient", kind="sine"),
              partial(judge_matches_reference, what="pathwise_gradient",
                      on_error=public.PATHWISE_ERROR),
              inputs.estimator_inputs_random_mu, id="matches_the_reference_s", hidden=True,
              seed=41),
    ),
    "reparam.score_function": (
        Check("unbiased for a differentiable f with a step (autograd's derivative is wrong)",
              partial(probes.probe_estimator, symbol="score_function_gradient", kind="mixed"),
              partial(public.judge_unbiased, what="score_function_gradient", kind="mixed",
                      on_error=public.SCORE_ERROR, hints=public.mixed_hints,
                      saw_grad_hint=public.THROUGH_F),
              inputs.estimator_inputs, id="unbiased_for_a_differentiable", hidden=True,
              seed=17),
        Check("matches the reference's mean for f(z) = sum(a sin z) (Welch t-test)",
              partial(probes.probe_estimator, symbol="score_function_gradient", kind="sine"),
              partial(judge_matches_reference, what="score_function_gradient",
                      on_error=public.SCORE_ERROR),
              inputs.estimator_inputs_random_mu, id="matches_the_reference_s", hidden=True,
              seed=43),
    ),
    "reparam.gumbel_softmax": (
        Check("frequencies over the last dimension of a 3-D batch (float64)", probes.probe_gumbel,
              public.judge_gumbel_frequencies, inputs.grouped_frequency_inputs,
              id="frequencies_hidden", hidden=True, seed=8),
        Check("hard=True on a 3-D float32 batch", probes.probe_gumbel_hard,
              partial(public.judge_gumbel_hard, grad_rtol=1e-3, grad_atol=1e-6),
              partial(inputs.hard_inputs, torch.float32, (4, 3, 6)), id="hard_hidden",
              hidden=True, seed=9),
    ),
    "reparam.exam_variances": exam_checks("estimator_variances_sympy"),
    "reparam.exam_baseline": exam_checks("optimal_baseline_sympy"),
}
"""Topic 04's hidden checks, by task (see ``autograder.checks.rows``)."""
