"""Judges of topic 06's public checks: closed forms of tiny cases (a decoder that ignores z,
weights whose means or ESS are known), invariants and a first-step training check; no
reference, nothing grader-only. Tolerances are keyword parameters, set in the rows of
``tasks.py``; the shape and layout helpers (``expect_kb``, ``judge_bound_values`` and the like)
are shared with ``hidden.py``.

With W = 0 the decoder ignores z, p(x|z) = N(x; b, s^2 I), so log p(x) is that Gaussian's
log-density, and with q(z|x) = N(mu, I) every log weight is log p(x) - |mu|^2 / 2 - mu . eps
with eps ~ N(0, I): q = p(z) (mu = 0) gives log p(x) exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.distributions as td

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.topics.t06_iwae.inputs import CHUNK_ROWS, DREG_ROWS, FLAT_MONO_ROWS, GRAD_ROWS
from autograder.topics.t06_iwae.probes import (
    CHUNK_K,
    CHUNK_SIZE,
    DREG_CALLS,
    DREG_K,
    GRAD_K,
    IMG,
    LL_CHUNK,
    LL_K,
    LW_K,
    MODEL_K,
    MONO_KS,
    NOISE,
    D,
    M,
)

F64 = torch.float64


LAYOUT = ("log weights are laid out [K, B]: sample index first, example second (a [B, K] "
          "result mixes up the two)")
MIXED = ("samples grouped across examples ([B, K] vs [K, B] mix-up): log_w[k, b] must pair "
         "z_k ~ q(z|x_b) with the same x_b; when you repeat x or flatten z, use the same order "
         "for both (e.g. x.repeat(k, ...) goes with z.reshape(k * B, ...), and the result "
         "is reshaped back with .view(k, B))")


def mixing_hint(got: torch.Tensor, per_example: torch.Tensor) -> str | None:
    """MIXED when the entries of column b are (some of) other examples' exact values."""
    g = got.detach().to(F64)
    close = (g[..., None] - per_example.to(F64)).abs() <= 1e-6 * (1 + per_example.abs().to(F64))
    owners = close.any(-1)
    if bool(owners.all()) and not bool(close[..., torch.arange(g.shape[1]), torch.arange(
            g.shape[1])].all()):
        return MIXED
    return None


def expect_kb(got: Any, k: int, n: int, what: str, dtype: torch.dtype, device: str
              ) -> torch.Tensor:
    """A [K, B] tensor of the right dtype/device, naming the [B, K] mix-up."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (n, k) and k != n:
        raise CheckFailed(f"{what} has shape [B, K] = {[n, k]}: {LAYOUT}.")
    value = expect_tensor(got, what, shape=(k, n), dtype=dtype, device=device)
    expect_finite(value, what)
    return value


def encoder_grad(j: Judgement) -> torch.Tensor:
    """The per-example gradient of log_w.sum() w.r.t. q's [mean, logvar], [GRAD_ROWS, 2M]."""
    if j.got is None:
        raise CheckFailed("no gradient reached q's parameters: draw z with q.rsample() (the "
                          "reparameterisation trick), not q.sample(), and keep the graph (no "
                          ".detach() / torch.no_grad()).")
    grad = expect_tensor(j.got, "the gradient of log_w.sum() w.r.t. q's parameters",
                         shape=(GRAD_ROWS, 2 * M)).to(F64)
    expect_finite(grad, "the encoder's gradient")
    return grad


def expect_stable_bound(got: torch.Tensor) -> None:
    """Name the naive log(mean(exp)) when the bound is not finite on extreme log weights."""
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed("iwae_bound is not finite for log weights around -800 and +800: the "
                          "naive log(mean(exp(log_w))) overflows/underflows; use "
                          "torch.logsumexp(log_w, 0) - log K (or subtract the max first).")


def judge_bound_values(j: Judgement, expected: torch.Tensor, what: str,
                        extra_hints: dict[str, torch.Tensor] | None = None) -> None:
    """iwae_bound(log_w) is ``expected`` ([B], stable) and iwae_bound(log_w[:1]) is log_w[0]."""
    log_w = j.inputs["log_w"]
    k, n = log_w.shape
    got = j.got.get("full") if isinstance(j.got, dict) else j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (k,):
        raise CheckFailed(f"iwae_bound returned shape [K] = [{k}]: average over the samples, "
                          f"dim 0 ({LAYOUT}).")
    got = expect_tensor(got, "iwae_bound(log_w)", shape=(n,), dtype=log_w.dtype,
                        device=j.device)
    expect_stable_bound(got)
    expect_close(got, expected, what, reveal=True, hints={
        "the mean of the log weights is the ELBO, not the IWAE bound: take the log of the "
        "mean of the weights, logsumexp(log_w, 0) - log K": log_w.mean(0),
        "the -log K is missing: the bound is log of the MEAN of the weights, "
        "logsumexp(log_w, 0) - log K": expected + math.log(k),
        **(extra_hints or {}),
    })
    one = expect_tensor(j.got.get("one"), "iwae_bound(log_w[:1])", shape=(n,))
    expect_close(one, log_w[0], "iwae_bound for K = 1 (it equals the single log weight, the "
                 "ELBO estimate)", reveal=True)


def judge_model_values(j: Judgement, log_px: torch.Tensor, setting: str, *, rtol: float,
                       atol: float) -> None:
    """elbo(x) [B] equals log_px (every weight is p(x)); forward is -elbo.mean(); sample(3)."""
    x = j.inputs["x"]
    n = x.shape[0]
    got = j.got if isinstance(j.got, dict) else {}
    elbo = got.get("elbo")
    if isinstance(elbo, torch.Tensor) and elbo.dim() == 0:
        raise CheckFailed("IWAE.elbo(x) returned one number: return one bound per example, "
                          f"shape [B] = [{n}] (forward() takes the batch mean).")
    elbo = expect_tensor(elbo, "IWAE.elbo(x)", shape=(n,), dtype=x.dtype, device=j.device)
    log_px = log_px.to(x.dtype)
    expect_close(elbo, log_px, f"IWAE(..., k={MODEL_K}).elbo(x) {setting} (every weight equals "
                 "p(x), so the bound is log p(x))", reveal=True, rtol=rtol, atol=atol,
                 hints={"the -log K is missing": log_px + math.log(MODEL_K)})
    loss = expect_tensor(got.get("loss"), "IWAE(...)(x)", device=j.device)
    if loss.numel() != 1 or abs(float(loss) + float(log_px.mean())) > 1e-6 * (
            1 + abs(float(log_px.mean()))):
        raise CheckFailed("IWAE's forward(x) must stay the loss -elbo(x).mean() (a scalar).")
    expect_tensor(got.get("sample"), "IWAE.sample(3)", shape=(3, *IMG), device=j.device)


def loglik_value(j: Judgement) -> torch.Tensor:
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    value = expect_tensor(got.get("value"), "estimate_log_likelihood(model, x, k, chunk)",
                          shape=(x.shape[0],), dtype=x.dtype, device=j.device)
    expect_finite(value, "estimate_log_likelihood")
    n, chunk = x.shape[0], j.inputs.get("chunk", LL_CHUNK)
    if int(got.get("max_rows", 0)) > chunk * n:
        raise CheckFailed(f"the decoder was called on {got['max_rows']} samples at once, more "
                          f"than chunk x B = {chunk * n}: memory grows with k. Draw and "
                          "evaluate `chunk` samples at a time and combine them with a running "
                          "logsumexp.")
    return value


def ess_got(j: Judgement) -> torch.Tensor:
    """The ESS per example, [B], of the right dtype/device and finite (bugs named)."""
    log_w = j.inputs["log_w"]
    k, n = log_w.shape
    got = j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (k,):
        raise CheckFailed(f"effective_sample_size returned shape [K]: sum over the samples, "
                          f"dim 0 ({LAYOUT}).")
    got = expect_tensor(got, "effective_sample_size(log_w)", shape=(n,), dtype=log_w.dtype,
                        device=j.device)
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed("the ESS is not finite for log weights around -800 and +800: "
                          "exponentiating raw log weights overflows; compute it from normalised "
                          "weights (softmax over dim 0) or with logsumexp.")
    return got


def dreg_got(j: Judgement, calls: int = DREG_CALLS) -> dict[str, torch.Tensor]:
    got = j.got if isinstance(j.got, dict) else {}
    error = got.get("error")
    if error == "shape":
        raise CheckFailed(f"dreg_surrogate returned shape {got.get('shape')}: it must return "
                          "one scalar (the batch mean of the per-example surrogate).")
    if error == "grad":
        raise CheckFailed("dreg_surrogate's value carries no gradient: keep z = q.rsample() "
                          "and the decoder in the graph.")
    if error == "unused":
        which = [name for name, none in zip(("encoder", "decoder W", "decoder b"),
                                            got.get("which", []), strict=False) if none]
        raise CheckFailed(f"dreg_surrogate passes no gradient to the {', '.join(which)}: the "
                          "encoder's gradient flows through z = q.rsample(), the decoder's "
                          "through log p(x|z).")
    enc = expect_tensor(got.get("enc"), "encoder gradients", shape=(calls * DREG_ROWS, 2 * M))
    dec = expect_tensor(got.get("dec"), "decoder gradients", shape=(calls, D * M + D))
    expect_finite(enc, "the encoder's gradient")
    expect_finite(dec, "the decoder's gradient")
    return {"enc": enc.to(F64), "dec": dec.to(F64)}


def _flat_log_px(inputs: dict[str, Any]) -> torch.Tensor:
    """log p(x_b) when the decoder ignores z: sum over pixels of log N(x; b, s^2), [B]."""
    x = inputs["x"].reshape(inputs["x"].shape[0], D).to(F64)
    return td.Normal(inputs["b"].to(F64), NOISE).log_prob(x).sum(-1)


def judge_log_weights_flat(j: Judgement) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device)
    log_px = _flat_log_px(j.inputs).expand(LW_K, n)
    expect_close(got, log_px, "log w with a decoder that ignores z and q(z|x) = p(z) (then "
                 "log w = log p(x|z) + log p(z) - log q(z|x) = log p(x|z) exactly)", reveal=True,
                 hints={"log p(x|z) is missing from log w": torch.zeros_like(log_px)})


def judge_log_weights_constant(j: Judgement) -> None:
    x = j.inputs["x"]
    n = x.shape[0]
    got = expect_kb(j.got, LW_K, n, f"log_importance_weights(model, x, {LW_K})", x.dtype,
                    j.device).to(F64)
    spread = got.max(0).values - got.min(0).values
    if bool((spread > 1e-6 * (1 + got.abs().max(0).values)).any()):
        raise CheckFailed("q is the exact posterior of a PPCA model, so the K log weights of an "
                          "example must all be the same number, log p(x_b), whatever z is; "
                          f"they differ by up to {float(spread.max()):.3g}. Likely cause: "
                          f"{MIXED}; or a term of log w = log p(x|z) + log p(z) - log q(z|x) "
                          "is missing or has the wrong sign.")
    if float(got[0].max() - got[0].min()) < 1e-3:
        raise CheckFailed("the log weights are the same for every example, but the examples "
                          "have very different log p(x): log w must be evaluated at each x_b.")


def judge_log_weights_grad_flat(j: Judgement) -> None:
    grad = encoder_grad(j)
    # The decoder ignores z, so E[log w] = log p(x) - KL(q || N(0, I)); for q = N((0.5, -1),
    # diag(1, 2)): d/dmean = -mean = (-0.5, 1), d/dlogvar = (1 - var) / 2 = (0, -0.5), per sample.
    expected = GRAD_K * torch.tensor([-0.5, 1.0, 0.0, -0.5], dtype=F64)
    mean, se = grad.mean(0), grad.std(0) / math.sqrt(GRAD_ROWS)
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * M))
    z = (mean - expected).abs() / (se + 1e-9)
    if bool((z <= limit).all()):
        return
    cause = ("z must be drawn with q.rsample(), not q.sample(), which detaches z"
             if bool(((mean.abs() / (se + 1e-9)) <= limit).all()) else
             "log w = log p(x|z) + log p(z) - log q(z|x), all three at the same "
             "reparameterised z")
    raise CheckFailed(f"with a decoder that ignores z, the expected gradient of log_w.sum() "
                      f"w.r.t. q's [mean, logvar] is K x d(-KL(q || p(z))) = "
                      f"{[round(v, 3) for v in expected.tolist()]}, but the average over "
                      f"{GRAD_ROWS} examples is {[round(v, 3) for v in mean.tolist()]} (max z = "
                      f"{float(z.max()):.1f}, threshold {limit:.1f}, false-failure rate "
                      f"{FALSE_FAILURE_RATE:g}). Likely cause: {cause}.")


def judge_bound_known(j: Judgement) -> None:
    # log of the mean weight of each example: log 3 - 800, log 4 + 800, log 2.
    expected = torch.tensor([math.log(3) - 800, math.log(4) + 800, math.log(2)], dtype=F64)
    judge_bound_values(j, expected, "iwae_bound(log_w) for weights whose means are known")


def judge_model_flat(j: Judgement, *, rtol: float, atol: float) -> None:
    judge_model_values(j, _flat_log_px(j.inputs), "with a decoder that ignores z and q(z|x) = "
                       "p(z)", rtol=rtol, atol=atol)


def judge_model_grows_with_k(j: Judgement) -> None:
    """K = 1: E = log p(x) - KL = log p(x) - 1 exactly; K = 64: between log p(x) - 0.5 and
    log p(x) (its expectation is about log p(x) - 0.04, over 60 standard errors inside)."""
    got = j.got if isinstance(j.got, list) else []
    if len(got) != len(MONO_KS):
        raise CheckFailed("IWAE.elbo(x) did not return a bound for every K tried.")
    log_px = _flat_log_px(j.inputs)
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    draws = {}
    for k, values in zip(MONO_KS, got, strict=True):
        values = expect_tensor(values, f"IWAE(..., k={k}).elbo(x)", shape=(FLAT_MONO_ROWS,))
        expect_finite(values, f"IWAE(..., k={k}).elbo(x)")
        draws[k] = values.to(F64) - log_px
    # q = N((1, -1), I) and p(z) = N(0, I): log w - log p(x) = -1 - (1, -1) . eps, variance 2.
    gap1 = float(draws[1].mean())
    se1 = math.sqrt(2.0 / FLAT_MONO_ROWS)
    if abs(gap1 + 1.0) > limit * se1:
        raise CheckFailed(f"with k = 1 the IWAE bound is the ELBO, log p(x) - KL(q || p(z)) = "
                          f"log p(x) - 1 here, but the average of elbo(x) - log p(x) over "
                          f"{FLAT_MONO_ROWS} examples is {gap1:.3f} ± {se1:.3f} (threshold "
                          f"{limit:.1f} standard errors, false-failure rate "
                          f"{FALSE_FAILURE_RATE:g}).")
    top = MONO_KS[-1]
    gap = float(draws[top].mean())
    se = float(draws[top].std()) / math.sqrt(FLAT_MONO_ROWS) + 1e-9
    if gap < -0.5 - limit * se or gap > limit * se:
        hint = (" The bound does not grow with K: average the weights, not the log weights "
                "(the mean of log weights is the ELBO for every K)."
                if abs(gap + 1.0) <= limit * se else "")
        raise CheckFailed(f"with k = {top} the expected bound is about log p(x) - 0.04 (it "
                          f"rises with K from the ELBO, log p(x) - 1, towards log p(x) and "
                          f"never above), but the average of elbo(x) - log p(x) is "
                          f"{gap:.3f} ± {se:.3f}.{hint}")


def judge_loglik_against(j: Judgement, log_px_of: Callable[[dict[str, Any]], torch.Tensor],
                         setting: str, *, rtol: float, atol: float) -> None:
    """estimate_log_likelihood is log p(x) = ``log_px_of(inputs)`` when every weight is p(x)
    (``setting`` says why), memory bounded by the chunk; the chunk-count and -log k bugs named."""
    value = loglik_value(j)
    log_px = log_px_of(j.inputs).to(value.dtype)
    k = LL_K
    expect_close(value, log_px, f"estimate_log_likelihood(model, x, k={k}, chunk={LL_CHUNK}) "
                 f"{setting}", reveal=True, rtol=rtol, atol=atol, hints={
                     "the chunks are combined with the wrong count: the estimate is "
                     "logsumexp over all k log weights minus log k (the last chunk may be "
                     "smaller)": log_px + math.log(k) - math.log(math.ceil(k / LL_CHUNK)
                                                                   * LL_CHUNK),
                     "the -log k is missing": log_px + math.log(k),
                 })


def judge_loglik_flat(j: Judgement, *, rtol: float, atol: float) -> None:
    judge_loglik_against(j, _flat_log_px, "with a decoder that ignores z and q(z|x) = p(z) "
                         "(every weight is p(x))", rtol=rtol, atol=atol)


def judge_loglik_chunks(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    runs = {}
    for key, chunk in (("whole", CHUNK_K), ("chunked", CHUNK_SIZE)):
        what = f"estimate_log_likelihood(model, x, {CHUNK_K}, {chunk})"
        runs[key] = expect_tensor(got.get(key), what, shape=(CHUNK_ROWS,))
        expect_finite(runs[key], what)
    # Both runs estimate the same log p(x_b): their difference has mean 0 for every example.
    diff = (runs["chunked"] - runs["whole"]).to(F64)
    mean, se = float(diff.mean()), float(diff.std()) / math.sqrt(CHUNK_ROWS) + 1e-9
    z = abs(mean) / se
    limit = normal_threshold(FALSE_FAILURE_RATE)
    if z > limit:
        raise CheckFailed(f"the estimate depends on the chunk size: with chunk = {CHUNK_SIZE} it "
                          f"is on average {mean:.3f} ± {se:.3f} away from the estimate with one "
                          f"chunk of {CHUNK_K} (z = {z:.1f}, threshold {limit:.1f}, "
                          f"false-failure rate {FALSE_FAILURE_RATE:g}). Likely cause: the "
                          "per-chunk estimates are averaged; that is a mean of looser bounds. "
                          "Keep a running logsumexp of all log weights and subtract log k once "
                          "at the end.")


def judge_ess_known(j: Judgement) -> None:
    got = ess_got(j)
    # (sum w)^2 / sum w^2: 16/4, 1/1, 4/2, 144/50 and 9/3.
    expected = torch.tensor([4.0, 1.0, 2.0, 2.88, 3.0], dtype=F64)
    expect_close(got, expected, "effective_sample_size(log_w) for weights (1, 1, 1, 1), "
                 "(1, 0, 0, 0), (1, 1, 0, 0), (1, 2, 3, 6) and (1, 1, 1, 0)", reveal=True,
                 hints={
                     "the ESS is (sum w)^2 / sum w^2, not sum w^2 / (sum w)^2 (it lies between "
                     "1 and K)": 1 / expected,
                     "the ESS is (sum w)^2 / sum w^2, not 1 / sum w_normalised (that is not "
                     "the ESS)": torch.ones_like(expected),
                 })


def _dreg_flat_run(j: Judgement, key: str) -> dict[str, torch.Tensor]:
    got = j.got.get(key) if isinstance(j.got, dict) else None
    return dreg_got(Judgement(j.inputs, got, None, j.hidden, j.device), calls=1)


def judge_dreg_flat(j: Judgement) -> None:
    """q = p(z), decoder ignoring z: every log w is log p(x) whatever z, so with q's parameters
    under a stop-gradient the encoder's gradient is exactly 0 (the plain IWAE gradient keeps
    the score term, which is not); for q = N(mu, I) each example's encoder gradient w.r.t. the
    mean is -mu sum_k w~_k^2, between -mu / K and -mu. In both, the decoder's bias gets
    sum_k w~_k (x - b) / s^2 = (x - b) / s^2 per example, averaged over the batch."""
    x = j.inputs["x"].reshape(DREG_ROWS, D).to(F64)
    bias_grad = ((x - j.inputs["b"].to(F64)) / NOISE**2).mean(0)
    for key in ("prior", "shift"):
        run = _dreg_flat_run(j, key)
        expect_close(run["dec"][0, -D:], bias_grad, "the decoder bias's gradient of "
                     "dreg_surrogate with a decoder that ignores z: sum_k w~_k (x - b) / s^2, "
                     "averaged over the batch", reveal=True, hints={
                         "the decoder got the SQUARED normalised weights; w~_k^2 is for the "
                         "encoder's path only": bias_grad / DREG_K,
                         "the surrogate sums over the batch; take the mean":
                             bias_grad * DREG_ROWS})
    enc = _dreg_flat_run(j, "prior")["enc"]
    if float(enc.abs().max()) > 1e-6:
        raise CheckFailed("with q = p(z) and a decoder that ignores z every log weight is log "
                          "p(x), so the DReG encoder gradient is exactly 0, but it is not (max "
                          f"{float(enc.abs().max()):.3g}): the score term is still there. Put "
                          "q's parameters under a stop-gradient in log q(z|x) (detach its mean "
                          "and std); only the path through z = q.rsample() remains.")
    mu = torch.tensor([1.0, -1.0], dtype=F64)
    g = _dreg_flat_run(j, "shift")["enc"][:, :M]
    factor = -(g @ mu) / float(mu @ mu)
    off_line = float((g + factor[:, None] * mu).abs().max())
    if off_line > 1e-5 or bool((factor < 1 / DREG_K - 1e-6).any()) or bool(
            (factor > 1 + 1e-6).any()):
        raise CheckFailed(f"for q = N(mu, I) and a decoder that ignores z, each example's DReG "
                          f"gradient w.r.t. q's mean must be -mu * sum_k w~_k^2, a factor "
                          f"between 1/K and 1 of -mu; got factors from {float(factor.min()):.3g} "
                          f"to {float(factor.max()):.3g}. Check the normalised weights "
                          "w~ = softmax(log_w, 0) (detached) and the batch mean.")
    if bool((factor > 1 - 1e-6).all()):
        raise CheckFailed("every example's DReG gradient w.r.t. q's mean is exactly -mu, i.e. "
                          "the path term is weighted by w~_k (which sum to 1), not by the "
                          "SQUARED normalised weights w~_k^2.")


def judge_training_smoke(j: Judgement, *, min_cosine: float) -> None:
    """Descending the loss moves the decoder's bias (the mean image when z = 0) towards the
    data: the cosine between minus its gradient and (data mean - bias) is at least
    ``min_cosine``. Measured on correct answers: 0.997 to 1.000 over 200 seeds
    (bench/false_failure_rates.py; docs/grading/training-checks.md); a negated bound gives
    about -1."""
    got = j.got if isinstance(j.got, dict) else {}
    if "error" in got:
        raise CheckFailed(f"IWAE's forward(x) must return the scalar loss -elbo(x).mean() with "
                          f"its graph, finite on a tiny batch; {got['error']}.")
    missing = [name for name, ok in (got.get("reached") or {}).items() if not ok]
    if missing or not got.get("reached"):
        raise CheckFailed(f"the loss passes no gradient to the {', '.join(missing) or 'model'}: "
                          "z = q.rsample() and the decoder must stay in the graph.")
    toward = (j.inputs["x"].reshape(j.inputs["x"].shape[0], D).mean(0) - j.inputs["b"]).to(F64)
    grad = expect_tensor(got.get("b_grad"), "the gradient on the decoder's bias",
                         shape=(D,)).to(F64)
    cosine = float(-(grad @ toward) / (grad.norm() * toward.norm()).clamp_min(1e-300))
    if cosine < min_cosine:
        raise CheckFailed(f"descending forward(x) does not move the decoder's bias towards the "
                          f"data (cosine between minus its gradient and data mean - bias "
                          f"{cosine:.2f}, needed >= {min_cosine}; correct answers give "
                          "0.97 or more): forward(x) must be -elbo(x).mean(), the NEGATIVE "
                          "bound, so that minimising it maximises the bound.")


