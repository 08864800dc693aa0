"""Topic 03: the ELBO, Jensen's inequality and the gap. Checks for the four graded symbols.

PPCA (topic 01) is the test bed: its log p(x) and posterior are known in closed form, so the
judges compute exact ELBOs and gaps in float64 from generic Gaussian formulas (grader-only
code). The public checks (the student kit's) need none of it: they use the mock exam and a
1-D model (z ~ N(0, 1), x | z ~ N(z, 1)) worked by hand.
Model: p(z) = N(0, I_M), p(x|z) = N(Wz + b, sigma2 I_D); W [D, M], b [D].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task, call
from autograder.checks.compare import (
    diagnose,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
    is_close,
    sentence,
)
from autograder.checks.stats import (
    FALSE_FAILURE_RATE,
    chi2_threshold,
    evidence,
    normal_threshold,
)

TOPIC = "03_elbo_jensen"
F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)

# ------------------------------------------------------------------ exact PPCA maths


def _ppca() -> Any:
    """The grader's PPCA maths, imported on use (judges and input builders only)."""
    from autograder.trusted.ppca import Ppca

    return Ppca


def random_model(d: int = 5, m: int = 2, n: int = 6, dtype: torch.dtype = F64,
                 tensor_sigma2: bool = False) -> dict[str, Any]:
    """A random PPCA model, data and a Gaussian q(z) = N(q_mean[n], q_cov) (seeded by caller)."""
    sigma2 = 0.3 + torch.rand(()).item()
    a = torch.randn(m, m, dtype=F64)
    q_cov = a @ a.T / m + 0.3 * torch.eye(m, dtype=F64)
    return {"W": torch.randn(d, m, dtype=dtype), "b": torch.randn(d, dtype=dtype),
            "sigma2": torch.tensor(sigma2, dtype=dtype) if tensor_sigma2 else sigma2,
            "x": 2.0 * torch.randn(n, d, dtype=dtype),
            "q_mean": torch.randn(n, m, dtype=dtype), "q_cov": q_cov.to(dtype)}


def mock_exam() -> dict[str, Any]:
    """The course's mock-exam model (W = [1, 2]ᵀ, b = [1, -1], sigma2 = 2) and a chosen q."""
    return {"W": torch.tensor([[1.0], [2.0]], dtype=F64), "b": torch.tensor([1.0, -1.0], dtype=F64),
            "sigma2": 2.0, "x": torch.tensor([[1.0, -1.0], [2.0, 1.0], [0.0, 3.0]], dtype=F64),
            "q_mean": torch.tensor([[0.5], [0.2], [-1.0]], dtype=F64),
            "q_cov": torch.tensor([[0.5]], dtype=F64)}


def with_posterior(make: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``make``'s inputs plus the exact posterior of each x in x's dtype, computed in the
    grading process: a probe never evaluates the model next to student code."""

    def inputs() -> dict[str, Any]:
        made = make()
        mean, cov = _ppca().of(made).posterior(made["x"])
        dtype = made["x"].dtype
        return {**made, "post_mean": mean.to(dtype), "post_cov": cov.to(dtype)}

    return inputs


def _posterior_on(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact posterior that ``with_posterior`` put in the inputs."""
    return inputs["post_mean"], inputs["post_cov"]


# ------------------------------------------------------------------ log_mean_exp
STABILITY = ("overflow/underflow: exp(-1000) is 0 and exp(1000) is inf in floating point. Use "
             "the log-sum-exp trick: subtract the maximum m, log mean exp(a) = m + log mean "
             "exp(a - m) (or torch.logsumexp(a, dim) - log n)")
LME_HINT_SUM = ("this is log-SUM-exp: the mean divides by the number n of terms, so subtract "
                "log n")
LME_HINT_MEAN = ("this is the mean of a, not the log of the mean of exp(a) (by Jensen's "
                 "inequality the mean of a is only a lower bound)")


def lme_extreme_inputs() -> dict[str, Any]:
    return {"a": torch.tensor([[-1000.0, -1001.0, -1002.0, -999.5],
                               [1000.0, 999.0, 1000.5, 998.0],
                               [-1000.0, 1000.0, 0.0, -3.0]])}


def lme_dims_inputs() -> dict[str, Any]:
    a = 3.0 * torch.randn(2, 3, 4, dtype=F64)
    a[0, 1, 2] = -math.inf
    return {"a": a}


def lme_random_inputs() -> dict[str, Any]:
    a = 300.0 * torch.randn(4, 7, 3) + torch.tensor([-800.0, 0.0, 800.0])
    return {"a": a}


def probe_lme_dims(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return [ns["log_mean_exp"](inputs["a"], dim) for dim in (0, 1, -1)]


def _judge_lme(got: Any, a: torch.Tensor, dim: int, device: str, reveal: bool,
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


def judge_lme_extreme(j: Judgement) -> None:
    a = j.inputs["a"]
    # Rows 0 and 1 are -1000 and 1000 plus the offsets (0, -1, -2, 0.5); in row 2 only the
    # entry 1000 counts (exp(-1000) is far below float64's precision): 1000 - log 4.
    offsets = math.log((1.0 + math.exp(-1.0) + math.exp(-2.0) + math.exp(0.5)) / 4.0)
    expected = torch.tensor([-1000.0 + offsets, 1000.0 + offsets, 1000.0 - math.log(4.0)],
                            dtype=F64)
    _judge_lme(j.got, a, 1, j.device, reveal=True, expected=expected,
               what="log_mean_exp(a, dim=1) for entries around ±1000 (float32)", rtol=1e-6,
               atol=2e-3)


def judge_lme_dims(j: Judgement) -> None:
    a = j.inputs["a"]
    results = expect_sequence(j.got, 3, "log_mean_exp over dims 0, 1, -1")
    for dim, value in zip((0, 1, -1), results, strict=True):
        # entries of size ~10: the definition itself is exact in float64 here
        expected = a.to(F64).exp().mean(dim).log()
        _judge_lme(value, a, dim, j.device, reveal=True, expected=expected,
                   what=f"log_mean_exp(a, dim={dim}) for a of shape {list(a.shape)} with a -inf "
                        "entry")


def judge_lme_reference(j: Judgement) -> None:
    a = j.inputs["a"]
    _judge_lme(j.got, a, 1, j.device, reveal=False, expected=j.ref, rtol=1e-6, atol=2e-3)


# ------------------------------------------------------------------ elbo_mc
MC_SAMPLES = 20_000
SKEW_MARGIN = 1.25  # widens the CLT-based chi-squared threshold for the skew of the log-weights


def mc_inputs(q_kind: str, dtype: torch.dtype = F64, d: int = 4, m: int = 2, n: int = 5,
              samples: int = MC_SAMPLES) -> dict[str, Any]:
    """A PPCA model, data, and q's kind: 'posterior', 'diag' or 'full' (the latter two random)."""
    inputs = random_model(d=d, m=m, n=n, dtype=dtype)
    inputs["q_std"] = (0.3 + torch.rand(n, m, dtype=F64)).to(dtype)
    inputs["q_kind"] = q_kind
    inputs["n_samples"] = samples
    return inputs


def _log_joint_for(inputs: dict[str, Any], n: int, m: int, seen: list[tuple[int, ...]]) -> Any:
    w, b, s2 = inputs["W"], inputs["b"], inputs["sigma2"]
    std = torch.as_tensor(s2, dtype=w.dtype, device=w.device).sqrt()

    def log_joint(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) of PPCA for z of shape [S, N, M]; returns [S, N]."""
        seen.append(tuple(z.shape))
        if z.dim() != 3 or tuple(z.shape[1:]) != (n, m):
            raise ValueError(f"log_joint expects z of shape [S, N, M] = [S, {n}, {m}], got "
                             f"{list(z.shape)}: draw z = q.rsample((n_samples,))")
        prior = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z))
        lik = torch.distributions.Normal(z @ w.T + b, std)
        return prior.log_prob(z).sum(-1) + lik.log_prob(x).sum(-1)

    return log_joint


def _q_for(inputs: dict[str, Any], ctx: ProbeContext, loc: torch.Tensor | None = None
           ) -> torch.distributions.Distribution:
    kind = inputs["q_kind"]
    if kind == "posterior":
        mean, cov = _posterior_on(inputs)
        return torch.distributions.MultivariateNormal(mean if loc is None else loc,
                                                      covariance_matrix=cov)
    if kind == "diag":
        base = torch.distributions.Normal(inputs["q_mean"] if loc is None else loc,
                                          inputs["q_std"])
        return torch.distributions.Independent(base, 1)
    return torch.distributions.MultivariateNormal(inputs["q_mean"] if loc is None else loc,
                                                  covariance_matrix=inputs["q_cov"])


def probe_mc(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Call elbo_mc on PPCA with the q described by the inputs; also report log_joint's z shapes."""
    n, m = inputs["x"].shape[0], inputs["W"].shape[1]
    seen: list[tuple[int, ...]] = []
    q = _q_for(inputs, ctx)
    out = ns["elbo_mc"](inputs["x"], _log_joint_for(inputs, n, m, seen), q, inputs["n_samples"])
    return out, [list(s) for s in seen]


def probe_mc_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The gradient of sum_n ELBO_n with respect to q's mean (None if none flows)."""
    n, m = inputs["x"].shape[0], inputs["W"].shape[1]
    loc = inputs["q_mean"].clone().requires_grad_(True)
    q = _q_for(inputs, ctx, loc=loc)
    out = ns["elbo_mc"](inputs["x"], _log_joint_for(inputs, n, m, []), q, inputs["n_samples"])
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return out, None
    out.sum().backward()
    return out, loc.grad


def _q_moments(inputs: dict[str, Any], model: Any) -> tuple[torch.Tensor, torch.Tensor]:
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


def _quad_var(a: torch.Tensor, h: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
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
    v_joint = _quad_var(a, h, mu, cov)
    v_q = torch.full_like(v_joint, 0.5 * mu.shape[-1])
    h_q = (prec_q @ mu.unsqueeze(-1)).squeeze(-1)
    v_shared = _quad_var(a - prec_q, h - h_q, mu, cov)
    return torch.stack([v_joint + v_q, v_shared, v_joint]).amax(0)


def _mc_statistic(got: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, s: int) -> float:
    return float((s * (got.to(F64) - mean) ** 2 / var).sum())


def _judge_mc(j: Judgement, exact: bool) -> None:
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
    model = _ppca().of(inputs)
    mu, cov = _q_moments(inputs, model)
    elbo = model.elbo(x, mu, cov)
    if exact and is_close(value, model.log_marginal(x).to(value.dtype)):
        return
    var = mc_variance(model, x, mu, cov)
    stat = _mc_statistic(value, elbo, var, s)
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
    _judge_mc(j, exact=True)


def judge_mc_statistical(j: Judgement) -> None:
    _judge_mc(j, exact=False)


RSAMPLE = ("use q.rsample() (the reparameterisation trick z = mu + L eps), not q.sample(), "
           "which returns samples detached from q's parameters")


def _mc_gradient(j: Judgement) -> torch.Tensor:
    """The gradient [N, M] w.r.t. q's mean that probe_mc_grad reported: present and finite."""
    n, m = j.inputs["x"].shape[0], j.inputs["W"].shape[1]
    out, grad = expect_sequence(j.got, 2, "the probe")
    expect_tensor(out, "elbo_mc(...)", shape=(n,), device=j.device)
    if grad is None:
        raise CheckFailed(f"no gradient reaches q's mean through the ELBO estimate: {RSAMPLE}.")
    grad = expect_tensor(grad, "the gradient w.r.t. q's mean", shape=(n, m))
    expect_finite(grad, "the gradient w.r.t. q's mean")
    return grad


def judge_mc_grad(j: Judgement) -> None:
    """∇_mu of a reparameterised estimator is Gaussian around h - A mu (exact chi-squared)."""
    inputs = j.inputs
    x, s = inputs["x"], inputs["n_samples"]
    n, m = x.shape[0], inputs["W"].shape[1]
    grad = _mc_gradient(j)
    model = _ppca().of(inputs)
    mu, cov = _q_moments(inputs, model)
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


# A 1-D model with everything in closed form: z ~ N(0, 1), x | z ~ N(z, 1), so p(x) = N(0, 2)
# and p(z | x) = N(x / 2, 1/2); log p(x, z) = -z²/2 - (x - z)²/2 - log 2pi.
TINY_X = (-1.0, 0.0, 2.0)
TINY_SAMPLES = 4000


def tiny_inputs(q_shift: float = 0.0, samples: int = TINY_SAMPLES) -> dict[str, Any]:
    """The 1-D model as PPCA (W = 1, b = 0, sigma2 = 1), and q = N(x / 2 + q_shift, 1/2)."""
    x = torch.tensor(TINY_X, dtype=F64)[:, None]
    q_mean = x / 2 + q_shift
    q_cov = torch.tensor([[0.5]], dtype=F64)
    return {"W": torch.tensor([[1.0]], dtype=F64), "b": torch.tensor([0.0], dtype=F64),
            "sigma2": 1.0, "x": x, "q_kind": "posterior" if q_shift == 0.0 else "full",
            "q_mean": q_mean, "q_cov": q_cov, "post_mean": x / 2, "post_cov": q_cov,
            "n_samples": samples}


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
    grad = _mc_gradient(j).to(F64)
    limit = normal_threshold(FALSE_FAILURE_RATE / n) * math.sqrt(8.0 / s)
    if ((grad + 2.0).abs() <= limit).all():
        return
    raise CheckFailed(f"the gradient of the ELBO estimate w.r.t. q's mean should be x - 2 mu = -2 "
                      f"for every data point of the 1-D model (q = N(x/2 + 1, 1/2)), got "
                      f"{[round(v, 3) for v in grad[:, 0].tolist()]} (tolerance {limit:.2f}): the "
                      f"pathwise gradient through z is missing or wrong; {RSAMPLE}.")


# ------------------------------------------------------------------ ppca_elbo

ELBO_ARGS = ("x", "W", "b", "sigma2", "q_mean", "q_cov")


def probe_elbo_touches(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The ELBO at the exact posterior and at q with a scaled covariance and shifted mean."""
    mean, cov = _posterior_on(inputs)
    fn = ns["ppca_elbo"]
    args = (inputs["x"], inputs["W"], inputs["b"], inputs["sigma2"])
    return fn(*args, mean, cov), fn(*args, mean + 0.3, 1.7 * cov)


def _elbo_hints(model: Any, x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
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


def mock_with_posterior() -> dict[str, Any]:
    """The mock exam with its exact posterior (topic 01: mean A⁻¹Wᵀ(x - b), covariance
    sigma2 A⁻¹ with A = WᵀW + sigma2 = 7)."""
    return {**mock_exam(), "post_mean": torch.tensor([[0.0], [5.0 / 7.0], [1.0]], dtype=F64),
            "post_cov": torch.tensor([[2.0 / 7.0]], dtype=F64)}


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


def judge_elbo_touches(j: Judgement) -> None:
    i = j.inputs
    x = i["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "ppca_elbo at the exact posterior", shape=(x.shape[0],),
                            dtype=x.dtype, device=j.device)
    other = expect_tensor(other, "ppca_elbo for another q", shape=(x.shape[0],), dtype=x.dtype,
                          device=j.device)
    expect_finite(at_post, "ppca_elbo")
    model = _ppca().of(i)
    log_px = model.log_marginal(x)
    mean, cov = model.posterior(x)
    expect_close(at_post, log_px.to(x.dtype), "the ELBO with q = the exact posterior (it must "
                 "equal log p(x): the gap KL(q || p(z|x)) is zero)", reveal=True,
                 rtol=1e-4, atol=1e-3, hints=_elbo_hints(model, x, mean, cov))
    if not (other.to(F64) < log_px).all():
        raise CheckFailed("the ELBO exceeds log p(x) for a q that is not the posterior, which "
                          "Jensen's inequality forbids: check the signs of the entropy and "
                          "trace terms.")
    expect_close(other, model.elbo(x, mean + 0.3, 1.7 * cov).to(x.dtype),
                 "the ELBO for a q with shifted mean and scaled covariance", reveal=True,
                 rtol=1e-4, atol=1e-3, hints=_elbo_hints(model, x, mean + 0.3, 1.7 * cov))


def judge_elbo_reference(j: Judgement) -> None:
    i = j.inputs
    x = i["x"]
    expect_tensor(j.got, "ppca_elbo(...)", shape=(x.shape[0],), dtype=x.dtype, device=j.device)
    expect_finite(j.got, "ppca_elbo(...)")
    model = _ppca().of(i)
    expect_close(j.got, j.ref, "the closed-form ELBO", reveal=False,
                 hints=_elbo_hints(model, x, i["q_mean"], i["q_cov"]))


# ------------------------------------------------------------------ elbo_gap
GAP_DIRECTION = ("this is KL(p(z|x) || q), the wrong direction: the gap log p(x) - ELBO is "
                 "KL(q || p(z|x)), with the expectation taken under q")
GAP_SIGN = ("the gap has the wrong sign: log p(x) - ELBO = KL(q || p(z|x)) >= 0 (a KL "
            "divergence is never negative)")


def _gap_hints(model: Any, x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor
               ) -> dict[str, torch.Tensor]:
    kl = model.kl_to_posterior(x, mu, cov)
    return {GAP_DIRECTION: model.kl_from_posterior(x, mu, cov), GAP_SIGN: -kl,
            "a factor 1/2 is missing in the Gaussian KL": 2 * kl}


def _judge_gap_value(got: Any, j: Judgement, reveal: bool, ref: torch.Tensor | None = None,
                     what: str = "elbo_gap(...)") -> None:
    i = j.inputs
    x = i["x"]
    model = _ppca().of(i)
    hints = _gap_hints(model, x, i["q_mean"], i["q_cov"])
    if ref is None:
        target = model.log_marginal(x) - model.elbo(x, i["q_mean"], i["q_cov"])
        what_close = f"{what} vs log p(x) - ELBO"
    else:
        target, what_close = ref, what
    _expect_gap(got, x, target, hints, j.device, reveal, what, what_close)


def _expect_gap(got: Any, x: torch.Tensor, target: torch.Tensor,
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


def judge_gap_mock(j: Judgement) -> None:
    """On the mock exam: 0 at the exact posterior N(m, 2/7); for q = N(mu, 1/2) the 1-D KL
    ½(log((2/7)/(1/2)) + (1/2 + (mu - m)²)/(2/7) - 1), with mu - m = 1/2, -18/35, -2."""
    x = j.inputs["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "elbo_gap at the exact posterior", shape=(3,), dtype=F64,
                            device=j.device)
    expect_close(at_post, torch.zeros(3, dtype=F64), "elbo_gap with q = the exact posterior "
                 "(KL(p(z|x) || p(z|x)) = 0)", reveal=True, rtol=0.0, atol=1e-6)
    d2 = torch.tensor([0.25, (18.0 / 35.0) ** 2, 4.0], dtype=F64)
    kl = 0.5 * (math.log(4.0 / 7.0) + 0.75 + 3.5 * d2)
    hints = {GAP_DIRECTION: 0.5 * (math.log(7.0 / 4.0) + 4.0 / 7.0 + 2.0 * d2 - 1.0),
             GAP_SIGN: -kl, "a factor 1/2 is missing in the Gaussian KL": 2 * kl}
    _expect_gap(other, x, kl, hints, j.device, True, "elbo_gap for the mock exam's q",
                "elbo_gap for the mock exam's q = N(mu, 1/2)")


def judge_gap_identity(j: Judgement) -> None:
    _judge_gap_value(j.got, j, reveal=True)


def probe_gap_at_posterior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mean, cov = _posterior_on(inputs)
    args = (inputs["x"], inputs["W"], inputs["b"], inputs["sigma2"])
    return ns["elbo_gap"](*args, mean, cov), ns["elbo_gap"](*args, inputs["q_mean"],
                                                             inputs["q_cov"])


def judge_gap_at_posterior(j: Judgement) -> None:
    x = j.inputs["x"]
    at_post, other = expect_sequence(j.got, 2, "the probe")
    at_post = expect_tensor(at_post, "elbo_gap at the exact posterior", shape=(x.shape[0],),
                            dtype=x.dtype, device=j.device)
    expect_close(at_post, torch.zeros(x.shape[0], dtype=x.dtype), "elbo_gap with q = the exact "
                 "posterior (KL(p(z|x) || p(z|x)) = 0)", reveal=True, rtol=0.0, atol=1e-3)
    _judge_gap_value(other, j, reveal=True, what="elbo_gap for another q")


def judge_gap_reference(j: Judgement) -> None:
    _judge_gap_value(j.got, j, reveal=False, ref=j.ref)


# ---------------------------------------------------------------------------- tasks
TASKS = (
    Task("elbo.log_mean_exp", TOPIC, ("log_mean_exp",), 2.0, (
        Check("finite and exact for entries around ±1000 (float32)",
              lambda ns, i, ctx: ns["log_mean_exp"](i["a"], 1), judge_lme_extreme,
              lme_extreme_inputs, id="lme_extreme"),
        Check("reduces the given dim (0, 1, -1) of a 3-D tensor with a -inf entry (float64)",
              probe_lme_dims, judge_lme_dims, lme_dims_inputs, id="lme_dims"),
        Check("matches the reference on large random inputs (float32)",
              lambda ns, i, ctx: ns["log_mean_exp"](i["a"], 1), judge_lme_reference,
              lme_random_inputs, id="lme_reference", hidden=True),
    ), description="stable log of the mean of exp"),
    Task("elbo.mc", TOPIC, ("elbo_mc",), 3.0, (
        Check(f"1-D model, q = its exact posterior: the estimate is log p(x) (false-failure "
              f"rate {FALSE_FAILURE_RATE:g})", probe_mc, judge_mc_tiny_posterior, tiny_inputs,
              id="tiny_posterior"),
        Check("1-D model: the gradient w.r.t. q's mean is x - 2 mu (reparameterisation)",
              probe_mc_grad, judge_mc_tiny_grad, lambda: tiny_inputs(1.0, samples=500),
              id="tiny_grad"),
        Check("with q = the exact PPCA posterior the estimate equals log p(x) (float64)",
              probe_mc, judge_mc_exact, with_posterior(lambda: mc_inputs("posterior")), id="exact",
              hidden=True),
        Check(f"consistent with the exact ELBO for a diagonal q (float32; chi-squared test, "
              f"false-failure rate {FALSE_FAILURE_RATE:g})", probe_mc, judge_mc_statistical,
              lambda: mc_inputs("diag", dtype=torch.float32), id="statistical", hidden=True),
        Check("gradients reach q's mean (reparameterisation; exact chi-squared test)",
              probe_mc_grad, judge_mc_grad, lambda: mc_inputs("full", samples=500), id="grad",
              hidden=True),
        Check("consistent with the exact ELBO for a full-covariance q (float64, M = 3)",
              probe_mc, judge_mc_statistical, lambda: mc_inputs("full", d=6, m=3, n=4),
              id="statistical_hidden",
              hidden=True, seed=11),
        Check("a single sample (n_samples = 1) gives an ELBO per data point",
              probe_mc, judge_mc_statistical, lambda: mc_inputs("diag", samples=1),
              id="statistical_2",
              hidden=True, seed=12),
    ), timeout_s=90.0, description="Monte Carlo ELBO for any model"),
    Task("elbo.ppca", TOPIC, ("ppca_elbo",), 3.0, (
        Check("mock-exam ELBO", call("ppca_elbo", *ELBO_ARGS), judge_elbo_mock, mock_exam,
              id="elbo_mock"),
        Check("mock exam: equals log p(x) at the exact posterior and lies below it elsewhere",
              probe_elbo_touches, judge_elbo_touches_mock, mock_with_posterior,
              id="elbo_touches_mock"),
        Check("equals log p(x) at the exact posterior and lies below it elsewhere (float32)",
              probe_elbo_touches, judge_elbo_touches,
              with_posterior(lambda: random_model(dtype=torch.float32)),
              id="elbo_touches", hidden=True),
        Check("matches the reference on a random float64 model",
              call("ppca_elbo", *ELBO_ARGS), judge_elbo_reference,
              lambda: random_model(d=6, m=3), id="elbo_reference", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2",
              call("ppca_elbo", *ELBO_ARGS), judge_elbo_reference,
              lambda: random_model(d=4, m=2, tensor_sigma2=True, dtype=torch.float32),
              id="elbo_reference_hidden",
              hidden=True, seed=5),
    ), description="closed-form PPCA ELBO"),
    Task("elbo.gap", TOPIC, ("elbo_gap",), 2.0, (
        Check("mock exam: zero at the exact posterior, the 1-D Gaussian KL elsewhere",
              probe_gap_at_posterior, judge_gap_mock, mock_with_posterior, id="mock"),
        Check("log p(x) - ELBO = gap on a random model (float64)", call("elbo_gap", *ELBO_ARGS),
              judge_gap_identity, lambda: random_model(d=5, m=3), id="identity", hidden=True),
        Check("zero at the exact posterior, the exact KL elsewhere (float32)",
              probe_gap_at_posterior, judge_gap_at_posterior,
              with_posterior(lambda: random_model(dtype=torch.float32)),
              id="at_posterior", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2",
              call("elbo_gap", *ELBO_ARGS), judge_gap_reference,
              lambda: random_model(d=4, m=2, tensor_sigma2=True, dtype=torch.float32),
              id="reference",
              hidden=True, seed=8),
    ), description="the gap KL(q || p(z|x))"),
)
