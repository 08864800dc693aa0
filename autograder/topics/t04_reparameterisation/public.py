"""Judges of topic 04's public checks: exact values and gradients, closed-form gradients of
E[f(z)], and statistical tests at ``FALSE_FAILURE_RATE`` per check (Bonferroni over the
coordinates a check tests); no reference, nothing grader-only. Settings are keyword
parameters, set in the rows of ``tasks.py``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from scipy import stats

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import (
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import (
    FALSE_FAILURE_RATE,
    chi2_threshold,
    evidence,
    normal_threshold,
)
from autograder.payload import tensor_info

F64 = torch.float64
RATE = FALSE_FAILURE_RATE


def has_graph(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and tensor_info(value).has_grad_fn


NO_GRAD = ("no gradient flows back to {what}: the sample must be a differentiable function of "
           "mu and logvar. Do not use .sample() (it runs under torch.no_grad; .rsample() and "
           "the reparameterisation z = mu + std * eps keep the graph), .detach(), .data, "
           "torch.no_grad() or NumPy")


def std_hints(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
               ) -> dict[str, torch.Tensor]:
    return {
        "exp(logvar) is the variance, not the standard deviation (log-variance read as a "
        "log-std / variance used as std): std = exp(logvar / 2)": mu + logvar.exp() * eps,
        "logvar was used as the standard deviation itself; std = exp(logvar / 2)":
            mu + logvar * eps,
        "the standard deviation was inverted: std = exp(+logvar / 2)":
            mu + (-logvar / 2).exp() * eps,
        "the mean mu is missing: z = mu + std * eps": logvar.mul(0.5).exp() * eps,
    }


def judge_reparam_explicit(j: Judgement) -> None:
    mu, logvar, eps, w = (j.inputs[k] for k in ("mu", "logvar", "eps", "w"))
    if not isinstance(j.got, dict):
        raise CheckFailed("test set-up error")  # pragma: no cover
    z = expect_tensor(j.got["z"], "reparameterize(mu, logvar, eps)", shape=tuple(mu.shape),
                      dtype=mu.dtype, device=j.device)
    expected = mu + (0.5 * logvar).exp() * eps
    expect_close(z, expected, "z = mu + exp(logvar / 2) * eps", reveal=True,
                 hints=std_hints(mu, logvar, eps))
    if not has_graph(z):
        raise CheckFailed(NO_GRAD.format(what="mu and logvar") + ".")
    for key, name, value, hints in (
        ("grad_mu", "mu", w, {}),
        ("grad_logvar", "logvar", w * eps * 0.5 * (0.5 * logvar).exp(), {
            "the factor 1/2 from d exp(logvar / 2) / d logvar is missing":
                w * eps * (0.5 * logvar).exp(),
        }),
    ):
        grad = j.got[key]
        if grad is None:
            raise CheckFailed(NO_GRAD.format(what=name) + ".")
        expect_close(grad, value, f"the gradient of sum(w * z) w.r.t. {name}", reveal=True,
                     hints=hints)


def judge_reparam_random(j: Judgement, *, grad_rtol: float, grad_atol: float) -> None:
    """Standardised samples u = (z - mu) / std are N(0, 1): a mean and a variance test per column.

    Each of the 2 D tests runs at RATE / (2 D), so the check fails a correct answer with
    probability at most RATE.
    """
    mu, logvar = j.inputs["mu"], j.inputs["logvar"]
    n, d = mu.shape
    z = expect_tensor(j.got["z"], "reparameterize(mu, logvar)", shape=(n, d), dtype=mu.dtype,
                      device=j.device)
    expect_finite(z, "the samples")
    first, second = (expect_tensor(v, "reparameterize(mu, logvar)", device=j.device)
                     for v in j.got["again"])
    if not torch.equal(first, second):
        raise CheckFailed("two calls after torch.manual_seed(5) gave different samples: draw eps "
                          "from torch's global generator (torch.randn_like(mu)).")
    u = ((z.to(F64) - mu.to(F64)) / (0.5 * logvar.to(F64)).exp())
    per_test = RATE / (2 * d)
    z_max = normal_threshold(per_test)
    lo, hi = stats.chi2.ppf(per_test / 2, n), stats.chi2.isf(per_test / 2, n)
    for col in range(d):
        lv = float(logvar[0, col])
        t_mean = float(u[:, col].sum()) / math.sqrt(n)
        if abs(t_mean) > z_max:
            raise CheckFailed(f"column with logvar = {lv:g}: the samples are not centred on mu: "
                              "z = mu + std * eps with eps ~ N(0, I) "
                              + evidence("|z-statistic|", abs(t_mean), z_max, RATE) + ".")
        ss = float((u[:, col] ** 2).sum())
        if not lo <= ss <= hi:
            ratio = math.sqrt(ss / n)
            hint = ""
            if abs(math.log(ratio) - lv / 2) < 0.05 and abs(lv) > 0.5:
                hint = (" The spread matches exp(logvar) used as the standard deviation: "
                        "exp(logvar) is the variance (log-variance/log-std confusion); "
                        "std = exp(logvar / 2).")
            raise CheckFailed(f"column with logvar = {lv:g}: the samples' standard deviation is "
                              f"{ratio:.3g}x the expected std = exp(logvar / 2) = "
                              f"{math.exp(lv / 2):.3g} (chi-squared test at false-failure rate "
                              f"{RATE:g}).{hint}")
    if not has_graph(z) or j.got["grad_mu"] is None or j.got["grad_logvar"] is None:
        raise CheckFailed(NO_GRAD.format(what="mu and logvar when eps is None") + ".")
    expect_close(j.got["grad_mu"], torch.ones_like(mu), "d sum(z) / d mu", reveal=True)
    expect_close(j.got["grad_logvar"], 0.5 * (z - mu), "d sum(z) / d logvar (it equals "
                 "(z - mu) / 2 for the sample drawn)", reveal=True, rtol=grad_rtol,
                 atol=grad_atol,
                 hints={"the factor 1/2 from d exp(logvar / 2) / d logvar is missing": z - mu})


def true_gradient(kind: str, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form gradients of E[f(z)] w.r.t. mu and log_sigma (float64)."""
    mu, ls = inputs["mu"].to(F64), inputs["log_sigma"].to(F64)
    a, c, b = (inputs[k].to(F64) for k in "acb")
    sigma = ls.exp()
    g_mu, g_ls = torch.zeros_like(mu), torch.zeros_like(mu)
    if kind in ("quadratic", "mixed"):  # E = a mu + c (mu^2 + sigma^2)
        g_mu, g_ls = g_mu + a + 2 * c * mu, g_ls + 2 * c * sigma**2
    if kind in ("step", "mixed"):  # E = b Phi(mu / sigma)
        pdf = torch.exp(-0.5 * (mu / sigma) ** 2) / math.sqrt(2 * math.pi)
        g_mu, g_ls = g_mu + b * pdf / sigma, g_ls - b * pdf * mu / sigma
    if kind == "sine":  # E = a sin(mu) exp(-sigma^2 / 2)
        damp = torch.exp(-0.5 * sigma**2)
        g_mu, g_ls = a * torch.cos(mu) * damp, -a * torch.sin(mu) * damp * sigma**2
    return g_mu, g_ls


def collect(j: Judgement, what: str, on_error: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The repeated estimates as float64 [R, M] tensors (grad_mu, grad_log_sigma)."""
    got = j.got
    if isinstance(got, dict) and "error" in got:
        raise CheckFailed(f"calling {what} raised {got['error']}: {got['message']}. {on_error}")
    m = j.inputs["mu"].shape[0]
    mus, lss = [], []
    for value in got["calls"]:
        g_mu, g_ls = expect_sequence(value, 2, what)
        for g, name in ((g_mu, "grad_mu"), (g_ls, "grad_log_sigma")):
            if g is None:
                raise CheckFailed(f"{what} returned None for {name}. {on_error}")
            expect_tensor(g, f"{name} from {what}", shape=(m,), dtype=j.inputs["mu"].dtype,
                          device=j.device)
            expect_finite(g, f"{name} from {what}")
        mus.append(g_mu.to(F64))
        lss.append(g_ls.to(F64))
    return torch.stack(mus), torch.stack(lss)


def t_statistics(estimates: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Per-coordinate t-statistics of the mean of R independent estimates against ``expected``."""
    r = estimates.shape[0]
    se = estimates.std(0) / math.sqrt(r)
    diff = estimates.mean(0) - expected
    se = torch.maximum(se, 1e-9 * (1 + expected.abs()))
    return diff / se


def t_threshold(reps: int, tests: int) -> float:
    """|t| exceeded with probability RATE / tests by a t(reps - 1) variable (two-sided)."""
    return float(stats.t.isf(RATE / (2 * tests), reps - 1))


def consistent(estimates: torch.Tensor, expected: torch.Tensor, threshold: float) -> bool:
    return bool((t_statistics(estimates, expected).abs() <= threshold).all())


def judge_unbiased(j: Judgement, *, what: str, kind: str, on_error: str,
                   hints: Callable[[dict[str, Any]], dict[str, tuple[torch.Tensor, torch.Tensor]]],
                   saw_grad_hint: str | None = None) -> None:
    """CLT t-test of the estimator's mean against the closed-form gradient.

    The mean of R = REPS calls is compared with the true gradient using the spread of the
    calls (t distribution, R - 1 degrees of freedom), Bonferroni over the 2 M coordinates:
    a correct estimator fails with probability at most RATE (each call averages SAMPLES
    independent terms, so it is close to Gaussian).
    """
    g_mu, g_ls = collect(j, what, on_error)
    t_mu, t_ls = true_gradient(kind, j.inputs)
    thr = t_threshold(g_mu.shape[0], 2 * g_mu.shape[1])
    if consistent(g_mu, t_mu, thr) and consistent(g_ls, t_ls, thr):
        return
    diagnosis = ""
    for concept, (h_mu, h_ls) in hints(j.inputs).items():
        if consistent(g_mu, h_mu, thr) and consistent(g_ls, h_ls, thr):
            diagnosis = f" Likely cause: {concept}."
            break
    if not diagnosis and saw_grad_hint and j.got.get("f_saw_grad"):
        diagnosis = f" Likely cause: {saw_grad_hint}"
    elif not diagnosis:
        diagnosis = f" {on_error}"
    parts = []
    for name, est, true in (("mu", g_mu, t_mu), ("log_sigma", g_ls, t_ls)):
        t = t_statistics(est, true)
        if bool((t.abs() > thr).any()):
            mean = [round(v, 3) for v in est.mean(0).tolist()]
            parts.append(f"w.r.t. {name}: mean of your estimates {mean}, exact "
                         f"{[round(v, 3) for v in true.tolist()]} (max |t| = "
                         f"{float(t.abs().max()):.3g})")
    raise CheckFailed(f"{what} is biased for {kind} f: " + "; ".join(parts) +
                      f" (t-test over {g_mu.shape[0]} calls, threshold {thr:.1f} at "
                      f"false-failure rate {RATE:g})." + diagnosis)


PATHWISE_ERROR = ("The pathwise estimator differentiates f(mu + sigma * eps) with autograd: keep z "
                  "attached to mu and log_sigma (no .detach(), .sample() or torch.no_grad), "
                  "e.g. mu.detach().requires_grad_() and torch.autograd.grad.")


def pathwise_hints(inputs: dict[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    mu, ls, a, c = (inputs[k].to(F64) for k in ("mu", "log_sigma", "a", "c"))
    g_mu = a + 2 * c * mu
    return {
        "the estimates are all zero: the sample was detached from mu and log_sigma "
        "(.sample(), .detach() or torch.no_grad)": (torch.zeros_like(mu), torch.zeros_like(mu)),
        "log_sigma was used as sigma (sigma = exp(log_sigma))": (g_mu, 2 * c * ls),
        "log_sigma was treated as a log-variance (sigma = exp(log_sigma), not "
        "exp(log_sigma / 2))": (g_mu, c * ls.exp()),
        "the sample was drawn with the wrong scale: z = mu + sigma * eps, "
        "sigma = exp(log_sigma)": (g_mu, 4 * c * ls.exp() ** 2),
    }


def judge_linear(j: Judgement) -> None:
    a, m = j.inputs["a"], j.inputs["a"].shape[0]
    if isinstance(j.got, dict) and "error" in j.got:
        raise CheckFailed(f"calling pathwise_gradient raised {j.got['error']}: "
                          f"{j.got['message']}. {PATHWISE_ERROR}")
    for value in j.got:
        g_mu, g_ls = expect_sequence(value, 2, "pathwise_gradient")
        for g, name in ((g_mu, "grad_mu"), (g_ls, "grad_log_sigma")):
            if g is None:
                raise CheckFailed(f"pathwise_gradient returned None for {name}. {PATHWISE_ERROR}")
            expect_tensor(g, name, shape=(m,), dtype=a.dtype, device=j.device)
        if bool((g_mu == 0).all()) and bool((g_ls == 0).all()):
            raise CheckFailed("pathwise_gradient returned zeros for f(z) = sum(a z): no gradient "
                              f"reached mu and log_sigma. {PATHWISE_ERROR}")
        expect_close(g_mu, a, "grad_mu for linear f(z) = sum(a z) (d f / d z = a for every "
                     "sample, so the pathwise estimate has no noise: it is exactly a; a noisy "
                     "value suggests a score-function estimate instead of differentiating "
                     "f(mu + sigma * eps))", reveal=True)


SCORE_ERROR = ("The score-function estimator treats f as a black box: evaluate f on detached "
               "samples and weight f(z) by the score, d log N(z; mu, sigma^2) / d(mu, log_sigma) "
               "= ((z - mu) / sigma^2, (z - mu)^2 / sigma^2 - 1), with sigma = exp(log_sigma); "
               "never backpropagate through f.")


THROUGH_F = ("f was called on samples that still carry gradients, so autograd also flowed through "
             "f(z) (and through z inside log q): evaluate f on detached samples, f is a black "
             "box. " + SCORE_ERROR)


def score_hints(inputs: dict[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    mu, ls, a, c = (inputs[k].to(F64) for k in ("mu", "log_sigma", "a", "c"))
    s2 = (2 * ls).exp()
    g_mu, g_ls = a + 2 * c * mu, 2 * c * s2
    mean_f = float((a * mu + c * (mu**2 + s2)).sum())
    return {
        "gradients also flowed through f (z was not detached), adding the pathwise gradient to "
        "the score-function one": (2 * g_mu, 2 * g_ls),
        "the score of mu is (z - mu) / sigma^2; the division by sigma^2 is missing":
            (s2 * g_mu, g_ls),
        "the score of mu is (z - mu) / sigma^2, not (z - mu) / sigma": (s2.sqrt() * g_mu, g_ls),
        "the score of log_sigma is (z - mu)^2 / sigma^2 - 1; the -1 (from the normaliser "
        "-log sigma) is missing": (g_mu, g_ls + mean_f),
        "log_sigma was used as sigma: sigma = exp(log_sigma)": (g_mu, 2 * c * ls**2),
        "log_sigma was used as sigma (and the gradient taken w.r.t. sigma): sigma = "
        "exp(log_sigma)": (g_mu, 2 * c * ls),
    }


def step_hints(inputs: dict[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    zero = torch.zeros_like(inputs["mu"], dtype=F64)
    return {"the estimates are zero, as autograd through f would give: f is a step function "
            "whose derivative is zero almost everywhere, yet E[f] depends on mu and sigma. "
            + SCORE_ERROR: (zero, zero)}


def mixed_hints(inputs: dict[str, Any]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {"this is the pathwise gradient (autograd through f), which is wrong for an f "
            "with a discontinuity. " + SCORE_ERROR: true_gradient("quadratic", inputs)}


GUMBEL_HINTS = ("y = softmax((logits + g) / tau) with Gumbel noise g = -log(-log(u)), "
                "u ~ Uniform(0, 1), added to the logits")


def on_simplex(y: Any, logits: torch.Tensor, j: Judgement, what: str) -> torch.Tensor:
    y = expect_tensor(y, what, shape=tuple(logits.shape), dtype=logits.dtype, device=j.device)
    expect_finite(y, what)
    sums = y.to(F64).sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise CheckFailed(f"{what}: rows (last dimension) must sum to 1, found sums between "
                          f"{float(sums.min()):.4g} and {float(sums.max()):.4g}: apply the "
                          "softmax over the last dimension.")
    return y


def judge_gumbel_simplex(j: Judgement) -> None:
    y = on_simplex(j.got, j.inputs["logits"], j, "gumbel_softmax_sample(logits, tau)")
    if not bool((y >= 0).all()) or float((y == 0).to(F64).mean()) > 0.5:
        raise CheckFailed("the relaxed sample must have positive entries (it is a softmax); "
                          "with hard=False do not round it to a one-hot.")
    g = j.inputs["groups"]
    if bool((y.reshape(g, g, -1).to(F64).std(0) < 1e-6).all()):
        raise CheckFailed(f"every row with the same logits gives the same sample: the noise is "
                          f"missing. {GUMBEL_HINTS}.")


def judge_gumbel_low_tau(j: Judgement, *, min_top: float) -> None:
    """At tau = 0.01 the largest entry of a sample averages at least ``min_top``."""
    y = on_simplex(j.got, j.inputs["logits"], j, "gumbel_softmax_sample(logits, tau=0.01)")
    top = float(y.to(F64).max(-1).values.mean())
    if top < min_top:
        raise CheckFailed(f"at temperature tau = 0.01 samples should be almost one-hot, but the "
                          f"largest entry averages {top:.3f}: divide (logits + g) by tau before "
                          "the softmax.")


def simulate(logits: torch.Tensor, noise: str, n: int) -> torch.Tensor:
    """Argmax frequencies of a (possibly buggy) sampler, by Monte Carlo in the judge."""
    gen = torch.Generator().manual_seed(0)
    lg = logits.to(F64)
    u = torch.rand((n, *lg.shape), generator=gen, dtype=F64).clamp_min(1e-300)
    gumbel = -(-u.log()).log()
    base = {"probabilities": lg.softmax(-1) + gumbel, "exponential": lg - u.log(),
            "negated": lg - gumbel}[noise]
    idx = base.argmax(-1)
    return torch.nn.functional.one_hot(idx, lg.shape[-1]).to(F64).mean(0)


def judge_gumbel_frequencies(j: Judgement) -> None:
    """Chi-squared test of argmax counts against softmax(logits), per distinct row.

    All rows of a group share logits; with G groups the G (K - 1)-dof statistics are summed
    (G (K - 1) dof) and compared with the threshold at RATE.
    """
    logits = j.inputs["logits"]
    y = on_simplex(j.got, logits, j, "gumbel_softmax_sample")
    k = logits.shape[-1]
    group = logits[0]
    counts = torch.nn.functional.one_hot(y.argmax(-1), k).to(F64).sum(0)
    n = float(logits.shape[0])
    p = group.to(F64).softmax(-1)
    stat = float(((counts - n * p) ** 2 / (n * p)).sum())
    dof = int(p.numel() // k) * (k - 1)
    thr = chi2_threshold(dof)
    if stat <= thr:
        return
    if bool((counts.max(-1).values == n).all()):
        raise CheckFailed(f"every sample has the same argmax: the Gumbel noise is missing (a "
                          f"plain softmax is deterministic). {GUMBEL_HINTS}.")
    diagnosis = ""
    for noise, concept in (("probabilities", "the noise was added to the probabilities "
                            "softmax(logits) instead of to the logits"),
                           ("exponential", "the noise is -log(u), which is exponential, not "
                            "Gumbel: use -log(-log(u))"),
                           ("negated", "the noise has the wrong sign: g = -log(-log(u))")):
        q = simulate(group, noise, 200_000).clamp_min(1e-12)
        alt = float(((counts - n * q) ** 2 / (n * q)).sum())
        if alt <= thr:
            diagnosis = f" Likely cause: {concept}."
            break
    freq = [round(v, 3) for v in (counts / n).reshape(-1)[:k].tolist()]
    raise CheckFailed(f"the argmax of the samples does not follow softmax(logits): "
                      f"frequencies {freq} vs probabilities "
                      f"{[round(v, 3) for v in p.reshape(-1)[:k].tolist()]}. {GUMBEL_HINTS}. "
                      + evidence("chi-squared statistic", stat, thr, RATE) + "." + diagnosis)


def judge_gumbel_hard(j: Judgement, *, grad_rtol: float, grad_atol: float) -> None:
    logits = j.inputs["logits"]
    k = logits.shape[-1]
    soft = on_simplex(j.got["soft"]["y"], logits, j, "gumbel_softmax_sample(hard=False)")
    hard = on_simplex(j.got["hard"]["y"], logits, j, "gumbel_softmax_sample(hard=True)")
    rtol, atol = (1e-6, 1e-6) if logits.dtype == F64 else (1e-5, 1e-5)
    rounded = hard.detach().round()
    one_hot = torch.nn.functional.one_hot(rounded.argmax(-1), k).to(hard.dtype)
    if not torch.allclose(hard, one_hot, rtol=rtol, atol=atol):
        raise CheckFailed("with hard=True the forward value must be one-hot (one 1 per row, 0 "
                          "elsewhere): y_hard = one_hot(argmax(y)), returned as "
                          "y_hard - y.detach() + y.")
    grad = j.got["hard"]["grad"]
    if grad is None or not bool((grad != 0).any()):
        raise CheckFailed("with hard=True no gradient reaches the logits: a one-hot argmax has "
                          "zero gradient, so use the straight-through estimator "
                          "y_hard - y.detach() + y (forward one-hot, backward the relaxed "
                          "sample's gradient).")
    expect_tensor(grad, "the gradient w.r.t. logits", shape=tuple(logits.shape))
    soft_grad = j.got["soft"]["grad"]
    if soft_grad is None:
        raise CheckFailed("with hard=False no gradient reaches the logits: keep the relaxed "
                          "sample differentiable (no .detach() / torch.no_grad).")
    same_noise = torch.equal(one_hot, torch.nn.functional.one_hot(soft.argmax(-1), k)
                             .to(hard.dtype))
    if same_noise:
        expect_close(grad, soft_grad, "the straight-through gradient w.r.t. logits (it must "
                     "equal the relaxed sample's gradient for the same noise)", reveal=True,
                     rtol=grad_rtol, atol=grad_atol, hints={
                         "the gradient is tau times too large/small: divide by tau once":
                             soft_grad * j.inputs["tau"]})
    row_sums = grad.to(F64).sum(-1)
    if not torch.allclose(row_sums, torch.zeros_like(row_sums), atol=1e-5):
        raise CheckFailed("the straight-through gradient w.r.t. logits should sum to zero over "
                          "the categories (softmax is shift-invariant): pass the gradient of the "
                          "relaxed softmax sample straight through.")
