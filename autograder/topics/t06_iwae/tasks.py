"""Topic 06's task table: one row per graded task, in notebook order.

Each row lists the task's public checks (probe from ``probes``, judge from ``public``, inputs
from ``inputs``); tolerances are the judges' named keyword parameters, set here. The
grader-only checks of a task are in ``hidden.py``; ``check_order`` keeps the grading order
(the hidden checks that compare with exact values lead the task's message).
"""

from __future__ import annotations

from functools import partial

from autograder.checks.api import Check, Task
from autograder.checks.stats import FALSE_FAILURE_RATE
from autograder.topics.t06_iwae import TOPIC, inputs, probes, public, public_exam
from autograder.topics.t06_iwae.probes import LL_CHUNK, LL_K, MONO_KS

RATE = f"false-failure rate {FALSE_FAILURE_RATE:g}"
TASKS = (
    Task("iwae.log_weights", TOPIC, ("log_importance_weights",), 3.0, (
        Check("[K, B] log weights equal log p(x) for a decoder that ignores z and q = p(z)",
              probes.probe_log_weights, public.judge_log_weights_flat, inputs.flat_inputs,
              id="flat"),
        Check("under PPCA's exact posterior the K log weights of an example are equal",
              probes.probe_log_weights, public.judge_log_weights_constant, inputs.flat_inputs,
              id="constant"),
        Check(f"E[d log w / d q] = -d KL(q || p(z)) when the decoder ignores z: z is "
              f"reparameterised ({RATE})", probes.probe_log_weights_grad,
              public.judge_log_weights_grad_flat,
              partial(inputs.flat_inputs, inputs.GRAD_ROWS, *inputs.FLAT_GRAD_Q), id="grad_flat"),
    ), timeout_s=90.0, description="log p(x|z_k) + log p(z_k) - log q(z_k|x), [K, B]",
        check_order=("exact", "grad", "flat", "constant", "grad_flat", "mean")),
    Task("iwae.bound", TOPIC, ("iwae_bound",), 2.0, (
        Check("log of the mean weight, for weights with known means near e^-800 and e^800",
              probes.probe_bound, public.judge_bound_known, inputs.bound_known_inputs,
              id="known"),
    ), description="log (1/K) sum_k w_k from [K, B] log weights",
        check_order=("bound", "known", "reference")),
    Task("iwae.exam_first_k", TOPIC, ("iwae_first_k_above",), 2.0, (
        Check("the worked two-point model: the smallest K with L_K > -2",
              probes.probe_first_k, public_exam.judge_first_k_public,
              inputs.first_k_public_inputs, id="worked"),
    ), timeout_s=60.0, description="exam practice: the first K at which L_K exceeds a "
                                   "threshold, binary latent"),
    Task("iwae.exam_gap", TOPIC, ("iwae_lognormal_limit_and_gap",), 2.0, (
        Check("the worked instance m = -3, s2 = log 5, K = 10", partial(probes.probe_gap,
              kind="public"), public_exam.judge_gap_public, id="worked",
              confirm=public_exam.confirm_gap_public),
    ), timeout_s=120.0, description="exam practice: lim L_K and the first-order gap for "
                                    "lognormal weights"),
    Task("iwae.model", TOPIC, ("IWAE",), 3.0, (
        Check("elbo(x) is log p(x) for a decoder that ignores z and q = p(z); forward and "
              "sample unchanged", probes.probe_model_exact,
              partial(public.judge_model_flat, rtol=1e-6, atol=1e-6), inputs.flat_inputs,
              id="flat"),
        Check(f"E[bound] is the ELBO for k = 1 and rises towards log p(x) for k = "
              f"{MONO_KS[-1]} ({RATE})", probes.probe_model_mono, public.judge_model_grows_with_k,
              partial(inputs.flat_inputs, inputs.FLAT_MONO_ROWS, (1.0, -1.0)),
              id="grows_with_k"),
    ), timeout_s=90.0, description="a VAE whose elbo is the K-sample bound",
        check_order=("exact", "k1", "flat", "grows_with_k", "mono")),
    Task("iwae.loglik", TOPIC, ("estimate_log_likelihood",), 2.0, (
        Check(f"k = {LL_K} in chunks of {LL_CHUNK}: exact for a decoder that ignores z and "
              "q = p(z), memory bounded by the chunk", probes.probe_loglik,
              partial(public.judge_loglik_flat, rtol=1e-6, atol=1e-6), inputs.flat_inputs,
              id="flat"),
        Check(f"the estimate does not depend on the chunk size ({RATE})",
              probes.probe_loglik_chunks, public.judge_loglik_chunks,
              partial(inputs.flat_inputs, inputs.CHUNK_ROWS, (1.5, -1.5)), id="chunks"),
    ), timeout_s=90.0, description="importance-sampled log p(x), chunked over k",
        check_order=("exact", "combined", "flat", "chunks")),
    Task("iwae.ess", TOPIC, ("effective_sample_size",), 1.0, (
        Check("(sum w)^2 / sum w^2 for weights with known ESS, near e^-800 and e^800",
              probes.probe_ess, public.judge_ess_known, inputs.ess_known_inputs, id="known"),
    ), description="effective sample size of [K, B] log weights",
        check_order=("ess", "known", "reference")),
    Task("iwae.dreg", TOPIC, ("dreg_surrogate",), 3.0, (
        Check("no score term, squared weights on the encoder's path, plain weights for the "
              "decoder (a decoder that ignores z)", probes.probe_dreg_flat,
              public.judge_dreg_flat, inputs.dreg_flat_inputs, id="flat"),
    ), timeout_s=120.0, description="doubly reparameterised gradient surrogate",
        check_order=("decoder", "encoder_mean", "variance", "flat")),
    Task("iwae.training", TOPIC, ("IWAE",), 3.0, (
        Check("gradients reach encoder and decoder; descending the loss moves the decoder "
              "towards a tiny batch (measured false-failure rate 0/100)",
              probes.probe_training_smoke,
              partial(public.judge_training_smoke, min_cosine=0.5), inputs.smoke_inputs,
              id="smoke"),
    ), timeout_s=420.0, description="the IWAE trains the grader's fixed networks",
        check_order=("training", "smoke")),
)
