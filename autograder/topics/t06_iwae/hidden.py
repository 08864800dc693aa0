"""Topic 06's hidden checks: PPCA's exact posterior as q (every log weight is log p(x)), Monte
Carlo expectations of the bound and of gradient estimators, and the trained model's test bound,
from the grader-only maths of ``autograder.trusted.iwae``. Never shipped to students and
unreadable from the sandbox; attached to the rows of ``tasks.py`` by
``autograder.checks.rows``. Statistical checks state their false-failure rate
(``FALSE_FAILURE_RATE``).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext
from autograder.checks.compare import expect_close, expect_finite, expect_tensor, is_close
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.modules import FixedPrior
from autograder.topics.t06_iwae import inputs, probes
from autograder.topics.t06_iwae.inputs import DREG_ROWS, GRAD_ROWS, q_params
from autograder.topics.t06_iwae.probes import (
    DREG_CALLS,
    DREG_K,
    GRAD_K,
    IMG,
    LL_CHUNK,
    LL_K,
    LW_K,
    MONO_KS,
    NOISE,
    TRAIN_BATCH,
    TRAIN_K,
    TRAIN_M,
    TRAIN_STEPS,
    M,
    MLPDecoder,
    MLPEncoder,
    Model,
    linear_model,
    row_model,
    training_nets,
)
from autograder.topics.t06_iwae.public import (
    MIXED,
    dreg_got,
    encoder_grad,
    ess_got,
    expect_kb,
    expect_stable_bound,
    judge_bound_values,
    judge_loglik_against,
    judge_model_values,
    loglik_value,
    mixing_hint,
)
from autograder.trusted import iwae_exam
from autograder.trusted.iwae import (
    bound,
    ess,
    evaluate_bound,
    gradient_draws,
    mc_bound_draws,
    ppca_elbo,
    ppca_elbo_gradient,
    ppca_log_marginal,
    ppca_orthogonal_posterior,
)
from autograder.trusted.vae_mnist import evaluation_images

F64 = torch.float64
LW_MEAN_ROWS = 4000
K1_ROWS = 4000
MONO_ROWS = 1500
MONO_REF_ROWS = 15_000
DREG_REF_ROWS = 10_000
VAR_RATIO = 0.6
TEST_SUBSET = 1_000
BOUND_THRESHOLD = -160.0
TRAINING_RUNS = 100  # correct runs measured (docs/grading/training-checks.md): none failed
BIAS_K, BIAS_CHUNK, BIAS_ROWS, BIAS_REF_ROWS = 1000, 50, 200, 1500


def ppca_inputs(dtype: torch.dtype = F64, n: int = 6, exact: bool = True, same_x: bool = False,
                scales: tuple[float, float] = (2.0, 1.2)) -> dict[str, Any]:
    """``inputs.ppca_draws`` and the linear map of the exact (``exact``) or a poorer
    posterior."""
    W, b, x = inputs.ppca_draws(n, same_x, scales)
    A, logvar = ppca_orthogonal_posterior(W, NOISE)
    if not exact:
        A, logvar = 0.6 * A, logvar + 1.0
    c = -A @ b + (0.0 if exact else 0.4)
    return {k: v.to(dtype).contiguous() for k, v in
            {"W": W, "b": b, "x": x.reshape(n, *IMG), "A": A, "c": c, "logvar": logvar}.items()}


def exact_log_px(inputs: dict[str, Any]) -> torch.Tensor:
    return ppca_log_marginal(inputs["x"], inputs["W"], inputs["b"], NOISE)


def exact_elbo(inputs: dict[str, Any]) -> torch.Tensor:
    mean, logvar = q_params(inputs)
    return ppca_elbo(inputs["x"], inputs["W"], inputs["b"], NOISE, mean, logvar)


def two_sample_z(got: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, float]:
    """(mean of got, mean of ref, |difference| in combined standard errors) of iid draws."""
    g, r = got.detach().to(F64).reshape(-1), ref.detach().to(F64).reshape(-1)
    se = math.sqrt(float(g.var()) / g.numel() + float(r.var()) / r.numel())
    diff = abs(float(g.mean() - r.mean()))
    return float(g.mean()), float(r.mean()), diff / (se + 1e-9 * (1 + abs(float(r.mean()))))


def judge_log_weights_exact(j: Judgement, *, rtol: float, atol: float) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device)
    log_px = exact_log_px(j.inputs).to(x.dtype)
    expected = log_px.expand(LW_K, n)
    if is_close(got, expected, rtol=rtol, atol=atol):
        return
    hint = mixing_hint(got, log_px)
    if hint is None and bool((got.std(0) > 1e-6 * (1 + got.abs().mean(0))).any()):
        hint = (f"{MIXED}; or a term of log w = log p(x|z) + log p(z) - log q(z|x) is missing "
                "(with the exact posterior as q every weight is the same number, log p(x))")
    raise CheckFailed("q is the exact posterior of a PPCA model, so every log weight must equal "
                      "log p(x_b) whatever z is (zero-variance weights); it does not (max error "
                      f"{float((got - expected).abs().max()):.3g})."
                      + (f" Likely cause: {hint}." if hint else ""))


def grad_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    inputs = ppca_inputs(dtype, GRAD_ROWS, exact=False, same_x=True)
    mean, logvar = q_params(inputs)
    inputs["theta"] = torch.cat([mean[0], logvar]).expand(GRAD_ROWS, 2 * M).to(dtype).clone()
    return inputs


def judge_log_weights_grad(j: Judgement) -> None:
    grad = encoder_grad(j)
    theta = j.inputs["theta"][0]
    expected = GRAD_K * ppca_elbo_gradient(j.inputs["x"][:1], j.inputs["W"], j.inputs["b"],
                                           NOISE, theta[:M], theta[M:])
    mean, se = grad.mean(0), grad.std(0) / math.sqrt(GRAD_ROWS)
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * M))
    z = (mean - expected).abs() / (se + 1e-9)
    if bool((z <= limit).all()):
        return
    if bool(((mean.abs() / (se + 1e-9)) <= limit).all()):
        raise CheckFailed("the log weights pass no pathwise gradient to q's parameters (their "
                          "expected gradient is 0): z must be drawn with q.rsample(), not "
                          "q.sample(), which detaches z.")
    raise CheckFailed(f"the average gradient of log_w.sum() w.r.t. q's [mean, logvar] is "
                      f"{[round(v, 3) for v in mean.tolist()]}, expected K x d ELBO = "
                      f"{[round(v, 3) for v in expected.tolist()]} (max z = "
                      f"{float(z.max()):.1f}, threshold {limit:.1f} at false-failure rate "
                      f"{FALSE_FAILURE_RATE:g}).")


def lw_mean_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(torch.float32, LW_MEAN_ROWS, exact=False, same_x=True)
    inputs["k"] = 3
    return inputs


def judge_log_weights_mean(j: Judgement) -> None:
    x, k = j.inputs["x"], j.inputs["k"]
    got = expect_kb(j.got, k, x.shape[0], f"log_importance_weights(model, x, {k})", x.dtype,
                    j.device)
    expected = float(exact_elbo(j.inputs)[0])
    v = got.to(F64).reshape(-1)
    se = float(v.std()) / math.sqrt(v.numel())
    z = abs(float(v.mean()) - expected) / (se + 1e-5 * abs(expected))
    if z > normal_threshold():
        raise CheckFailed(f"the average log weight is {float(v.mean()):.3f} ± {se:.3f}; in "
                          f"expectation it is the ELBO (z = {z:.1f}, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}): log w = log p(x|z) + log p(z) - log q(z|x) "
                          "with z ~ q(z|x).")


def judge_bound(j: Judgement) -> None:
    log_w = j.inputs["log_w"]
    k = log_w.shape[0]
    judge_bound_values(j, bound(log_w), "iwae_bound(log_w)", {
        "the max is taken per sample instead of per example (logsumexp over dim 0)":
            torch.logsumexp(log_w - log_w.max(), 0) + log_w.max() - math.log(k)})


def judge_bound_reference(j: Judgement) -> None:
    n = j.inputs["log_w"].shape[1]
    got = j.got.get("full") if isinstance(j.got, dict) else j.got
    got = expect_tensor(got, "iwae_bound(log_w)", shape=(n,), dtype=j.inputs["log_w"].dtype)
    expect_stable_bound(got)
    expect_close(got, j.ref["full"], "iwae_bound(log_w) in float32", reveal=False)


def judge_model_exact(j: Judgement, *, rtol: float, atol: float) -> None:
    judge_model_values(j, exact_log_px(j.inputs), "with the exact posterior as q", rtol=rtol,
                       atol=atol)


def k1_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, K1_ROWS, exact=False, same_x=True)
    inputs["k"] = 1
    return inputs


def judge_model_k1(j: Judgement) -> None:
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    elbo = expect_tensor(got.get("elbo"), "IWAE(..., k=1).elbo(x)", shape=(x.shape[0],),
                         dtype=x.dtype, device=j.device)
    expect_finite(elbo, "IWAE.elbo(x)")
    expected = float(exact_elbo(j.inputs)[0])
    se = float(elbo.std()) / math.sqrt(elbo.numel())
    z = abs(float(elbo.mean()) - expected) / (se + 1e-9)
    if z > normal_threshold():
        raise CheckFailed(f"with k = 1 the IWAE bound is the ELBO, but the average of "
                          f"{elbo.numel()} draws of elbo(x) is {float(elbo.mean()):.3f} ± "
                          f"{se:.3f} against the exact ELBO {expected:.3f} (z = {z:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}).")


def mono_inputs() -> dict[str, Any]:
    return ppca_inputs(F64, MONO_ROWS, exact=False, same_x=True)


def judge_model_mono(j: Judgement) -> None:
    got = j.got if isinstance(j.got, list) else []
    if len(got) != len(MONO_KS):
        raise CheckFailed("IWAE.elbo(x) did not return a bound for every K tried.")
    ref_inputs = dict(j.inputs, x=j.inputs["x"][:1].expand(MONO_REF_ROWS, *IMG))
    model = linear_model(ref_inputs, ProbeContext(torch.device("cpu")))
    limit = normal_threshold(FALSE_FAILURE_RATE / len(MONO_KS))
    means = []
    for k, values in zip(MONO_KS, got, strict=True):
        values = expect_tensor(values, f"IWAE(..., k={k}).elbo(x)", shape=(MONO_ROWS,))
        expect_finite(values, f"IWAE(..., k={k}).elbo(x)")
        gen_state = torch.get_rng_state()
        torch.manual_seed(1000 + k)
        ref = mc_bound_draws(model, ref_inputs["x"], k)
        torch.set_rng_state(gen_state)
        mean, ref_mean, z = two_sample_z(values, ref)
        means.append(mean)
        if z > limit:
            hint = ""
            if k > 1 and abs(mean - means[0]) < 0.1 * abs(ref_mean - means[0]):
                hint = (" The bound does not grow with K: average the weights, not the log "
                        "weights (the mean of log weights is the ELBO for every K).")
            raise CheckFailed(f"E[bound] for K = {k}: {mean:.3f} from your IWAE, "
                              f"{ref_mean:.3f} expected (z = {z:.1f}, threshold {limit:.1f}, "
                              f"false-failure rate {FALSE_FAILURE_RATE:g}); the expected "
                              f"bound must increase with K towards log p(x).{hint}")


def judge_loglik_exact(j: Judgement, *, rtol: float, atol: float) -> None:
    judge_loglik_against(j, exact_log_px, "with the exact posterior as q (every weight is p(x))",
                         rtol=rtol, atol=atol)


def bias_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, BIAS_ROWS, exact=False, same_x=True, scales=(3.0, 2.0))
    inputs.update(k=BIAS_K, chunk=BIAS_CHUNK)
    return inputs


def judge_loglik_combined(j: Judgement) -> None:
    value = loglik_value(j)
    ref_inputs = dict(j.inputs, x=j.inputs["x"][:1].expand(BIAS_REF_ROWS, *IMG))
    model = linear_model(ref_inputs, ProbeContext(torch.device("cpu")))
    torch.manual_seed(7)
    ref = mc_bound_draws(model, ref_inputs["x"], BIAS_K)
    mean, ref_mean, z = two_sample_z(value, ref)
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    if z <= limit:
        return
    bug = mc_bound_draws(model, ref_inputs["x"], BIAS_K, BIAS_CHUNK)
    hint = ""
    if two_sample_z(value, bug)[2] <= limit:
        hint = (" Likely cause: the per-chunk estimates are averaged; that is the mean of "
                f"{BIAS_K // BIAS_CHUNK} bounds with K = {BIAS_CHUNK}, which is looser. Keep a "
                "running logsumexp of all log weights and subtract log k once at the end.")
    raise CheckFailed(f"the average estimate of log p(x) (k = {BIAS_K}, chunk = {BIAS_CHUNK}) "
                      f"is {mean:.3f}, expected {ref_mean:.3f} (z = {z:.1f}, threshold "
                      f"{limit:.1f}, false-failure rate {FALSE_FAILURE_RATE:g}).{hint}")


def judge_ess(j: Judgement) -> None:
    log_w = j.inputs["log_w"]
    got = ess_got(j)
    expect_close(got, ess(log_w), "effective_sample_size(log_w)", reveal=True, hints={
        "the ESS is (sum w)^2 / sum w^2, not sum w^2 / (sum w)^2 (it lies between 1 and K)":
            1 / ess(log_w),
        "the ESS is (sum w)^2 / sum w^2, not 1 / sum w_normalised (that is not the ESS)":
            1 / torch.softmax(log_w, 0).sum(0),
    })


def judge_ess_reference(j: Judgement) -> None:
    n = j.inputs["log_w"].shape[1]
    got = expect_tensor(j.got, "effective_sample_size(log_w)", shape=(n,),
                        dtype=j.inputs["log_w"].dtype)
    expect_close(got, j.ref, "effective_sample_size(log_w) in float32", reveal=False)


def dreg_inputs() -> dict[str, Any]:
    inputs = ppca_inputs(F64, DREG_ROWS, exact=False, same_x=True)
    mean, logvar = q_params(inputs)
    inputs["theta"] = torch.cat([mean[0], logvar]).expand(DREG_ROWS, 2 * M).clone()
    return inputs


_TRUSTED_RUNS: dict[tuple[str, bytes], dict[str, torch.Tensor]] = {}
def _trusted_runs(inputs: dict[str, Any], estimator: str) -> dict[str, torch.Tensor]:
    """The trusted estimator's per-row encoder gradients (``DREG_REF_ROWS`` iid rows) and its
    decoder gradient averaged over those rows; cached per inputs, as three judges need it."""
    key = (estimator, inputs["theta"].numpy().tobytes() + inputs["W"].numpy().tobytes())
    if key not in _TRUSTED_RUNS:
        state = torch.get_rng_state()
        torch.manual_seed(99)
        big = dict(inputs, x=inputs["x"][:1].expand(DREG_REF_ROWS, *IMG),
                   theta=inputs["theta"][:1].expand(DREG_REF_ROWS, 2 * M).clone())
        model, encoder = row_model(big, ProbeContext(torch.device("cpu")), learn=True)
        params = (encoder.theta, model.decoder.W, model.decoder.b)
        g = gradient_draws(model, big["x"], DREG_K, estimator, params)
        torch.set_rng_state(state)
        _TRUSTED_RUNS[key] = {"enc": g[0].detach() * DREG_REF_ROWS,
                              "dec": torch.cat([g[1].reshape(-1), g[2].reshape(-1)]).detach()}
    return _TRUSTED_RUNS[key]


def _bonferroni_z(diff: torch.Tensor, se: torch.Tensor) -> tuple[float, float]:
    """(max per-coordinate |z|, threshold with a Bonferroni correction over coordinates)."""
    z = diff.abs() / (se + 1e-12)
    return float(z.max()), normal_threshold(FALSE_FAILURE_RATE / diff.numel())


def judge_dreg_decoder(j: Judgement) -> None:
    got = dreg_got(j)
    ref = _trusted_runs(j.inputs, "iwae")["dec"]
    dec = got["dec"]
    # Under a correct answer the student's per-call decoder gradient IS the IWAE one, so its
    # per-example variance (estimated from the calls) also gives the reference mean's error.
    per_example_var = dec.var(0) * DREG_ROWS
    se = (per_example_var / (DREG_CALLS * DREG_ROWS) + per_example_var / DREG_REF_ROWS).sqrt()
    z, limit = _bonferroni_z(dec.mean(0) - ref, se)
    if z > limit:
        raise CheckFailed(f"the decoder's gradient from dreg_surrogate does not have the IWAE "
                          f"gradient's expectation (max z = {z:.1f}, threshold {limit:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}): the decoder must get "
                          "sum_k w~_k d log w_k / d theta with the normalised weights w~ = "
                          "softmax(log_w, 0) (not squared; the squared weights are for the "
                          "encoder's path only), averaged over the batch.")


def judge_dreg_encoder_mean(j: Judgement) -> None:
    got = dreg_got(j)["enc"]
    ref = _trusted_runs(j.inputs, "iwae")["enc"]
    se = (got.var(0) / got.shape[0] + ref.var(0) / ref.shape[0]).sqrt()
    z, limit = _bonferroni_z(got.mean(0) - ref.mean(0), se)
    if z > limit:
        raise CheckFailed(f"the encoder's gradient from dreg_surrogate is biased: its average "
                          f"differs from the IWAE gradient's expectation (max z = {z:.1f}, "
                          f"threshold {limit:.1f}, false-failure rate {FALSE_FAILURE_RATE:g}). "
                          "DReG weights the pathwise term by the SQUARED normalised weights "
                          "w~_k^2 (detached), with q's parameters under a stop-gradient in "
                          "log q(z|x); using w~_k instead (or keeping the score term) misses "
                          "the squared normalised weights. Also check the batch mean.")


def judge_dreg_variance(j: Judgement) -> None:
    got = dreg_got(j)
    ref = _trusted_runs(j.inputs, "iwae")
    d_got = ((got["enc"] - got["enc"].mean(0)) ** 2).sum(1)
    d_ref = ((ref["enc"] - ref["enc"].mean(0)) ** 2).sum(1)
    diff = float(d_got.mean() - VAR_RATIO * d_ref.mean())
    se = math.sqrt(float(d_got.var()) / d_got.numel()
                   + VAR_RATIO**2 * float(d_ref.var()) / d_ref.numel())
    limit = normal_threshold(2 * FALSE_FAILURE_RATE)  # one-sided at FALSE_FAILURE_RATE
    if diff / se > limit:
        raise CheckFailed(f"the encoder's gradient from dreg_surrogate has total variance "
                          f"{float(d_got.mean()):.4g}, not below {VAR_RATIO:g} x that of the "
                          f"plain IWAE gradient ({float(d_ref.mean()):.4g}); one-sided z = "
                          f"{diff / se:.1f}, threshold {limit:.1f}, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}. The encoder gets the plain IWAE gradient: "
                          "put q's parameters under a stop-gradient in log q(z|x) (detach its "
                          "mean and std) and weight the pathwise term by w~_k^2.")


def trained_model(weights: dict[str, Any]) -> Model:
    """The grader's own model rebuilt from the returned weights (refuses anything else)."""
    enc, dec = training_nets()
    for net, key in ((enc, "encoder"), (dec, "decoder")):
        state = weights.get(key)
        if not isinstance(state, dict):
            raise CheckFailed("the training run returned no trained weights.")
        try:
            net.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32)
                                 for k, v in state.items()})
        except (RuntimeError, TypeError, ValueError) as exc:
            raise CheckFailed(f"the returned weights do not fit the fixed networks: {exc}"
                              ) from None
    return Model(FixedPrior(TRAIN_M), MLPDecoder(dec), MLPEncoder(enc))


def judge_training(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    if "diverged_at" in got:
        where = (f"at step {got['diverged_at']}" if got["diverged_at"] >= 0
                 else f"({got.get('error', 'NaN parameters')})")
        raise CheckFailed(f"training diverged: the loss or the networks became NaN/inf {where}. "
                          "Usual causes: samples grouped across examples ([B, K] vs [K, B] "
                          "mix-up: z drawn for one image scored against another), or a bound "
                          "not computed stably with logsumexp.")
    model = trained_model(got)
    torch.manual_seed(0)
    value = evaluate_bound(model, evaluation_images(TEST_SUBSET), TRAIN_K)
    if not math.isfinite(value) or value > 0:
        raise CheckFailed(f"the trained model's test bound is {value}, impossible for binary "
                          "images (it must be finite and <= 0).")
    if value < BOUND_THRESHOLD:
        raise CheckFailed(
            f"after {TRAIN_STEPS} Adam steps (batch {TRAIN_BATCH}, M = {TRAIN_M}, K = {TRAIN_K}, "
            f"fixed networks) the K = {TRAIN_K} test bound is {value:.1f} nats; a correct IWAE "
            f"reaches above {BOUND_THRESHOLD:.0f}. Usual causes: samples grouped across "
            "examples ([B, K] vs [K, B] mix-up, so the decoder learns from the wrong image), "
            ".sample() instead of .rsample(), or +bound as the loss instead of -bound.")


RATE = f"false-failure rate {FALSE_FAILURE_RATE:g}"
GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "iwae.log_weights": (
        Check("[K, B] log weights equal log p(x) under PPCA's exact posterior",
              probes.probe_log_weights, partial(judge_log_weights_exact, rtol=1e-6, atol=1e-6),
              ppca_inputs, id="exact", hidden=True),
        Check(f"gradients reach q through a reparameterised z ({RATE})",
              probes.probe_log_weights_grad, judge_log_weights_grad, grad_inputs, id="grad",
              hidden=True),
        Check(f"E[log w] is the ELBO in float32 ({RATE})", probes.probe_log_weights,
              judge_log_weights_mean, lw_mean_inputs, id="mean", hidden=True, seed=3),
    ),
    "iwae.bound": (
        Check("stable logsumexp - log K, for log weights near -800 and +800", probes.probe_bound,
              judge_bound, inputs.bound_inputs, id="bound", hidden=True),
        Check("matches the reference in float32", probes.probe_bound, judge_bound_reference,
              partial(inputs.bound_inputs, torch.float32), id="reference", hidden=True, seed=5),
    ),
    "iwae.exam_first_k": tuple(
        Check(name, probes.probe_first_k, iwae_exam.judge_first_k_hidden,
              partial(iwae_exam.first_k_hidden_inputs, kind), id=kind, hidden=True)
        for kind, name in (("other", "another model and threshold"),
                           ("unreachable", "a threshold above log p(x): None"))),
    "iwae.exam_gap": tuple(
        Check(name, partial(probes.probe_gap, kind=kind), partial(iwae_exam.judge_gap,
              kind=kind), id=kind, hidden=True, confirm=partial(iwae_exam.confirm_gap, kind=kind))
        for kind, name in (("symbols", "symbolic in mu, tau2, n"),
                           ("numbers", "m = -90, s2 = 9/4, K = 50"))),
    "iwae.model": (
        Check("elbo(x) is log p(x) under the exact posterior; forward and sample unchanged",
              probes.probe_model_exact, partial(judge_model_exact, rtol=1e-6, atol=1e-6),
              ppca_inputs, id="exact", hidden=True),
        Check(f"k = 1 is the ELBO in expectation ({RATE})", probes.probe_model_exact,
              judge_model_k1, k1_inputs, id="k1", hidden=True),
        Check(f"E[bound] increases with K = {', '.join(map(str, MONO_KS))} ({RATE})",
              probes.probe_model_mono, judge_model_mono, mono_inputs, id="mono", hidden=True,
              seed=9),
    ),
    "iwae.loglik": (
        Check(f"k = {LL_K} in chunks of {LL_CHUNK}: exact under the exact posterior, memory "
              "bounded by the chunk", probes.probe_loglik,
              partial(judge_loglik_exact, rtol=1e-6, atol=1e-6), partial(ppca_inputs, F64, 4),
              id="exact", hidden=True),
        Check(f"chunks combined exactly, not averaged ({RATE})", probes.probe_loglik,
              judge_loglik_combined, bias_inputs, id="combined", hidden=True),
    ),
    "iwae.ess": (
        Check("(sum w)^2 / sum w^2, stable, between 1 and K", probes.probe_ess, judge_ess,
              inputs.ess_inputs, id="ess", hidden=True),
        Check("matches the reference in float32", probes.probe_ess, judge_ess_reference,
              partial(inputs.ess_inputs, torch.float32), id="reference", hidden=True, seed=13),
    ),
    "iwae.dreg": (
        Check(f"decoder gradient has the IWAE gradient's expectation ({RATE})",
              probes.probe_dreg, judge_dreg_decoder, dreg_inputs, id="decoder", hidden=True),
        Check(f"encoder gradient is unbiased ({RATE})", probes.probe_dreg,
              judge_dreg_encoder_mean, dreg_inputs, id="encoder_mean", hidden=True),
        Check(f"encoder gradient variance below {VAR_RATIO:g} x IWAE's ({RATE})",
              probes.probe_dreg, judge_dreg_variance, dreg_inputs, id="variance", hidden=True),
    ),
    "iwae.training": (
        Check(f"K = {TRAIN_K} trains on MNIST: test bound > {BOUND_THRESHOLD:g} after "
              f"{TRAIN_STEPS} steps (measured false-failure rate 0/{TRAINING_RUNS}, margin over "
              "19 nats)", probes.probe_training, judge_training,
              inputs.training_inputs, id="training", hidden=True),
    ),
}
"""Topic 06's hidden checks, by task (see ``autograder.checks.rows``)."""
