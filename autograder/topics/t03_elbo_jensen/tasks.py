"""Topic 03's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances are the judges' named keyword parameters, set here. The
grader-only checks of a task are in ``hidden.py`` and follow these.
"""

from __future__ import annotations

from functools import partial

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t03_elbo_jensen import TOPIC, inputs, probes, public, public_exam

TASKS = (
    Task("elbo.log_mean_exp", TOPIC, ("log_mean_exp",), 2.0, (
        Check("finite and exact for entries around ±1000 (float32)", probes.probe_lme_dim1,
              partial(public.judge_lme_extreme, rtol=1e-6, atol=2e-3),
              inputs.lme_extreme_inputs, id="lme_extreme"),
        Check("reduces the given dim (0, 1, -1) of a 3-D tensor with a -inf entry (float64)",
              probes.probe_lme_dims, public.judge_lme_dims, inputs.lme_dims_inputs,
              id="lme_dims"),
    ), description="stable log of the mean of exp"),
    Task("elbo.mc", TOPIC, ("elbo_mc",), 3.0, (
        Check(f"1-D model, q = its exact posterior: the estimate is log p(x) (false-failure "
              f"rate {FALSE_FAILURE_RATE:g})", probes.probe_mc, public.judge_mc_tiny_posterior,
              inputs.tiny_inputs, id="tiny_posterior"),
        Check("1-D model: the gradient w.r.t. q's mean is x - 2 mu (reparameterisation)",
              probes.probe_mc_grad, public.judge_mc_tiny_grad,
              partial(inputs.tiny_inputs, 1.0, samples=500), id="tiny_grad"),
    ), timeout_s=90.0, description="Monte Carlo ELBO for any model"),
    Task("elbo.ppca", TOPIC, ("ppca_elbo",), 3.0, (
        Check("mock-exam ELBO", probes.elbo, public.judge_elbo_mock, inputs.mock_exam,
              id="elbo_mock"),
        Check("mock exam: equals log p(x) at the exact posterior and lies below it elsewhere",
              probes.probe_elbo_touches, public.judge_elbo_touches_mock,
              inputs.mock_with_posterior, id="elbo_touches_mock"),
    ), description="closed-form PPCA ELBO"),
    Task("elbo.gap", TOPIC, ("elbo_gap",), 2.0, (
        Check("mock exam: zero at the exact posterior, the 1-D Gaussian KL elsewhere",
              probes.probe_gap_at_posterior, partial(public.judge_gap_mock, zero_atol=1e-6),
              inputs.mock_with_posterior, id="mock"),
    ), description="the gap KL(q || p(z|x))"),
    Task("elbo.exam_gap_1d", TOPIC, ("gap_1d_sympy",), 2.0, (
        Check("four (x, s2, m, v), worked by hand (0 at the posterior)", probes.probe_gap_1d,
              public_exam.judge_gap_1d_mock, id="mock", confirm=public_exam.confirm_gap_1d_mock),
    ), timeout_s=120.0, description="exam practice: log p(x) - ELBO of a 1-D model, in sympy"),
    Task("elbo.exam_mean_field_gap", TOPIC, ("mean_field_gaps_sympy",), 2.0, (
        Check("rho = 3/5, -4/5 and 0, worked by hand", probes.probe_mean_field,
              public_exam.judge_mean_field_mock, id="mock",
              confirm=public_exam.confirm_mean_field_mock),
    ), timeout_s=120.0, description="exam practice: the gap a factorised q cannot close"),
)
