"""Topic 08's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public`` or
``public_models``, inputs from ``inputs``). The grader-only checks of a task are in
``hidden.py``; ``check_order`` (check ids) says where each goes among these.
"""

from __future__ import annotations

from functools import partial

import torch

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t08_hierarchical_vae import (
    TOPIC,
    inputs,
    probes,
    public,
    public_exam,
    public_models,
)

F64 = torch.float64
MODEL_ORDER = ("terms", "gradients", "forward", "terms_known", "gradients_known",
               "forward_known", "terms_reference")
"""Where the hidden model checks go among the public ones (``hvae.bottom_up``, ``top_down``)."""


def model_checks(kind: str) -> tuple[Check, ...]:
    """The public checks of ``hvae.bottom_up`` or ``hvae.top_down`` (``kind``): exact
    expectations of one tiny linear-Gaussian model."""
    probe = probes.PROBE_MODEL[kind]
    known = partial(inputs.known_model_inputs, kind)
    rate = f"false-failure rate {FALSE_FAILURE_RATE:g}"
    return (
        Check(f"E[rec], E[kl1], E[kl2] of a tiny linear-Gaussian model, known exactly ({rate})",
              probe, public_models.judge_terms_known, known, id="terms_known"),
        Check(f"elbo = rec - kl1 - kl2; gradients of both layers have their exact expectations "
              f"({rate})", probe, public_models.judge_gradients_known, known,
              id="gradients_known"),
        Check("forward(x, beta) = -(rec - beta (kl1 + kl2)).mean() on the tiny model", probe,
              public_models.judge_forward_known, known, id="forward_known"),
    )


TASKS = (
    Task("hvae.exam_analytic_kl", TOPIC, ("analytic_kl_terms",), 1.0, (
        Check("the analytic KL terms of the bottom-up and the top-down ELBO",
              probes.probe_analytic_kl, public_exam.judge_analytic_kl, inputs.analytic_inputs,
              id="notebook"),
    ), timeout_s=60.0, description="exam practice: which KL terms of the hierarchical ELBO "
                                   "are analytic"),
    Task("hvae.exam_merge", TOPIC, ("merge_gaussians_sympy",), 2.0, (
        Check("mean and variance of the normalised product of two Gaussians, symbolically",
              probes.probe_exam_merge, public_exam.judge_exam_merge, id="symbolic",
              confirm=public_exam.confirm_exam_merge),
    ), timeout_s=120.0, description="exam practice: the precision-weighted merge, derived "
                                    "(sympy)"),
    Task("hvae.merge", TOPIC, ("precision_weighted_merge",), 2.0, (
        Check("matches the product of Gaussians derived with sympy (float64)", probes.merge,
              public.judge_merge_sympy, partial(inputs.merge_inputs, F64), id="sympy", seed=3),
    ), timeout_s=120.0, description="Ladder-VAE precision-weighted merge",
        check_order=("closed_form", "sympy", "reference")),
    Task("hvae.bottom_up", TOPIC, ("GaussianConditional", "BottomUpHVAE"), 4.0, (
        Check("GaussianConditional: mean and standard deviation from net(u) (mean first, then "
              "log-variance), one event of size M", probes.probe_conditional,
              public.judge_conditional, inputs.conditional_inputs, id="conditional",
              weight=1.5),
        *model_checks("bottom_up"),
    ), timeout_s=240.0, description="conditional Gaussians; q(z1|x) q(z2|z1): ELBO terms, "
                                    "gradients, loss",
         check_order=("conditional", "conditional_reference", *MODEL_ORDER)),
    Task("hvae.top_down", TOPIC, ("TopDownHVAE",), 3.0, model_checks("top_down"),
         timeout_s=240.0, description="q(z2|x) q(z1|z2, x): ELBO terms, gradients, loss",
         check_order=MODEL_ORDER),
    Task("hvae.sample", TOPIC, ("BottomUpHVAE", "TopDownHVAE"), 1.0, (
        Check("step-like pixels are on as often as z1 ~ N(bp, Ap Ap^T + diag(exp(lvp))) says "
              f"(both models; false-failure rate {FALSE_FAILURE_RATE:g})",
              probes.probe_sample_row, public.judge_sample_known, inputs.known_sample_inputs,
              id="known"),
    ), timeout_s=120.0, description="ancestral sampling z2, z1, x",
        check_order=("sample", "known", "sample_hidden")),
    Task("hvae.active_units", TOPIC, ("active_units",), 2.0, (
        Check("counts of units whose means were given known variances over the data",
              probes.probe_active, public.judge_active_designed, inputs.active_inputs,
              id="designed"),
    ), timeout_s=120.0, description="active units (Burda et al., 2016)",
        check_order=("active", "designed", "reference")),
    Task("hvae.training", TOPIC, ("kl_warmup", "TopDownHVAE", "BottomUpHVAE"), 4.0, (
        Check("kl_warmup: the KL weight at a step, from 0 to 1 over the warm-up, then 1",
              probes.probe_warmup, public.judge_warmup, inputs.warmup_inputs, id="warmup",
              weight=0.5),
        Check("gradients reach all four networks of both models, and the decoder's is that of "
              "the Bernoulli log-likelihood (fits the data; measured false-failure rate 0/200, "
              "an identity)", probes.probe_training_smoke,
              public.judge_training_smoke, inputs.smoke_inputs, id="smoke", weight=1.5),
    ), timeout_s=600.0, companions=("GaussianConditional",),
        description="KL warm-up schedule; warm-up and top-down inference keep z1 units active",
        check_order=("warmup", "warmup_reference", "training", "smoke")),
)
