"""Topic 04's hidden checks: they compare with the reference solution's results. Never
shipped to students and unreadable from the sandbox; attached to the rows of ``tasks.py`` by
``autograder.checks.rows``.
"""

from __future__ import annotations

from functools import partial

import torch
from scipy import stats

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_tensor
from autograder.topics.t04_reparameterisation import inputs, probes, public
from autograder.topics.t04_reparameterisation.public import NO_GRAD, RATE, collect, std_hints

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
}
"""Topic 04's hidden checks, by task (see ``autograder.checks.rows``)."""
