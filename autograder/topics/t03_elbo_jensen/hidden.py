"""Topic 03's hidden checks: they compute exact ELBOs and gaps of PPCA in float64 with the
grader's maths (``autograder.trusted.ppca``) or compare with the reference solution's results.
Never shipped to students and unreadable from the sandbox; attached to the rows of ``tasks.py``
by ``autograder.checks.rows``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import sympy
import torch

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import (
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
    is_close,
    sentence,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, chi2_threshold, evidence
from autograder.checks.written import confirm_answer, judge_answer, random_points
from autograder.topics.t03_elbo_jensen import inputs, probes
from autograder.topics.t03_elbo_jensen.public import (
    GAP_DIRECTION,
    GAP_SIGN,
    LOG_2PI,
    RSAMPLE,
    expect_gap,
    judge_lme,
    mc_gradient,
)
from autograder.topics.t03_elbo_jensen.public_exam import (
    GAP_1D,
    GAP_1D_HINTS,
    GAP_1D_NAMES,
    HALF,
    MEAN_FIELD,
    MEAN_FIELD_NAMES,
    SIGN,
)
from autograder.trusted.ppca import Ppca

F64 = torch.float64


def with_posterior(make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``make()``'s inputs plus the exact posterior of each x in x's dtype, computed in the
    grading process: a probe never evaluates the model next to student code."""
    made = make()
    mean, cov = Ppca.of(made).posterior(made["x"])
    dtype = made["x"].dtype
    return {**made, "post_mean": mean.to(dtype), "post_cov": cov.to(dtype)}


def judge_lme_reference(j: Judgement, *, rtol: float, atol: float) -> None:
    a = j.inputs["a"]
    judge_lme(j.got, a, 1, j.device, reveal=False, expected=j.ref, rtol=rtol, atol=atol)


SKEW_MARGIN = 1.25  # widens the CLT-based chi-squared threshold for the skew of the log-weights


def q_moments(inputs: dict[str, Any], model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """q's means [N, M] and covariances [N, M, M] in float64."""
    x = inputs["x"]
    n, m = x.shape[0], model.W.shape[1]
    kind = inputs["q_kind"]
    if kind == "posterior":
        mean, cov = model.posterior(x)
        return mean, cov.expand(n, m, m)
    if kind == "diag":
        return inputs["q_mean"].to(F64), torch.diag_embed(inputs["q_std"].to(F64) ** 2)
    return inputs["q_mean"].to(F64), inputs["q_cov"].to(F64).expand(n, m, m)


def quad_var(a: torch.Tensor, h: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
              ) -> torch.Tensor:
    """Var of f(z) = -½ zᵀAz + zᵀh for z ~ N(mu, cov): ½ tr((A cov)²) + gᵀ cov g, g = h - A mu."""
    ac = a @ cov
    g = h - (a @ mu.unsqueeze(-1)).squeeze(-1)
    return 0.5 * (ac @ ac).diagonal(dim1=-2, dim2=-1).sum(-1) + (
        g.unsqueeze(-2) @ cov @ g.unsqueeze(-1)).squeeze(-1).squeeze(-1)


def mc_variance(model: Any, x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
                ) -> torch.Tensor:
    """A per-sample variance no smaller than that of any unbiased single-sample ELBO estimator
    considered correct: shared samples for both terms, independent samples, or exact entropy."""
    a, h = model.precision, model.linear(x)
    prec_q = torch.linalg.inv(cov)
    v_joint = quad_var(a, h, mu, cov)
    v_q = torch.full_like(v_joint, 0.5 * mu.shape[-1])
    h_q = (prec_q @ mu.unsqueeze(-1)).squeeze(-1)
    v_shared = quad_var(a - prec_q, h - h_q, mu, cov)
    return torch.stack([v_joint + v_q, v_shared, v_joint]).amax(0)


def mc_statistic(got: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, s: int) -> float:
    return float((s * (got.to(F64) - mean) ** 2 / var).sum())


def judge_mc(j: Judgement, exact: bool) -> None:
    inputs = j.inputs
    x, s = inputs["x"], inputs["n_samples"]
    n = x.shape[0]
    out, seen = expect_sequence(j.got, 2, "the probe")  # log_joint itself refused bad z shapes
    if not seen:
        raise CheckFailed("log_joint was never called: the ELBO must evaluate the model's "
                          "log p(x, z) at samples z ~ q.")
    value = expect_tensor(out, f"elbo_mc(x, log_joint, q, {s})", shape=(n,), dtype=x.dtype,
                          device=j.device)
    expect_finite(value, "the ELBO estimate")
    model = Ppca.of(inputs)
    mu, cov = q_moments(inputs, model)
    elbo = model.elbo(x, mu, cov)
    if exact and is_close(value, model.log_marginal(x).to(value.dtype)):
        return
    var = mc_variance(model, x, mu, cov)
    stat = mc_statistic(value, elbo, var, s)
    threshold = SKEW_MARGIN * chi2_threshold(n)
    if stat <= threshold:
        return
    entropy = 0.5 * mu.shape[-1] * (1 + LOG_2PI) + 0.5 * torch.logdet(cov)
    sd_mean = torch.sqrt(4 * var / s)  # bounds the spread of any mean-type (buggy) estimate
    bugs = {
        "the -log q(z) term is missing (the ELBO is E_q[log p(x, z) - log q(z)]: without it the "
        "entropy of q is lost)": (elbo - entropy, sd_mean),
        "log q(z) was added instead of subtracted (sign of the entropy term)":
            (elbo - 2 * entropy, sd_mean),
        "the log-weights were summed over the samples instead of averaged (the ELBO is a mean "
        "over the n_samples draws)": (s * elbo, s * sd_mean),
    }
    hint = ""
    for concept, (predicted, sd) in bugs.items():
        if ((value.to(F64) - predicted).abs() <= 8 * sd + 1e-4 * predicted.abs()).all():
            hint = f"Likely cause: {concept}. "
            break
    lead = ("with q = the exact posterior p(z|x), every sample gives log p(x, z) - log q(z) = "
            "log p(x), so the ELBO must equal log p(x); " if exact else "")
    raise CheckFailed(f"{hint}{sentence(lead + 'the ELBO estimate is not consistent')} with the "
                      f"exact ELBO " + evidence(f"chi-squared statistic over {n} data points "
                                                f"with {s} samples", stat, threshold) + ".")


def judge_mc_exact(j: Judgement) -> None:
    judge_mc(j, exact=True)


def judge_mc_statistical(j: Judgement) -> None:
    judge_mc(j, exact=False)


def judge_mc_grad(j: Judgement) -> None:
    """∇_mu of a reparameterised estimator is Gaussian around h - A mu (exact chi-squared)."""
    inputs = j.inputs
    x, s = inputs["x"], inputs["n_samples"]
    n, m = x.shape[0], inputs["W"].shape[1]
    grad = mc_gradient(j)
    model = Ppca.of(inputs)
    mu, cov = q_moments(inputs, model)
    a = model.precision
    expected = model.linear(x) - mu @ a
    diff = grad.to(F64) - expected
    # The pathwise gradient is mean_s (h - A z_s), covariance A Σ A / S. Estimators that also
    # differentiate log q through its parameters (or stop that path, "sticking the landing") add
    # ± Σ⁻¹(z - mu); 2 (A Σ A + Σ⁻¹) dominates every such covariance, so the rate stays <= 1e-6.
    grad_cov = 2 * (a @ cov @ a + torch.linalg.inv(cov))
    sol = torch.linalg.solve(grad_cov, diff.unsqueeze(-1)).squeeze(-1)
    stat = float(s * (diff * sol).sum())
    threshold = chi2_threshold(n * m)
    if stat > threshold:
        raise CheckFailed(f"the gradient of the ELBO estimate w.r.t. q's mean is wrong: the "
                          f"pathwise gradient through z is missing or wrong; {RSAMPLE} "
                          + evidence("chi-squared statistic", stat, threshold) + ".")


def elbo_hints(model: Any, x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
                ) -> dict[str, torch.Tensor]:
    p = model.elbo_parts(x, mu, cov)
    total = sum(p.values())
    s2, d = model.s2, model.W.shape[0]
    return {
        "the term -tr(WᵀW Σ_q)/(2 sigma2) is missing: the reconstruction term averages over q's "
        "uncertainty, E_q||x - Wz - b||² = ||x - W mu - b||² + tr(WᵀW Σ_q)": total - p["trace"],
        "the entropy of q is missing (ELBO = E_q[log p(x, z)] + H[q])": total - p["entropy"],
        "the entropy enters with the wrong sign (ELBO = E_q[log p(x, z)] - E_q[log q(z)] = "
        "E_q[log p(x, z)] + H[q])": total - 2 * p["entropy"],
        "the prior term E_q[log p(z)] = -M/2 log 2pi - ½(||mu||² + tr Σ_q) is missing":
            total - p["prior"],
        "tr(Σ_q) is missing from E_q[log p(z)] = -½(||mu||² + tr Σ_q) + const":
            total + 0.5 * torch.trace(cov.to(F64)),
        "sigma2 was used as a standard deviation (variance/std confusion)":
            total - p["logdet_lik"] - (p["resid"] + p["trace"]) - 0.5 * d * math.log(s2**2)
            + (p["resid"] + p["trace"]) / s2,
        "the constants -D/2 log 2pi (likelihood) are missing": total - p["const_lik"],
        "a factor 1/2 is missing on the log-determinant in the entropy":
            total + 0.5 * torch.logdet(cov.to(F64)),
    }


def judge_elbo_touches(j: Judgement, *, rtol: float, atol: float) -> None:
    i = j.inputs
    x = i["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "ppca_elbo at the exact posterior", shape=(x.shape[0],),
                            dtype=x.dtype, device=j.device)
    other = expect_tensor(other, "ppca_elbo for another q", shape=(x.shape[0],), dtype=x.dtype,
                          device=j.device)
    expect_finite(at_post, "ppca_elbo")
    model = Ppca.of(i)
    log_px = model.log_marginal(x)
    mean, cov = model.posterior(x)
    expect_close(at_post, log_px.to(x.dtype), "the ELBO with q = the exact posterior (it must "
                 "equal log p(x): the gap KL(q || p(z|x)) is zero)", reveal=True,
                 rtol=rtol, atol=atol, hints=elbo_hints(model, x, mean, cov))
    if not (other.to(F64) < log_px).all():
        raise CheckFailed("the ELBO exceeds log p(x) for a q that is not the posterior, which "
                          "Jensen's inequality forbids: check the signs of the entropy and "
                          "trace terms.")
    expect_close(other, model.elbo(x, mean + 0.3, 1.7 * cov).to(x.dtype),
                 "the ELBO for a q with shifted mean and scaled covariance", reveal=True,
                 rtol=rtol, atol=atol, hints=elbo_hints(model, x, mean + 0.3, 1.7 * cov))


def judge_elbo_reference(j: Judgement) -> None:
    i = j.inputs
    x = i["x"]
    expect_tensor(j.got, "ppca_elbo(...)", shape=(x.shape[0],), dtype=x.dtype, device=j.device)
    expect_finite(j.got, "ppca_elbo(...)")
    model = Ppca.of(i)
    expect_close(j.got, j.ref, "the closed-form ELBO", reveal=False,
                 hints=elbo_hints(model, x, i["q_mean"], i["q_cov"]))


def gap_hints(model: Any, x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
               ) -> dict[str, torch.Tensor]:
    kl = model.kl_to_posterior(x, mu, cov)
    return {GAP_DIRECTION: model.kl_from_posterior(x, mu, cov), GAP_SIGN: -kl,
            "a factor 1/2 is missing in the Gaussian KL": 2 * kl}


def judge_gap_value(got: Any, j: Judgement, reveal: bool, ref: torch.Tensor | None = None,
                     what: str = "elbo_gap(...)") -> None:
    i = j.inputs
    x = i["x"]
    model = Ppca.of(i)
    hints = gap_hints(model, x, i["q_mean"], i["q_cov"])
    if ref is None:
        target = model.log_marginal(x) - model.elbo(x, i["q_mean"], i["q_cov"])
        what_close = f"{what} vs log p(x) - ELBO"
    else:
        target, what_close = ref, what
    expect_gap(got, x, target, hints, j.device, reveal, what, what_close)


def judge_gap_identity(j: Judgement) -> None:
    judge_gap_value(j.got, j, reveal=True)


def judge_gap_at_posterior(j: Judgement, *, zero_atol: float) -> None:
    x = j.inputs["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "elbo_gap at the exact posterior", shape=(x.shape[0],),
                            dtype=x.dtype, device=j.device)
    expect_close(at_post, torch.zeros(x.shape[0], dtype=x.dtype), "elbo_gap with q = the exact "
                 "posterior (KL(p(z|x) || p(z|x)) = 0)", reveal=True, rtol=0.0, atol=zero_atol)
    judge_gap_value(other, j, reveal=True, what="elbo_gap for another q")


def judge_gap_reference(j: Judgement) -> None:
    judge_gap_value(j.got, j, reveal=False, ref=j.ref)


# ------------------------------------------------------------------ exam practice (sympy)
def kl_1d(m0: Any, v0: Any, m1: Any, v1: Any) -> Any:
    """KL(N(m0, v0) || N(m1, v1)), variances v0, v1."""
    return (sympy.log(v1 / v0) + (v0 + (m0 - m1) ** 2) / v1 - 1) / 2


def gap_1d_forms(x: Any, s2: Any, m: Any, v: Any) -> tuple[Any, dict[str, Any]]:
    """The gap KL(q || p(z|x)) of the model z ~ N(0, 1), x | z ~ N(z, s2) for q = N(m, v),
    and each classic mistake's value (the concepts of ``GAP_1D_HINTS``, in order)."""
    post_mean, post_var = x / (1 + s2), s2 / (1 + s2)
    gap = kl_1d(m, v, post_mean, post_var)
    s2_std = s2**2
    wrong = (kl_1d(post_mean, post_var, m, v), -gap, 2 * gap,
             kl_1d(m, v, x / (1 + s2_std), s2_std / (1 + s2_std)),
             kl_1d(m, v, post_mean, 1 / (1 + s2)), kl_1d(m, v, x, post_var))
    return gap, dict(zip(GAP_1D_HINTS, wrong, strict=True))


GAP_1D_RANGES = {"x": (-3.0, 3.0), "s2": (0.2, 3.0), "m": (-2.0, 2.0), "v": (0.1, 2.0)}


def gap_1d_check(j: Judgement, *, numbers: bool, confirm: bool) -> None:
    """Symbols: the closed form at random points; numbers: the one number."""
    if numbers:
        args = (sympy.Integer(-1), sympy.Rational(1, 4), sympy.Rational(1, 2), sympy.Integer(3))
        points: list[dict[str, float]] = [{}]
        what = f"{GAP_1D} at x = -1, s2 = 1/4, m = 1/2, v = 3"
    else:
        args = probes.gap_1d_symbols()
        points, what = random_points(GAP_1D_RANGES, "elbo.exam_gap_1d"), GAP_1D
    gap, hints = gap_1d_forms(*args)
    if confirm:
        confirm_answer(j.got, function=what, names=GAP_1D_NAMES, expected=(gap,), points=points)
    else:
        judge_answer(j.got, function=what, names=GAP_1D_NAMES, expected=(gap,), points=points,
                     hints=(hints,), reveal=False)


def mean_field_forms(rho: Any) -> tuple[tuple[Any, Any], tuple[dict[str, Any], ...]]:
    """(best, marginal) gaps of a factorised q for a 2-D Gaussian posterior with correlation
    rho, and the classic mistakes' values for each."""
    best = -sympy.log(1 - rho**2) / 2
    marginal = rho**2 / (1 - rho**2) + sympy.log(1 - rho**2) / 2
    hints = ({SIGN: -best, HALF: 2 * best, "rho must be squared: the 2-D determinant is "
              "s11 s22 (1 - rho²)": -sympy.log(1 - rho) / 2},
             {"this is KL(p(z|x) || q), the forward direction: the gap is KL(q || p(z|x))": best,
              SIGN: -marginal, HALF: 2 * marginal})
    return (best, marginal), hints


def entries_points() -> list[dict[str, float]]:
    """Points (s11, s22, s12) of positive-definite 2 x 2 covariances, |correlation| < 0.95."""
    points = random_points({"s11": (0.3, 3.0), "s22": (0.3, 3.0), "c": (-0.95, 0.95)},
                           "elbo.exam_mean_field_gap")
    return [{"s11": p["s11"], "s22": p["s22"], "s12": p["c"] * math.sqrt(p["s11"] * p["s22"])}
            for p in points]


def mean_field_check(j: Judgement, *, entries: bool, confirm: bool) -> None:
    if entries:
        s11, s22 = sympy.symbols("s11 s22", positive=True)
        rho = sympy.Symbol("s12", real=True) / sympy.sqrt(s11 * s22)
        points, what = entries_points(), "mean_field_gaps_sympy(s12 / sqrt(s11 s22))"
    else:
        rho = sympy.Symbol("rho", real=True)
        points = random_points({"rho": (-0.95, 0.95)}, "elbo.exam_mean_field_gap")
        what = MEAN_FIELD
    expected, hints = mean_field_forms(rho)
    if confirm:
        confirm_answer(j.got, function=what, names=MEAN_FIELD_NAMES, expected=expected,
                       points=points)
    else:
        judge_answer(j.got, function=what, names=MEAN_FIELD_NAMES, expected=expected,
                     points=points, hints=hints, reveal=False)


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "elbo.log_mean_exp": (
        Check("matches the reference on large random inputs (float32)", probes.probe_lme_dim1,
              partial(judge_lme_reference, rtol=1e-6, atol=2e-3), inputs.lme_random_inputs,
              id="lme_reference", hidden=True),
    ),
    "elbo.mc": (
        Check("with q = the exact PPCA posterior the estimate equals log p(x) (float64)",
              probes.probe_mc, judge_mc_exact,
              partial(with_posterior, partial(inputs.mc_inputs, "posterior")), id="exact",
              hidden=True),
        Check(f"consistent with the exact ELBO for a diagonal q (float32; chi-squared test, "
              f"false-failure rate {FALSE_FAILURE_RATE:g})", probes.probe_mc,
              judge_mc_statistical, partial(inputs.mc_inputs, "diag", dtype=torch.float32),
              id="statistical", hidden=True),
        Check("gradients reach q's mean (reparameterisation; exact chi-squared test)",
              probes.probe_mc_grad, judge_mc_grad, partial(inputs.mc_inputs, "full", samples=500),
              id="grad", hidden=True),
        Check("consistent with the exact ELBO for a full-covariance q (float64, M = 3)",
              probes.probe_mc, judge_mc_statistical,
              partial(inputs.mc_inputs, "full", d=6, m=3, n=4), id="statistical_hidden",
              hidden=True, seed=11),
        Check("a single sample (n_samples = 1) gives an ELBO per data point",
              probes.probe_mc, judge_mc_statistical, partial(inputs.mc_inputs, "diag", samples=1),
              id="statistical_2", hidden=True, seed=12),
    ),
    "elbo.ppca": (
        Check("equals log p(x) at the exact posterior and lies below it elsewhere (float32)",
              probes.probe_elbo_touches, partial(judge_elbo_touches, rtol=1e-4, atol=1e-3),
              partial(with_posterior, partial(inputs.random_model, dtype=torch.float32)),
              id="elbo_touches", hidden=True),
        Check("matches the reference on a random float64 model", probes.elbo,
              judge_elbo_reference, partial(inputs.random_model, d=6, m=3),
              id="elbo_reference", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2", probes.elbo,
              judge_elbo_reference,
              partial(inputs.random_model, d=4, m=2, tensor_sigma2=True, dtype=torch.float32),
              id="elbo_reference_hidden", hidden=True, seed=5),
    ),
    "elbo.gap": (
        Check("log p(x) - ELBO = gap on a random model (float64)", probes.gap,
              judge_gap_identity, partial(inputs.random_model, d=5, m=3), id="identity",
              hidden=True),
        Check("zero at the exact posterior, the exact KL elsewhere (float32)",
              probes.probe_gap_at_posterior, partial(judge_gap_at_posterior, zero_atol=1e-3),
              partial(with_posterior, partial(inputs.random_model, dtype=torch.float32)),
              id="at_posterior", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2", probes.gap,
              judge_gap_reference,
              partial(inputs.random_model, d=4, m=2, tensor_sigma2=True, dtype=torch.float32),
              id="reference", hidden=True, seed=8),
    ),
    "elbo.exam_gap_1d": (
        Check("the closed form for symbolic x, s2, m, v", probes.probe_gap_1d,
              partial(gap_1d_check, numbers=False, confirm=False), id="symbolic", hidden=True,
              confirm=partial(gap_1d_check, numbers=False, confirm=True)),
        Check("numbers in, the number out (x = -1, s2 = 1/4, m = 1/2, v = 3)",
              probes.probe_gap_1d_numbers, partial(gap_1d_check, numbers=True, confirm=False),
              id="numbers", hidden=True,
              confirm=partial(gap_1d_check, numbers=True, confirm=True)),
    ),
    "elbo.exam_mean_field_gap": (
        Check("the closed form for a symbolic rho", probes.probe_mean_field,
              partial(mean_field_check, entries=False, confirm=False), id="symbolic",
              hidden=True, confirm=partial(mean_field_check, entries=False, confirm=True)),
        Check("rho given as s12 / sqrt(s11 s22), from covariance entries",
              probes.probe_mean_field_entries,
              partial(mean_field_check, entries=True, confirm=False), id="entries",
              hidden=True, confirm=partial(mean_field_check, entries=True, confirm=True)),
    ),
}
"""Topic 03's hidden checks, by task (see ``autograder.checks.rows``)."""
