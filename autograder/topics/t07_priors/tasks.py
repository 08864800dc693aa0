"""Topic 07's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``). The grader-only checks of a task are in ``hidden.py``; ``check_order`` (check
ids) says where each goes among these.
"""

from __future__ import annotations

from functools import partial

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t07_priors import TOPIC, inputs, probes, public, public_exam

TASKS = (
    Task("priors.mixture", TOPIC, ("log_mixture_density",), 2.0, (
        Check("known log-densities of two far-apart components, stable 100 standard "
              "deviations away", probes.probe_mixture, public.judge_mixture_known,
              inputs.two_component_inputs, id="known"),
    ), timeout_s=180.0, description="log-density of a diagonal Gaussian mixture",
        check_order=("mixture", "far", "known", "reference")),
    Task("priors.mog", TOPIC, ("MoGPrior",), 2.0, (
        Check("a MixtureSameFamily over R^M whose samples have its own mean and variance",
              probes.probe_mog, public.judge_mog_structure, inputs.mog_inputs, id="structure"),
        Check("weights, means and variances change under Adam (measured false-failure rate "
              "0/400)", probes.probe_mog_fit,
              partial(public.judge_mog_learnable, min_change=1e-4), inputs.mog_inputs,
              id="learnable"),
        Check("parameters follow .to(float64)", probes.probe_mog_dtype, public.judge_mog_dtype,
              id="dtype"),
    ), timeout_s=180.0, description="learnable mixture-of-Gaussians prior",
        check_order=("mog", "fit", "structure", "learnable", "dtype", "mog_hidden")),
    Task("priors.vamp", TOPIC, ("VampPrior",), 3.0, (
        Check("uniform weights, the shared encoder's Gaussians at the pseudo-inputs as "
              "components, samples with the mixture's mean and variance", probes.probe_vamp,
              partial(public.judge_vamp_structure, init_atol=2e-3, weight_atol=1e-5),
              inputs.vamp_inputs, id="structure"),
        Check("gradients reach the shared encoder and the pseudo-inputs, which move (measured "
              "false-failure rate 0/200)",
              probes.probe_vamp_learning,
              partial(public.judge_vamp_learning, shift_atol=1e-3, min_move=1e-4),
              inputs.vamp_inputs,
              id="learning"),
    ), timeout_s=180.0, description="VampPrior: mixture of q(z|u_k) at learned pseudo-inputs",
        check_order=("vamp", "structure", "learning", "vamp_hidden")),
    Task("priors.elbo", TOPIC, ("elbo_mc_kl",), 2.0, (
        Check(f"E[elbo] = log p(x) - 2 for a decoder that ignores z and a prior N((1, 1), I) "
              f"written as a mixture (false-failure rate {FALSE_FAILURE_RATE:g})",
              probes.probe_elbo, public.judge_elbo_known, inputs.elbo_known_inputs, id="known"),
        Check("gradients reach the encoder (rsample, -d KL known) and the prior",
              probes.probe_elbo, public.judge_elbo_grad_known, inputs.elbo_known_inputs,
              id="grad_known"),
    ), timeout_s=180.0, description="ELBO with a Monte Carlo KL",
        check_order=("elbo", "grad", "known", "grad_known", "elbo_hidden")),
    Task("priors.aggregate", TOPIC, ("aggregate_posterior_log_density",), 2.0, (
        Check("known log-densities for two far-apart posteriors, stable 100 standard "
              "deviations away", probes.probe_aggregate, public.judge_aggregate_known,
              inputs.aggregate_known_inputs, id="known"),
    ), timeout_s=240.0, description="log-density of the aggregate posterior",
        check_order=("aggregate", "aggregate_hidden", "big", "known", "aggregate_2")),
    Task("priors.holes", TOPIC, ("hole_fraction",), 1.0, (
        Check(f"40^(-1/3) of N(0, I) samples in the holes of N(0, I / 4) at ratio 0.1 "
              f"(false-failure rate {FALSE_FAILURE_RATE:g})", probes.probe_holes,
              public.judge_holes_known, inputs.holes_known_inputs, id="known"),
    ), timeout_s=180.0, description="prior mass the aggregate posterior leaves empty",
        check_order=("holes", "known", "holes_hidden")),
    Task("priors.exam_surgery", TOPIC, ("elbo_surgery_terms",), 2.0, (
        Check("I_q(n; z) and KL(q(z) || p(z)) of the notebook's two-image toy", probes.surgery,
              partial(public_exam.judge_surgery_known, atol=1e-5), inputs.surgery_inputs,
              id="toy", confirm=partial(public_exam.judge_surgery_known, atol=1e-5)),
    ), timeout_s=60.0, description="exam practice: the ELBO-surgery terms of a discrete toy",
        check_order=("toy", "other_toy")),
    Task("priors.exam_gaussian_prior", TOPIC, ("best_gaussian_prior",), 2.0, (
        Check("mean and variance for the notebook's three-image toy, exactly",
              probes.probe_gaussian_prior, public_exam.judge_gaussian_known,
              inputs.gaussian_prior_inputs, id="toy", confirm=public_exam.confirm_gaussian_known),
    ), timeout_s=120.0, description="exam practice: the best Gaussian prior for a fixed encoder",
        check_order=("toy", "symbolic")),
    Task("priors.training", TOPIC, ("MoGPrior", "VampPrior", "elbo_mc_kl"), 3.0, (
        Check("with each learned prior, gradients reach encoder, decoder and prior, and the "
              "decoder's is that of the Bernoulli log-likelihood (fits the data; measured "
              "false-failure rate 0/500, an identity)",
              probes.probe_training_smoke, public.judge_training_smoke, inputs.smoke_inputs,
              id="smoke"),
    ), timeout_s=600.0, description="MoG and Vamp priors train better-fitting VAEs",
        check_order=("training", "smoke")),
)
