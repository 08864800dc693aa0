"""Topic 05's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances are the judges' named keyword parameters, set here. The
grader-only checks of a task are in ``hidden.py``; where one was public before the student kit,
it keeps its place (``check_order``): its diagnosis leads the task's message in grading.
"""

from __future__ import annotations

from functools import partial

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t05_vae_binary_mnist import (
    TOPIC,
    inputs,
    probes,
    public,
    public_conditional,
    public_exam,
)
from autograder.topics.t05_vae_binary_mnist.probes import SMOKE_STEPS

TASKS = (
    Task("vae.prior", TOPIC, ("GaussianPrior",), 1.0, (
        Check("standard normal over R^M as one event", probes.probe_prior, public.judge_prior,
              inputs.prior_inputs, id="prior"),
        Check("parameters are buffers that follow .to(dtype/device)", probes.probe_prior_dtype,
              public.judge_prior_dtype, id="dtype"),
        Check("no trainable parameters (buffers, not trained)", probes.probe_prior_parameters,
              public.judge_prior_parameters, id="parameters", weight=2.0),
        Check("with the notebook's GaussianEncoder, td.kl_divergence(q, p) is KL(q || N(0, I))",
              probes.pair_with_encoder,
              partial(public.judge_pair, own="GaussianPrior", rtol=1e-4, atol=1e-4),
              inputs.pair_inputs, id="with_the_notebook_s"),
    ), description="p(z) = N(0, I_M)", companions=("GaussianEncoder",),
        check_order=("prior", "dtype", "parameters", "reference", "with_the_notebook_s")),
    Task("vae.encoder", TOPIC, ("GaussianEncoder",), 2.0, (
        Check("mean and std = exp(logvar / 2) from the network output",
              probes.probe_encoder_identity, public.judge_encoder_identity,
              inputs.encoder_identity_inputs, id="identity"),
        Check("shapes with a flattening linear network", probes.probe_encoder_linear,
              public.judge_encoder_linear, inputs.linear_encoder_inputs, id="linear"),
        Check("with the notebook's GaussianPrior, td.kl_divergence(q, p) is KL(q || N(0, I))",
              probes.pair_with_prior,
              partial(public.judge_pair, own="GaussianEncoder", rtol=1e-4, atol=1e-4),
              inputs.pair_inputs, id="with_the_notebook_s"),
    ), description="q(z|x) = N(mean, exp(logvar))", companions=("GaussianPrior",),
        check_order=("identity", "linear", "reference", "with_the_notebook_s")),
    Task("vae.decoder", TOPIC, ("BernoulliDecoder",), 2.0, (
        Check("Bernoulli(logits) over 28x28 pixels as one event: logits 0, ±log 3 by hand",
              probes.probe_decoder, partial(public.judge_decoder_hand, rtol=1e-4, atol=1e-3),
              inputs.decoder_hand_inputs, id="hand"),
    ), description="p(x|z) = prod Bernoulli(logits)",
        check_order=("decoder", "hand", "reference")),
    Task("vae.elbo", TOPIC, ("VAE",), 3.0, (
        Check(f"decoder ignoring z: E[elbo(x)] = -784 log 2 - KL(q || p) (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probes.probe_elbo, public.judge_elbo_hand,
              inputs.elbo_hand_inputs, id="hand"),
        Check("decoder ignoring z: forward(x) is the loss -elbo(x).mean()", probes.probe_elbo,
              public.judge_forward_hand, inputs.elbo_hand_inputs, id="forward_hand"),
        Check("gradients: the reconstruction term's through a reparameterised z, the KL's "
              "exactly", probes.probe_grad, public.judge_grad_hand, inputs.grad_hand_inputs,
              id="grad_hand"),
    ), timeout_s=90.0, description="ELBO = E_q[log p(x|z)] - KL(q || p)",
        check_order=("value", "forward", "grad", "hand", "forward_hand", "grad_hand",
                     "value_hidden")),
    Task("vae.sample", TOPIC, ("VAE",), 1.0, (
        Check("pixel frequencies match marginals known by hand (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probes.probe_sample, public.judge_sample_hand,
              inputs.sample_hand_inputs, id="hand"),
    ), description="ancestral sampling z ~ p(z), x ~ p(x|z)",
        check_order=("sample", "hand", "sample_hidden")),
    Task("vae.training", TOPIC, ("VAE",), 3.0, (
        Check(f"smoke test: {SMOKE_STEPS} Adam steps on one batch lower a positive loss that "
              "reaches both networks (measured false-failure rate 0/200)",
              probes.probe_training_smoke, public.judge_training_smoke,
              inputs.smoke_inputs, id="smoke", weight=0.25),
    ), timeout_s=150.0, extra_symbols=("GaussianPrior", "GaussianEncoder", "BernoulliDecoder"),
        description="the four classes train a working VAE", check_order=("training", "smoke")),
    Task("vae.exam_gaussian_nll", TOPIC, ("gaussian_decoder_nll",), 2.0, (
        Check("-log p(x|z) and the best σ² at two points worked by hand",
              probes.probe_nll_symbolic, public_exam.judge_nll_mock, id="mock",
              confirm=public_exam.confirm_nll_mock),
    ), timeout_s=120.0,
        description="exam practice: the Gaussian decoder's -log p(x|z) and its best variance"),
    Task("vae.exam_beta_optimum", TOPIC, ("beta_vae_optimum",), 2.0, (
        Check("the β-ELBO's optimal q at two points worked by hand", probes.probe_beta_symbolic,
              public_exam.judge_beta_mock, id="mock", confirm=public_exam.confirm_beta_mock),
    ), timeout_s=120.0,
        description="exam practice: the β-VAE's optimal q(z|x) for a linear Gaussian toy"),
    Task("vae.conditional", TOPIC, ("ConditionalEncoder", "ConditionalDecoder", "CVAE"), 3.0, (
        Check("q(z|x, y): the network gets [x.flatten(1), y]; mean and std from its output",
              probes.probe_cvae_encoder, public_conditional.judge_cvae_encoder,
              inputs.cvae_inputs, id="encoder"),
        Check("p(x|z, y): Bernoulli logits from the network on [z, y]; other labels change it",
              probes.probe_cvae_decoder, public_conditional.judge_cvae_decoder,
              inputs.cvae_inputs, id="decoder"),
        Check("elbo(x, y) = log p(x|z, y) - KL at the student's own z (decoder known by hand); "
              "forward is -elbo.mean()", probes.probe_cvae_elbo,
              public_conditional.judge_cvae_elbo_hand, inputs.cvae_elbo_hand_inputs,
              id="elbo_hand"),
        Check("sample(digit, n) decodes z ~ p(z) with the digit's one-hot label",
              probes.probe_cvae_sample, public_conditional.judge_cvae_sample,
              inputs.cvae_sample_inputs, id="sample"),
        Check(f"smoke test: {SMOKE_STEPS} Adam steps on one labelled batch lower the loss",
              probes.probe_cvae_smoke, public_conditional.judge_cvae_smoke,
              inputs.cvae_smoke_inputs, id="smoke", weight=0.5),
    ), timeout_s=120.0, description="a conditional VAE: q(z|x, y), p(x|z, y), its ELBO and "
        "sampling a chosen digit"),
)
