"""Topic 07's hidden checks: they compare with the reference solution's results or use the
grader-only maths of ``autograder.trusted`` (mixture and aggregate densities, exact ELBOs by
quadrature, hole fractions, the test ELBO of trained models). Never shipped to students and
unreadable from the sandbox; attached to the rows of ``tasks.py`` by ``autograder.checks.rows``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import nn

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_sequence, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold, z_statistic
from autograder.fixtures.mnist import mnist_root_inputs
from autograder.fixtures.modules import IMG
from autograder.payload import DistributionInfo
from autograder.symbolic import confirm_same
from autograder.topics.t07_priors import inputs, probes, public_exam
from autograder.topics.t07_priors.inputs import mog_inputs
from autograder.topics.t07_priors.probes import (
    BIG_M,
    BIG_N,
    BIG_STRIDE,
    ELBO_N,
    HOLE_CHECK_POINTS,
    MOG_K,
    TRAIN_M,
    VAMP_K,
    hole_prior,
    train_nets,
)
from autograder.topics.t07_priors.public import (
    elbo_values,
    expect_mixture,
    fail_on_wrong_aggregate,
    hole_fraction_value,
    judge_elbo_grads,
    judge_mixture_samples,
    mixture_moments,
    mog_learned,
    mog_parts,
    seen_pseudo_inputs,
    vamp_parts,
)
from autograder.trusted import priors as tp
from autograder.trusted.linear_bernoulli import bernoulli_log_prob, grid_2d, linear_logits

F64 = torch.float64
EXACT_N = 100_000
TEST_SUBSET = 1_000
ELBO_TOLERANCE = 10.0
TRAINING_RUNS = 100
"""Correct trainings measured (docs/grading/training-checks.md, also why only Vamp's holes)."""
ELBO_FLOOR = -190.0
HOLE_RATIO = 0.1
HOLE_SAMPLES = 20_000


def _expected_mixture(inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    args = [inputs[k].to(F64) for k in ("z", "means", "logvars", "logits")]
    dtype = inputs["z"].dtype
    expected = tp.mixture_log_density(*args[:3], torch.log_softmax(args[3], -1)).to(dtype)
    hints = {k: v.to(dtype) for k, v in tp.mixture_bug_values(*args).items()}
    return expected, hints


def judge_mixture(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    expect_tensor(j.got, "log_mixture_density(z, means, logvars, logits)", shape=(n,),
                  dtype=j.inputs["z"].dtype, device=j.device)
    expected, hints = _expected_mixture(j.inputs)
    expect_close(j.got, expected, "log sum_k pi_k N(z; mu_k, diag exp(logvar_k))",
                 reveal=not j.hidden, hints=hints)


def judge_mixture_far(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    got = expect_tensor(j.got, "log_mixture_density at distant z", shape=(n,),
                        dtype=j.inputs["z"].dtype, device=j.device)
    if bool(torch.isneginf(got).any()):
        raise CheckFailed("log_mixture_density is -inf at points 40 standard deviations from "
                          "every component: exp(log N) underflows to 0 there (a naive "
                          "log(sum(exp(...))) / log(mean(exp(...)))). Use torch.logsumexp, "
                          "or MixtureSameFamily, which computes it stably.")
    expect_finite(got, "log_mixture_density at distant z")
    expected, hints = _expected_mixture(j.inputs)
    expect_close(got, expected, "log p(z) far from every component", reveal=True, hints=hints)


def judge_mixture_reference(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    expect_tensor(j.got, "log_mixture_density(z, means, logvars, logits)", shape=(n,),
                  dtype=F64, device=j.device)
    _, hints = _expected_mixture(j.inputs)
    expect_close(j.got, j.ref, "log_mixture_density in float64", reveal=False, hints=hints)


def _mixture_log_prob_and_moments(parts: dict[str, torch.Tensor], z: torch.Tensor
                                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    probs, means, stds = (parts[k].to(F64) for k in ("probs", "means", "stds"))
    log_prob = tp.mixture_log_density(z.to(F64), means, 2 * stds.log(), probs.log())
    return (log_prob, *mixture_moments(parts))


def judge_mog(j: Judgement) -> None:
    m, k, z = j.inputs["M"], j.inputs["K"], j.inputs["z"]
    parts = mog_parts(j)
    log_prob, mean, var = _mixture_log_prob_and_moments(parts, z)
    expect_close(j.got.get("log_prob"), log_prob.to(z.dtype),
                 "log_prob(z) of your mixture (against the density of its own weights, means "
                 "and standard deviations)", reveal=True)
    judge_mixture_samples(j.got.get("sample"), mean, var, m, f"MoGPrior({m}, {k})()")


def judge_mog_fit(j: Judgement, *, min_change: float, min_gain: float) -> None:
    """Adam moves every kind of parameter (by ``min_change``) and raises the held-out
    log-likelihood by more than ``min_gain`` nats per point."""
    m, k = j.inputs["M"], j.inputs["K"]
    before, after = mog_learned(j, min_change)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        held_out = mog_inputs(F64, m, k)["data"]
    ll = {}
    for name, parts in (("before", before), ("after", after)):
        p = {key: v.to(F64) for key, v in parts.items()}
        ll[name] = float(tp.mixture_log_density(held_out, p["means"], 2 * p["stds"].log(),
                                                p["probs"].log()).mean())
    if ll["after"] <= ll["before"] + min_gain:
        raise CheckFailed(f"maximum-likelihood training of MoGPrior did not improve the "
                          f"held-out log-likelihood ({ll['before']:.2f} -> {ll['after']:.2f} "
                          "nats per point).")


def judge_vamp(j: Judgement, *, init_atol: float, weight_atol: float, ref_rtol: float,
               ref_atol: float) -> None:
    """vamp_parts' checks, log_prob against its own components (and, hidden, against the
    reference within ``ref_rtol``/``ref_atol``), samples with the mixture's moments."""
    got = j.got if isinstance(j.got, dict) else {}
    init = j.inputs["pseudo_init"]
    parts = vamp_parts(j, init_atol, weight_atol)
    log_prob, mix_mean, var = _mixture_log_prob_and_moments(parts, j.inputs["z"])
    expect_close(got.get("log_prob"), log_prob.to(init.dtype), "log_prob(z) of the VampPrior",
                 reveal=not j.hidden)
    if j.hidden:
        expect_close(got.get("log_prob"), j.ref["log_prob"], "log_prob(z) of the VampPrior",
                     reveal=False, rtol=ref_rtol, atol=ref_atol)
    judge_mixture_samples(got.get("sample"), mix_mean, var, j.inputs["M"], "VampPrior()")


def exact_elbo_terms(inputs: dict[str, Any], mean: torch.Tensor | None = None,
                     logvar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """E_q[log p(x|z)], E_q[log p(z)], the entropy of q and KL(q || N(0, I)) by quadrature."""
    W, c, x = (inputs[k].to(F64) for k in ("W", "c", "x"))
    mean = inputs["q_mean"].to(F64) if mean is None else mean
    logvar = inputs["q_logvar"].to(F64) if logvar is None else logvar
    z, _, w = grid_2d(mean, torch.exp(0.5 * logvar))
    rec = (w * bernoulli_log_prob(x, linear_logits(z, W, c))).sum()
    log_pz = tp.mixture_log_density(z, inputs["p_means"].to(F64), inputs["p_logvars"].to(F64),
                                    torch.log_softmax(inputs["p_logits"].to(F64), -1))
    prior = (w * log_pz).sum()
    entropy = 0.5 * (logvar + 1 + math.log(2 * math.pi)).sum()
    kl_std = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum()
    return {"rec": rec, "prior": prior, "entropy": entropy, "kl_std": kl_std}


def judge_elbo(j: Judgement) -> None:
    values = elbo_values(j)
    t = {k: float(v) for k, v in exact_elbo_terms(j.inputs).items()}
    expected = t["rec"] + t["prior"] + t["entropy"]
    mean, se, z = z_statistic(values, expected)
    limit = normal_threshold()
    if z <= limit:
        return
    hints = {
        "an analytic td.kl_divergence against the wrong prior, N(0, I): the model's prior is "
        "a mixture; use the Monte Carlo estimate log p(z) - log q(z|x) with model.prior()":
            t["rec"] - t["kl_std"],
        "the KL term has the wrong sign: elbo = log p(x|z) + log p(z) - log q(z|x)":
            t["rec"] - t["prior"] - t["entropy"],
        "log p(z) is missing": t["rec"] + t["entropy"],
        "log q(z|x) is missing (it must be subtracted)": t["rec"] + t["prior"],
    }
    named = [text for text, v in hints.items()
             if abs(mean - v) <= limit * (se + 1e-5 * abs(v) + 1e-6)]
    if se == 0.0:
        named.append("every draw gave the same value: z must be a reparameterised sample "
                     "z = q.rsample(), not q.mean")
    message = (f"the average of {ELBO_N} draws of elbo_mc_kl is {mean:.3f} ± {se:.3f}, but the "
               f"exact ELBO under the mixture prior is {expected:.3f} (z = {z:.1f} standard "
               f"errors; threshold {limit:.1f} at false-failure rate {FALSE_FAILURE_RATE:g}).")
    if named:
        message += f" Likely cause: {named[0]}."
    raise CheckFailed(message)


def expected_elbo_grad(inputs: dict[str, Any]) -> torch.Tensor:
    """d ELBO / d [q_mean, q_logvar], exactly (autograd through the quadrature)."""
    mean = inputs["q_mean"].to(F64).clone().requires_grad_(True)
    logvar = inputs["q_logvar"].to(F64).clone().requires_grad_(True)
    t = exact_elbo_terms(inputs, mean, logvar)
    (t["rec"] + t["prior"] + t["entropy"]).backward()
    return torch.cat([mean.grad, logvar.grad])


def judge_elbo_grad(j: Judgement) -> None:
    judge_elbo_grads(j, expected_elbo_grad(j.inputs), "the exact ELBO's gradient")


def _aggregate_expected(inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    z, mu, lv = (inputs[k].to(F64) for k in ("z", "q_means", "q_logvars"))
    dtype = inputs["z"].dtype
    return (tp.aggregate_log_density(z, mu, lv).to(dtype),
            {k: v.to(dtype) for k, v in tp.aggregate_bug_values(z, mu, lv).items()})


def judge_aggregate(j: Judgement) -> None:
    n_z = j.inputs["z"].shape[0]
    got = expect_tensor(j.got, "aggregate_posterior_log_density(z, q_means, q_logvars)",
                        shape=(n_z,), dtype=j.inputs["z"].dtype, device=j.device)
    if bool(torch.isneginf(got).any()):
        raise CheckFailed("the aggregate log-density is -inf at points far from every encoded "
                          "point: log(mean(exp(log N))) underflows. Use torch.logsumexp over "
                          "the n data points, minus log n.")
    expected, hints = _aggregate_expected(j.inputs)
    if j.hidden:
        expect_close(got, j.ref, "the aggregate posterior's log-density", reveal=False,
                     hints=hints)
    else:
        expect_close(got, expected, "log q(z) = log (1/n) sum_i N(z; mu_i, sigma_i^2)",
                     reveal=True, hints=hints)


def judge_aggregate_big(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    if got.get("oom"):
        raise CheckFailed(f"ran out of memory for N = n = {BIG_N} in M = {BIG_M} dimensions: "
                          "the full [N, n, M] tensor of log-densities does not fit. Process z "
                          "in chunks of a few hundred rows and concatenate the results.")
    if "value" in got:
        expect_tensor(got["value"], "aggregate_posterior_log_density", shape=(BIG_N,))
    rows = slice(0, BIG_N, BIG_STRIDE)
    z = j.inputs["z"][rows].to(F64)
    expected = tp.aggregate_log_density(z, j.inputs["q_means"].to(F64),
                                        j.inputs["q_logvars"].to(F64)).float()
    hints = {k: v.float() for k, v in tp.aggregate_bug_values(
        z, j.inputs["q_means"].to(F64), j.inputs["q_logvars"].to(F64)).items()}
    expect_close(got.get("every"), expected, f"log q(z) at every {BIG_STRIDE}th of {BIG_N} "
                 "points", reveal=True, hints=hints)


def trusted_aggregate(inputs: dict[str, Any]) -> torch.Tensor:
    """log q(z) of the encoded points' aggregate posterior at the first encoded means, by the
    grader's own density (grader-only code)."""
    return tp.aggregate_log_density(inputs["q_means"][:HOLE_CHECK_POINTS].to(F64),
                                    inputs["q_means"].to(F64), inputs["q_logvars"].to(F64))


def judge_holes(j: Judgement) -> None:
    got = hole_fraction_value(j.got)
    if not 0.0 <= got <= 1.0:
        raise CheckFailed(f"hole_fraction returned {got:.4g}, which is not a fraction in "
                          "[0, 1].")
    inputs = {k: v.to(F64) if isinstance(v, torch.Tensor) else v for k, v in j.inputs.items()}
    prior = hole_prior(inputs)
    fractions = tp.hole_fraction_exact(lambda n: prior.sample(torch.Size([n])), prior.log_prob,
                                       inputs["q_means"], inputs["q_logvars"], inputs["ratio"],
                                       EXACT_N)
    p = fractions["right"]
    n = j.inputs["n"]

    def se(q: float) -> float:
        return math.sqrt(max(q * (1 - q), 1e-4) * (1 / n + 1 / EXACT_N))

    limit = normal_threshold()
    if abs(got - p) <= limit * se(p):
        return
    message = (f"hole_fraction = {got:.4f}, but the fraction of prior samples with q(z) < "
               f"{inputs['ratio']:g} p(z) is {p:.4f} ± {se(p):.4f} (threshold {limit:.1f} "
               f"standard errors, false-failure rate {FALSE_FAILURE_RATE:g}).")
    fail_on_wrong_aggregate(message, j, trusted_aggregate)
    hints = {
        "greater": "the comparison is reversed: a hole is where q(z) < ratio * p(z)",
        "no_ratio": "the ratio is ignored: compare log q(z) with log p(z) + log(ratio)",
        "inverse_ratio": "the ratio is inverted: the threshold is log p(z) + log(ratio)",
        "missing_log_n": "the aggregate density misses its -log n (q is a mean, not a sum)",
        "from_posterior": "the points were drawn from the aggregate posterior; draw them from "
                          "the prior",
    }
    named = [text for key, text in hints.items()
             if abs(got - fractions[key]) <= limit * se(fractions[key])]
    if len(named) == 1:
        message += f" Likely cause: {named[0]}."
    raise CheckFailed(message)


def _rebuild(result: Any, kind: str) -> tuple[nn.Module, nn.Module]:
    if not isinstance(result, dict):
        raise CheckFailed(f"the {kind} training run returned nothing.")
    if "diverged_at" in result:
        raise CheckFailed(f"training with the {kind} prior diverged: the loss became NaN/inf "
                          f"at step {result['diverged_at']}.")
    encoder, decoder = train_nets()
    try:
        encoder.load_state_dict(result["encoder"])
        decoder.load_state_dict(result["decoder"])
    except Exception as exc:  # noqa: BLE001 - wrong keys or shapes
        raise CheckFailed(f"the trained {kind} networks could not be read back "
                          f"({type(exc).__name__}).") from None
    return encoder.double().eval(), decoder.double().eval()


def _prior_log_prob(result: dict[str, Any], kind: str, encoder: nn.Module) -> Any:
    """The trained prior as (log_prob, sample), rebuilt with trusted code."""
    gen = torch.Generator().manual_seed(3)
    if kind == "standard":
        return tp.standard_normal_log_prob, lambda n: torch.randn(n, TRAIN_M, generator=gen,
                                                                  dtype=F64)
    if kind == "mog":
        parts = expect_mixture({"dist": DistributionInfo("MixtureSameFamily", (), (TRAIN_M,)),
                                **(result.get("prior") or {})}, "the trained MoGPrior()",
                               TRAIN_M, MOG_K, "cpu")
        probs = parts["probs"].to(F64)
        if abs(float(probs.sum()) - 1) > 1e-4 or bool((probs < 0).any()):
            raise CheckFailed("the trained MoG prior's weights do not sum to 1.")
        log_w, means, logvars = probs.log(), parts["means"].to(F64), 2 * parts["stds"].to(
            F64).log()
    else:
        u = seen_pseudo_inputs(result.get("pseudo_inputs"), {"K": VAMP_K}, "the pseudo-inputs")
        with torch.no_grad():
            means, logvars = tp.gaussian_head(encoder, u.reshape(VAMP_K, *IMG).to(F64))
        log_w = torch.full((VAMP_K,), -math.log(VAMP_K), dtype=F64)
    return (lambda z: tp.mixture_log_density(z, means, logvars, log_w),
            tp.mixture_sampler(log_w, means, logvars, gen))


def judge_training(j: Judgement, *, elbo_tolerance: float, elbo_floor: float,
                   fewer_holes: tuple[str, ...]) -> None:
    """Test ELBOs: standard above ``elbo_floor``, learned ones at most ``elbo_tolerance`` worse;
    priors in ``fewer_holes`` leave fewer holes than N(0, I) on their model's encoder."""
    from vaelib.data import load_split

    got = j.got if isinstance(j.got, dict) else {}
    x = load_split("test", "fixed", root=j.inputs["root"], limit=TEST_SUBSET).binary().to(F64)
    elbos, holes = {}, {}
    for kind in ("standard", "mog", "vamp"):
        result = got.get(kind)
        encoder, decoder = _rebuild(result, kind)
        log_prob, sample = _prior_log_prob(result, kind, encoder)
        gen = torch.Generator().manual_seed(11)
        elbo = tp.test_elbo(encoder, decoder, log_prob, x, generator=gen)
        if not math.isfinite(elbo) or elbo > 0:
            raise CheckFailed(f"the {kind} model's test ELBO is {elbo:.1f}: not a valid log-"
                              "likelihood bound for binary images.")
        elbos[kind] = elbo
        if kind in fewer_holes:
            with torch.no_grad():
                mean, logvar = tp.gaussian_head(encoder, x)
            learned = tp.hole_fraction_exact(sample, log_prob, mean, logvar, HOLE_RATIO,
                                             HOLE_SAMPLES)["right"]
            gen_std = torch.Generator().manual_seed(5)
            standard = tp.hole_fraction_exact(
                lambda n, g=gen_std: torch.randn(n, TRAIN_M, generator=g, dtype=F64),
                tp.standard_normal_log_prob, mean, logvar, HOLE_RATIO, HOLE_SAMPLES)["right"]
            holes[kind] = (learned, standard)
    summary = (f"test ELBO (fixed binarization, {TEST_SUBSET} images): standard "
               f"{elbos['standard']:.1f}, MoG {elbos['mog']:.1f}, Vamp {elbos['vamp']:.1f} "
               "nats")
    if elbos["standard"] < elbo_floor:
        raise CheckFailed(f"{summary}: even the standard-prior model is below {elbo_floor:g}, "
                          "so elbo_mc_kl does not train a VAE (check the signs and rsample).")
    for kind, name in (("mog", "MoG"), ("vamp", "VampPrior")):
        if elbos[kind] < elbos["standard"] - elbo_tolerance:
            raise CheckFailed(f"{summary}: the {name} model is more than {elbo_tolerance:g} "
                              "nats worse than the standard prior's with the same networks "
                              "and budget; a learned prior should be at least as good.")
        learned, standard = holes[kind] if kind in holes else (None, None)
        if learned is not None and learned >= standard:
            raise CheckFailed(f"{summary}; on the {name} model's encoder, {learned:.1%} of "
                              f"samples of the learned prior fall in holes (q(z) < "
                              f"{HOLE_RATIO:g} p(z)) against {standard:.1%} for N(0, I): the "
                              "learned prior does not follow the aggregate posterior.")


SURGERY_Q4 = ((0.7, 0.2, 0.1), (0.1, 0.8, 0.1), (0.3, 0.3, 0.4), (0.2, 0.1, 0.7))
SURGERY_P3 = (0.5, 0.3, 0.2)


def judge_surgery_reference(j: Judgement, *, atol: float) -> None:
    """The reference's two terms for another toy; a reversed aggregate KL is recognised."""
    ref = public_exam.surgery_pair(j.ref)
    q, p = j.inputs["q"].to(F64), j.inputs["p"].to(F64)
    aggregate = q.mean(0)
    reversed_kl = float((p * (p.log() - aggregate.log())).sum())
    public_exam.compare_surgery(j.got, ref, q.shape[0], "a toy of 4 images and 3 codes",
                                reversed_kl, atol)


def judge_gaussian_symbolic(j: Judgement) -> None:
    """Symbolically equal to the reference's answer for symbolic means and variances."""
    public_exam.compare_gaussian(j.got, public_exam.gaussian_pair(j.ref),
                                 "four images with symbolic means mu_i and variances v_i",
                                 ({}, {}))


def confirm_gaussian_symbolic(j: Judgement) -> None:
    """The grading process's own comparison with the reference, at random points."""
    got, ref = (expect_sequence(v, 2, public_exam.GAUSSIAN_WHAT) for v in (j.got, j.ref))
    confirm_same(got[0], ref[0], "the prior's mean", "priors.gaussian.mean")
    confirm_same(got[1], ref[1], "the prior's variance", "priors.gaussian.variance")


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "priors.mixture": (
        Check("log sum_k pi_k N(z; mu_k, diag exp(logvar_k))", probes.probe_mixture,
              judge_mixture, inputs.mixture_inputs, id="mixture", hidden=True),
        Check("stable 40 standard deviations from every component", probes.probe_mixture,
              judge_mixture_far, inputs.far_mixture_inputs, id="far", hidden=True),
        Check("matches the reference in float64", probes.probe_mixture, judge_mixture_reference,
              partial(inputs.mixture_inputs, F64, n=9, k=5, m=4), id="reference", hidden=True,
              seed=3),
    ),
    "priors.mog": (
        Check("a MixtureSameFamily whose log_prob and samples agree with its parameters",
              probes.probe_mog, judge_mog, inputs.mog_inputs, id="mog", hidden=True),
        Check("weights, means and variances are learnable (measured false-failure rate 0/400)",
              probes.probe_mog_fit,
              partial(judge_mog_fit, min_change=1e-4, min_gain=1.0), inputs.mog_inputs,
              id="fit", hidden=True),
        Check("log_prob and samples agree with its parameters in float64 (M = 5, K = 7)",
              probes.probe_mog, judge_mog, partial(inputs.mog_inputs, F64, m=5, k=7),
              id="mog_hidden", hidden=True, seed=9),
    ),
    "priors.vamp": (
        Check("a uniform mixture of the shared encoder's posteriors at the pseudo-inputs; "
              "samples from it", probes.probe_vamp,
              partial(judge_vamp, init_atol=2e-3, weight_atol=1e-5, ref_rtol=1e-5, ref_atol=1e-6),
              inputs.vamp_inputs, id="vamp", hidden=True),
        Check("matches the reference in float64", probes.probe_vamp,
              partial(judge_vamp, init_atol=2e-3, weight_atol=1e-5, ref_rtol=1e-5, ref_atol=1e-6),
              partial(inputs.vamp_inputs, F64, m=3, k=7), id="vamp_hidden", hidden=True,
              seed=13),
    ),
    "priors.elbo": (
        Check(f"E[elbo] is the exact ELBO under a mixture prior (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probes.probe_elbo, judge_elbo, inputs.elbo_inputs,
              id="elbo", hidden=True),
        Check("gradients reach the encoder (rsample) and the prior", probes.probe_elbo,
              judge_elbo_grad, inputs.elbo_inputs, id="grad", hidden=True),
        Check("exact in float64 for another posterior", probes.probe_elbo, judge_elbo,
              partial(inputs.elbo_inputs, F64, (-1.0, 0.5), (-2.5, -0.5)),
              id="elbo_hidden", hidden=True, seed=17),
    ),
    "priors.aggregate": (
        Check("log (1/n) sum_i N(z; mu_i, sigma_i^2)", probes.probe_aggregate, judge_aggregate,
              inputs.aggregate_inputs, id="aggregate", hidden=True),
        Check("stable far from every encoded point", probes.probe_aggregate, judge_aggregate,
              partial(inputs.aggregate_inputs, shift=30.0), id="aggregate_hidden",
              hidden=True),
        Check(f"N = n = {BIG_N} fits in memory (chunked)", probes.probe_aggregate_big,
              judge_aggregate_big, inputs.big_aggregate_inputs, id="big", hidden=True),
        Check("matches the reference in float64", probes.probe_aggregate, judge_aggregate,
              partial(inputs.aggregate_inputs, F64, n_z=11, n=50, m=4),
              id="aggregate_2", hidden=True, seed=19),
    ),
    "priors.holes": (
        Check(f"fraction of N(0, I) samples in holes (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probes.probe_holes, judge_holes, inputs.hole_inputs,
              id="holes", hidden=True),
        Check("fraction for a mixture prior and another ratio", probes.probe_holes, judge_holes,
              partial(inputs.hole_inputs, F64, 0.5, mixture=True), id="holes_hidden",
              hidden=True, seed=29),
    ),
    "priors.exam_surgery": (
        Check("I_q(n; z) and KL(q(z) || p(z)) of another toy (N = 4 images, 3 codes)",
              probes.surgery, partial(judge_surgery_reference, atol=1e-5),
              partial(inputs.surgery_inputs, SURGERY_Q4, SURGERY_P3), id="other_toy",
              hidden=True, confirm=partial(judge_surgery_reference, atol=1e-5)),
    ),
    "priors.exam_gaussian_prior": (
        Check("mean and variance for four images with symbolic means and variances",
              probes.probe_gaussian_prior, judge_gaussian_symbolic,
              partial(inputs.gaussian_prior_inputs, 4), id="symbolic", hidden=True,
              confirm=confirm_gaussian_symbolic),
    ),
    "priors.training": (
        Check(f"learned priors train: test ELBO within {ELBO_TOLERANCE:g} nats of the standard "
              f"prior's or better, the VampPrior with fewer holes than N(0, I) (measured "
              f"false-failure rate 0/{TRAINING_RUNS})", probes.probe_training,
              partial(judge_training, elbo_tolerance=ELBO_TOLERANCE, elbo_floor=ELBO_FLOOR,
                      fewer_holes=("vamp",)),
              mnist_root_inputs, id="training", hidden=True),
    ),
}
"""Topic 07's hidden checks, by task (see ``autograder.checks.rows``); ``tasks.py``'s
``check_order`` places them among the public ones."""
