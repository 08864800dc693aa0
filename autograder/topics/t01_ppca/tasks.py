"""Topic 01's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances are the judges' named keyword parameters, set here. The
grader-only checks of a task are in ``hidden.py`` and follow these.
"""

from __future__ import annotations

from functools import partial

import torch

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t01_ppca import TOPIC, inputs, probes, public

TASKS = (
    Task("ppca.sample", TOPIC, ("ppca_sample",), 2.0, (
        Check("uses torch's global random generator", probes.probe_sample_rng,
              public.judge_sample_rng, partial(inputs.random_model, d=3, m=2), id="rng"),
        Check(f"samples have mean b and covariance W Wᵀ + sigma2 I (float32; false-failure "
              f"rate {FALSE_FAILURE_RATE:g} per test)", probes.sample,
              public.judge_sample_distribution, inputs.sample_inputs, id="distribution"),
    ), description="ancestral sampling"),
    Task("ppca.marginal_sympy", TOPIC, ("ppca_marginal_sympy",), 2.0, (
        Check("mock-exam marginal, symbolically", probes.probe_sympy_mock,
              public.judge_sympy_mock, id="mock", confirm=public.confirm_sympy_mock),
    ), timeout_s=120.0, description="marginal derived with sympy"),
    Task("ppca.marginal", TOPIC, ("ppca_marginal",), 2.0, (
        Check("mock-exam marginal", probes.marginal, public.judge_marginal_mock,
              inputs.mock_exam, id="mock"),
        Check("mean = b, symmetric covariance with noise floor sigma2 (float32)",
              probes.marginal,
              partial(public.judge_marginal_invariants,
                      noise_floor_rtol=1e-3, noise_floor_atol=1e-4),
              partial(inputs.random_model, dtype=torch.float32), id="invariants"),
    ), description="marginal p(x) = N(b, W Wᵀ + sigma2 I)"),
    Task("ppca.posterior", TOPIC, ("ppca_posterior",), 2.0, (
        Check("mock-exam posterior", probes.posterior, public.judge_posterior_mock,
              inputs.mock_exam, id="mock"),
        Check("shapes, symmetry and positive definiteness", probes.posterior,
              public.judge_posterior_invariants, partial(inputs.random_model, dtype=torch.float32),
              id="invariants"),
    ), description="posterior p(z|x)"),
    Task("ppca.exam_posterior_cov", TOPIC, ("ppca_posterior_cov_symbolic",), 1.0, (
        Check("W = (w00, w10)ᵀ, sigma2: the covariance at two points worked by hand",
              probes.probe_exam_posterior_cov, public.judge_exam_posterior_cov,
              partial(inputs.exam_shape, 2, 1), id="mock",
              confirm=public.confirm_exam_posterior_cov),
    ), timeout_s=120.0, description="exam practice: the posterior covariance in sympy"),
    Task("ppca.log_marginal", TOPIC, ("ppca_log_marginal",), 2.0, (
        Check("mock-exam log-density", probes.log_marginal, public.judge_log_marginal_mock,
              inputs.mock_exam, id="mock"),
        Check("the density integrates to one (1-D model)", probes.log_marginal,
              partial(public.judge_log_marginal_sums_to_one, mass_tolerance=1e-3),
              inputs.grid_1d, id="normalised"),
    ), description="exact log p(x)"),
    Task("ppca.mle", TOPIC, ("ppca_mle",), 2.0, (
        Check("b, sigma2 and the top eigenvalues of the closed-form MLE", probes.mle,
              partial(public.judge_mle_closed_form_parts, rtol=1e-5, atol=1e-8),
              inputs.mle_data, id="closed_form"),
    ), description="closed-form maximum likelihood (Tipping & Bishop 1999)"),
    Task("ppca.exam_ml_shrinkage", TOPIC, ("ppca_ml_shrinkage",), 2.0, (
        Check("D = 4, M = 2: the factors at two points worked by hand",
              probes.probe_exam_ml_shrinkage, public.judge_exam_ml_shrinkage,
              partial(inputs.exam_shape, 4, 2), id="mock",
              confirm=public.confirm_exam_ml_shrinkage),
    ), timeout_s=120.0,
        description="exam practice: the ML model's shrinkage factors from the eigenvalues"),
)
