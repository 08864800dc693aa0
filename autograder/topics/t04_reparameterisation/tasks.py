"""Topic 04's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances and the settings of shared probes and judges are named keyword
parameters, set here. The grader-only checks of a task are in ``hidden.py`` and follow these.
"""

from __future__ import annotations

from functools import partial

import torch

from autograder.checks.api import Check, Task
from autograder.topics.t04_reparameterisation import TOPIC, inputs, probes, public, public_exam
from autograder.topics.t04_reparameterisation.probes import REPS
from autograder.topics.t04_reparameterisation.public import PATHWISE_ERROR, RATE, SCORE_ERROR

TASKS = (
    Task("reparam.reparameterize", TOPIC, ("reparameterize",), 2.0, (
        Check("explicit eps: exact values and gradients w.r.t. mu and logvar (float64)",
              probes.probe_reparam_explicit, public.judge_reparam_explicit,
              inputs.reparam_inputs, id="reparam_explicit"),
        Check(f"eps=None: N(mu, exp(logvar)) samples, global RNG, gradients flow (float32; "
              f"false-failure rate {RATE:g})", probes.probe_reparam_random,
              partial(public.judge_reparam_random, grad_rtol=1e-3, grad_atol=1e-4),
              inputs.stats_inputs, id="reparam_random"),
    ), description="z = mu + exp(logvar / 2) * eps"),
    Task("reparam.pathwise", TOPIC, ("pathwise_gradient",), 2.0, (
        Check("grad_mu is exact for linear f (float32, dtype and device kept)",
              probes.probe_linear, public.judge_linear,
              partial(inputs.estimator_inputs, torch.float32), id="linear"),
        Check(f"unbiased for f(z) = sum(a z + c z^2) (t-test over {REPS} calls, false-failure "
              f"rate {RATE:g})",
              partial(probes.probe_estimator, symbol="pathwise_gradient", kind="quadratic"),
              partial(public.judge_unbiased, what="pathwise_gradient", kind="quadratic",
                      on_error=PATHWISE_ERROR, hints=public.pathwise_hints),
              inputs.estimator_inputs, id="check"),
    ), description="reparameterisation (pathwise) gradient estimator"),
    Task("reparam.score_function", TOPIC, ("score_function_gradient",), 3.0, (
        Check(f"unbiased for f(z) = sum(a z + c z^2) (t-test over {REPS} calls, false-failure "
              f"rate {RATE:g})",
              partial(probes.probe_estimator, symbol="score_function_gradient",
                      kind="quadratic"),
              partial(public.judge_unbiased, what="score_function_gradient", kind="quadratic",
                      on_error=SCORE_ERROR, hints=public.score_hints,
                      saw_grad_hint=public.THROUGH_F),
              inputs.estimator_inputs, id="check"),
        Check("unbiased for a black-box step function f whose output has no gradient (float32)",
              partial(probes.probe_estimator, symbol="score_function_gradient", kind="step"),
              partial(public.judge_unbiased, what="score_function_gradient", kind="step",
                      on_error=SCORE_ERROR, hints=public.step_hints,
                      saw_grad_hint=public.THROUGH_F),
              partial(inputs.estimator_inputs, torch.float32), id="unbiased_for_a_black"),
    ), description="score-function (REINFORCE) gradient estimator"),
    Task("reparam.exam_variances", TOPIC, ("estimator_variances_sympy",), 2.0, (
        Check("four (mu, sigma), worked by hand",
              partial(probes.probe_exam, symbol="estimator_variances_sympy"),
              public_exam.judge_variances_mock, id="mock",
              confirm=public_exam.confirm_variances_mock),
    ), timeout_s=120.0, description="exam practice: pathwise vs score-function variance"),
    Task("reparam.gumbel_softmax", TOPIC, ("gumbel_softmax_sample",), 3.0, (
        Check("relaxed samples lie on the simplex, positive (float32)", probes.probe_gumbel,
              public.judge_gumbel_simplex, inputs.gumbel_inputs, id="simplex"),
        Check("near one-hot at tau = 0.01 (float64)", probes.probe_gumbel,
              partial(public.judge_gumbel_low_tau, min_top=0.97), inputs.low_tau_inputs,
              id="low_tau"),
        Check(f"argmax frequencies follow softmax(logits) (chi-squared, false-failure rate "
              f"{RATE:g})", probes.probe_gumbel, public.judge_gumbel_frequencies,
              inputs.frequency_inputs, id="frequencies", weight=2.0),
        Check("hard=True: one-hot forward, straight-through gradient of the relaxed sample",
              probes.probe_gumbel_hard,
              partial(public.judge_gumbel_hard, grad_rtol=1e-3, grad_atol=1e-6),
              inputs.hard_inputs, id="hard", weight=2.0),
    ), description="Gumbel-softmax relaxation and straight-through estimator"),
    Task("reparam.exam_baseline", TOPIC, ("optimal_baseline_sympy",), 2.0, (
        Check("four (mu, sigma), worked by hand",
              partial(probes.probe_exam, symbol="optimal_baseline_sympy"),
              public_exam.judge_baseline_mock, id="mock",
              confirm=public_exam.confirm_baseline_mock),
    ), timeout_s=120.0, description="exam practice: the optimal constant baseline"),
)
