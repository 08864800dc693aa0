"""Judges of topic 03's public checks: the mock exam and a 1-D model (z ~ N(0, 1),
x | z ~ N(z, 1)) worked by hand; no reference, nothing grader-only. Tolerances are keyword
parameters, set in the rows of ``tasks.py``."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import (
    diagnose,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold

F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)


STABILITY = ("overflow/underflow: exp(-1000) is 0 and exp(1000) is inf in floating point. Use "
             "the log-sum-exp trick: subtract the maximum m, log mean exp(a) = m + log mean "
             "exp(a - m) (or torch.logsumexp(a, dim) - log n)")


LME_HINT_SUM = ("this is log-SUM-exp: the mean divides by the number n of terms, so subtract "
                "log n")


LME_HINT_MEAN = ("this is the mean of a, not the log of the mean of exp(a) (by Jensen's "
                 "inequality the mean of a is only a lower bound)")


def judge_lme(got: Any, a: torch.Tensor, dim: int, device: str, reveal: bool,
               expected: torch.Tensor, what: str = "log_mean_exp(a, dim)",
               rtol: float | None = None, atol: float | None = None) -> None:
    """``got`` against ``expected``, the value the check knows for log mean exp(a) over ``dim``."""
    shape = list(a.shape)
    del shape[dim]
    value = expect_tensor(got, what, shape=shape, dtype=a.dtype, device=device)
    if not torch.isfinite(value).all() and torch.isfinite(expected).all():
        raise CheckFailed(f"{what} contains non-finite values for inputs of size about 1000: "
                          f"{STABILITY}.")
    with torch.no_grad():
        a64 = a.to(F64)
        hints = {LME_HINT_SUM: torch.logsumexp(a64, dim), LME_HINT_MEAN: a64.mean(dim)}
    expect_close(value, expected.to(a.dtype), what, reveal=reveal, rtol=rtol, atol=atol,
                 hints=hints)


def judge_lme_extreme(j: Judgement, *, rtol: float, atol: float) -> None:
    a = j.inputs["a"]
    # Rows 0 and 1 are -1000 and 1000 plus the offsets (0, -1, -2, 0.5); in row 2 only the
    # entry 1000 counts (exp(-1000) is far below float64's precision): 1000 - log 4.
    offsets = math.log((1.0 + math.exp(-1.0) + math.exp(-2.0) + math.exp(0.5)) / 4.0)
    expected = torch.tensor([-1000.0 + offsets, 1000.0 + offsets, 1000.0 - math.log(4.0)],
                            dtype=F64)
    judge_lme(j.got, a, 1, j.device, reveal=True, expected=expected,
               what="log_mean_exp(a, dim=1) for entries around ±1000 (float32)", rtol=rtol,
               atol=atol)


def judge_lme_dims(j: Judgement) -> None:
    a = j.inputs["a"]
    results = expect_sequence(j.got, 3, "log_mean_exp over dims 0, 1, -1")
    for dim, value in zip((0, 1, -1), results, strict=True):
        # entries of size ~10: the definition itself is exact in float64 here
        expected = a.to(F64).exp().mean(dim).log()
        judge_lme(value, a, dim, j.device, reveal=True, expected=expected,
                   what=f"log_mean_exp(a, dim={dim}) for a of shape {list(a.shape)} with a -inf "
                        "entry")


RSAMPLE = ("use q.rsample() (the reparameterisation trick z = mu + L eps), not q.sample(), "
           "which returns samples detached from q's parameters")


def mc_gradient(j: Judgement) -> torch.Tensor:
    """The gradient [N, M] w.r.t. q's mean that probe_mc_grad reported: present and finite."""
    n, m = j.inputs["x"].shape[0], j.inputs["W"].shape[1]
    out, grad = expect_sequence(j.got, 2, "the probe")
    expect_tensor(out, "elbo_mc(...)", shape=(n,), device=j.device)
    if grad is None:
        raise CheckFailed(f"no gradient reaches q's mean through the ELBO estimate: {RSAMPLE}.")
    grad = expect_tensor(grad, "the gradient w.r.t. q's mean", shape=(n, m))
    expect_finite(grad, "the gradient w.r.t. q's mean")
    return grad


def judge_mc_tiny_posterior(j: Judgement) -> None:
    """q = p(z|x): log p(x, z) - log q(z) = log p(x) for every z, so the estimate is log p(x)."""
    x, s = j.inputs["x"][:, 0], j.inputs["n_samples"]
    out, seen = expect_sequence(j.got, 2, "the probe")
    if not seen:
        raise CheckFailed("log_joint was never called: the ELBO must evaluate the model's "
                          "log p(x, z) at samples z ~ q.")
    value = expect_tensor(out, f"elbo_mc(x, log_joint, q, {s})", shape=(x.shape[0],),
                          dtype=F64, device=j.device).to(F64)
    expect_finite(value, "the ELBO estimate")
    log_px = -0.5 * math.log(4 * math.pi) - x**2 / 4
    entropy = 0.5 * math.log(math.pi * math.e)  # H[N(m, 1/2)]
    # One draw of a correct estimator has variance 0 (log q at the same z), 1/2 (exact
    # entropy) or 1 (log q at an independent z): Var[log q(z)] = M/2 for a Gaussian q.
    limit = normal_threshold(FALSE_FAILURE_RATE / x.shape[0]) * math.sqrt(1.0 / s)
    if ((value - log_px).abs() <= limit + 1e-9).all():
        return
    bugs = {
        "the -log q(z) term is missing (the ELBO is E_q[log p(x, z) - log q(z)]: without it "
        "the entropy of q is lost)": log_px - entropy,
        "log q(z) was added instead of subtracted (sign of the entropy term)":
            log_px - 2 * entropy,
        "the log-weights were summed over the samples instead of averaged (the ELBO is a mean "
        "over the n_samples draws)": s * log_px,
    }
    cause = next((f"Likely cause: {concept}. " for concept, wrong in bugs.items()
                  if ((value - wrong).abs() <= 10 * limit + 1e-6 * wrong.abs()).all()), "")
    worst = int((value - log_px).abs().argmax())
    raise CheckFailed(f"{cause}With q = the exact posterior p(z|x) of the 1-D model z ~ N(0, 1), "
                      "x | z ~ N(z, 1), every sample gives log p(x, z) - log q(z) = log p(x), so "
                      f"the ELBO must equal log p(x) = -log(4 pi)/2 - x²/4: for x = "
                      f"{float(x[worst]):g} expected {float(log_px[worst]):.4f}, got "
                      f"{float(value[worst]):.4f} (tolerance {limit:.3f}).")


def judge_mc_tiny_grad(j: Judgement) -> None:
    """d/dmu E_q[log p(x, z)] = E_q[x - 2z] = x - 2 mu = -2 for q = N(x/2 + 1, 1/2); the entropy
    does not depend on mu. One draw's gradient has variance at most 2 (A Σ A + Σ⁻¹) = 8."""
    s = j.inputs["n_samples"]
    n = j.inputs["x"].shape[0]
    grad = mc_gradient(j).to(F64)
    limit = normal_threshold(FALSE_FAILURE_RATE / n) * math.sqrt(8.0 / s)
    if ((grad + 2.0).abs() <= limit).all():
        return
    raise CheckFailed(f"the gradient of the ELBO estimate w.r.t. q's mean should be x - 2 mu = -2 "
                      f"for every data point of the 1-D model (q = N(x/2 + 1, 1/2)), got "
                      f"{[round(v, 3) for v in grad[:, 0].tolist()]} (tolerance {limit:.2f}): the "
                      f"pathwise gradient through z is missing or wrong; {RSAMPLE}.")


def judge_elbo_mock(j: Judgement) -> None:
    """The mock exam's ELBO term by term, by hand: D = 2, M = 1, sigma2 = 2, WᵀW = 5,
    Σ_q = 1/2; ||x - W mu - b||² = 1.25, 3.2, 36 and mu² = 0.25, 0.04, 1 for the three q's."""
    resid = torch.tensor([1.25, 3.2, 36.0], dtype=F64)
    mu2 = torch.tensor([0.25, 0.04, 1.0], dtype=F64)
    trace = 5.0 * 0.5
    lik = -math.log(4 * math.pi) - (resid + trace) / 4.0       # -D/2 log(2 pi sigma2) - .../2s2
    prior = -0.5 * LOG_2PI - 0.5 * (mu2 + 0.5)                  # E_q[log N(z; 0, 1)]
    entropy = 0.5 * (1.0 + LOG_2PI) + 0.5 * math.log(0.5)      # H[N(mu, 1/2)]
    total = lik + prior + entropy
    lik_std = -math.log(8 * math.pi) - (resid + trace) / 8.0   # noise variance 4 = sigma2²
    hints = {
        "the term -tr(WᵀW Σ_q)/(2 sigma2) is missing: the reconstruction term averages over q's "
        "uncertainty, E_q||x - Wz - b||² = ||x - W mu - b||² + tr(WᵀW Σ_q)": total + trace / 4.0,
        "the entropy of q is missing (ELBO = E_q[log p(x, z)] + H[q])": total - entropy,
        "the entropy enters with the wrong sign (ELBO = E_q[log p(x, z)] - E_q[log q(z)] = "
        "E_q[log p(x, z)] + H[q])": total - 2 * entropy,
        "the prior term E_q[log p(z)] = -M/2 log 2pi - ½(||mu||² + tr Σ_q) is missing":
            total - prior,
        "tr(Σ_q) is missing from E_q[log p(z)] = -½(||mu||² + tr Σ_q) + const": total + 0.25,
        "sigma2 was used as a standard deviation (variance/std confusion)":
            total - lik + lik_std,
        "the constants -D/2 log 2pi (likelihood) are missing": total + LOG_2PI,
        "a factor 1/2 is missing on the log-determinant in the entropy":
            total + 0.5 * math.log(0.5),
    }
    expect_tensor(j.got, "ppca_elbo(...)", shape=(3,), dtype=F64, device=j.device)
    expect_close(j.got, total, "the closed-form ELBO on the mock-exam model", reveal=True,
                 hints=hints)


def judge_elbo_touches_mock(j: Judgement) -> None:
    x = j.inputs["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "ppca_elbo at the exact posterior", shape=(3,), dtype=F64,
                            device=j.device)
    other = expect_tensor(other, "ppca_elbo for another q", shape=(3,), dtype=F64,
                          device=j.device)
    expect_finite(at_post, "ppca_elbo")
    # log p(x) = log N(x; b, C): C = [[3, 2], [2, 6]], det C = 14, C⁻¹ = [[6, -2], [-2, 3]] / 14
    r = x.to(F64) - torch.tensor([1.0, -1.0], dtype=F64)
    quad = ((r @ torch.tensor([[6.0, -2.0], [-2.0, 3.0]], dtype=F64)) * r).sum(-1) / 14.0
    log_px = -LOG_2PI - 0.5 * math.log(14.0) - 0.5 * quad
    expect_close(at_post, log_px, "the mock exam's ELBO with q = the exact posterior (it must "
                 "equal log p(x): the gap KL(q || p(z|x)) is zero)", reveal=True)
    if not (other < log_px).all():
        raise CheckFailed("the ELBO exceeds log p(x) for a q that is not the posterior, which "
                          "Jensen's inequality forbids: check the signs of the entropy and "
                          "trace terms.")


GAP_DIRECTION = ("this is KL(p(z|x) || q), the wrong direction: the gap log p(x) - ELBO is "
                 "KL(q || p(z|x)), with the expectation taken under q")


GAP_SIGN = ("the gap has the wrong sign: log p(x) - ELBO = KL(q || p(z|x)) >= 0 (a KL "
            "divergence is never negative)")


def expect_gap(got: Any, x: torch.Tensor, target: torch.Tensor,
                hints: dict[str, torch.Tensor], device: str, reveal: bool, what: str,
                what_close: str) -> None:
    """``got`` is one finite gap per data point, equal to ``target``; a negative gap that is
    not the wrong direction's value is named as the sign error."""
    value = expect_tensor(got, what, shape=(x.shape[0],), dtype=x.dtype, device=device)
    expect_finite(value, what)
    if (value.to(F64) < -1e-4).any() and diagnose(value, {GAP_DIRECTION: hints[GAP_DIRECTION]}
                                                    ) is None:
        raise CheckFailed(f"{what} is negative for some data points: {GAP_SIGN}.")
    expect_close(value, target.to(x.dtype), what_close, reveal=reveal, hints=hints,
                 rtol=1e-4 if x.dtype == torch.float32 else None,
                 atol=1e-3 if x.dtype == torch.float32 else None)


def judge_gap_mock(j: Judgement, *, zero_atol: float) -> None:
    """On the mock exam: 0 at the exact posterior N(m, 2/7); for q = N(mu, 1/2) the 1-D KL
    ½(log((2/7)/(1/2)) + (1/2 + (mu - m)²)/(2/7) - 1), with mu - m = 1/2, -18/35, -2."""
    x = j.inputs["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "elbo_gap at the exact posterior", shape=(3,), dtype=F64,
                            device=j.device)
    expect_close(at_post, torch.zeros(3, dtype=F64), "elbo_gap with q = the exact posterior "
                 "(KL(p(z|x) || p(z|x)) = 0)", reveal=True, rtol=0.0, atol=zero_atol)
    d2 = torch.tensor([0.25, (18.0 / 35.0) ** 2, 4.0], dtype=F64)
    kl = 0.5 * (math.log(4.0 / 7.0) + 0.75 + 3.5 * d2)
    hints = {GAP_DIRECTION: 0.5 * (math.log(7.0 / 4.0) + 4.0 / 7.0 + 2.0 * d2 - 1.0),
             GAP_SIGN: -kl, "a factor 1/2 is missing in the Gaussian KL": 2 * kl}
    expect_gap(other, x, kl, hints, j.device, True, "elbo_gap for the mock exam's q",
                "elbo_gap for the mock exam's q = N(mu, 1/2)")
