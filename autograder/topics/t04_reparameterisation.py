"""Topic 04: the reparameterisation trick. Checks for the four graded symbols.

* ``reparameterize(mu, logvar, eps=None)``: z = mu + exp(logvar / 2) * eps.
* ``pathwise_gradient(f, mu, log_sigma, n)`` and ``score_function_gradient(f, mu, log_sigma, n)``:
  Monte Carlo estimates of the gradient of E_{z ~ N(mu, exp(log_sigma)^2)}[f(z)].
* ``gumbel_softmax_sample(logits, tau, hard=False)``: relaxed (or straight-through) categorical.

Stochastic properties are tested at ``FALSE_FAILURE_RATE`` per check (Bonferroni over the
coordinates a check tests); gradient estimators are judged by a CLT t-test on repeated calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from scipy import stats

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task
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

TOPIC = "04_reparameterisation"
F64 = torch.float64
RATE = FALSE_FAILURE_RATE


def _leaf(t: torch.Tensor) -> torch.Tensor:
    """A fresh leaf copy of ``t`` that records gradients."""
    return t.detach().clone().requires_grad_(True)


def _seed(seed: int, ctx: ProbeContext) -> None:
    torch.manual_seed(seed)
    if ctx.device.type == "cuda":
        torch.cuda.manual_seed_all(seed)


def _has_graph(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and tensor_info(value).has_grad_fn


NO_GRAD = ("no gradient flows back to {what}: the sample must be a differentiable function of "
           "mu and logvar. Do not use .sample() (it runs under torch.no_grad; .rsample() and "
           "the reparameterisation z = mu + std * eps keep the graph), .detach(), .data, "
           "torch.no_grad() or NumPy")

# -------------------------------------------------------------------- reparameterize


def reparam_inputs(dtype: torch.dtype = F64, n: int = 4, d: int = 3) -> dict[str, Any]:
    """Means, log-variances in [-2, 2], explicit noise and weights for a linear read-out."""
    return {"mu": torch.randn(n, d, dtype=dtype),
            "logvar": (4 * torch.rand(n, d) - 2).to(dtype),
            "eps": torch.randn(n, d, dtype=dtype),
            "w": torch.randn(n, d, dtype=dtype)}


def probe_reparam_explicit(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> dict[str, Any]:
    """z for the given eps, and the gradients of sum(w * z) w.r.t. mu and logvar."""
    mu, logvar = _leaf(inputs["mu"]), _leaf(inputs["logvar"])
    z = ns["reparameterize"](mu, logvar, inputs["eps"])
    out: dict[str, Any] = {"z": z, "grad_mu": None, "grad_logvar": None}
    if isinstance(z, torch.Tensor) and z.requires_grad:
        grads = torch.autograd.grad((z * inputs["w"]).sum(), (mu, logvar), allow_unused=True)
        out["grad_mu"], out["grad_logvar"] = grads
    return out


def _std_hints(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
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
                 hints=_std_hints(mu, logvar, eps))
    if not _has_graph(z):
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


def judge_reparam_reference(j: Judgement) -> None:
    mu = j.inputs["mu"]
    z = expect_tensor(j.got["z"], "reparameterize(mu, logvar, eps)", shape=tuple(mu.shape),
                      dtype=mu.dtype, device=j.device)
    expect_close(z, j.ref["z"], "z", reveal=False,
                 hints=_std_hints(mu, j.inputs["logvar"], j.inputs["eps"]))
    for key, name in (("grad_mu", "mu"), ("grad_logvar", "logvar")):
        if j.got[key] is None:
            raise CheckFailed(NO_GRAD.format(what=name) + ".")
        expect_close(j.got[key], j.ref[key], f"the gradient w.r.t. {name}", reveal=False)


STATS_N = 20_000


def stats_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """N rows, one log-variance per column (small, unit and large variances)."""
    logvar = torch.tensor([-2.0, 0.0, 1.5], dtype=dtype).expand(STATS_N, 3).clone()
    return {"mu": torch.randn(STATS_N, 1, dtype=dtype).expand(STATS_N, 3) * 3, "logvar": logvar}


def probe_reparam_random(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                         ) -> dict[str, Any]:
    """eps=None: a big sample with gradients of sum(z), plus two draws after the same seed."""
    fn = ns["reparameterize"]
    again = []
    for _ in range(2):
        _seed(5, ctx)
        again.append(fn(inputs["mu"][:4], inputs["logvar"][:4]))
    _seed(6, ctx)
    mu, logvar = _leaf(inputs["mu"]), _leaf(inputs["logvar"])
    z = fn(mu, logvar)
    out: dict[str, Any] = {"z": z, "again": again, "grad_mu": None, "grad_logvar": None}
    if isinstance(z, torch.Tensor) and z.requires_grad:
        out["grad_mu"], out["grad_logvar"] = torch.autograd.grad(z.sum(), (mu, logvar),
                                                                 allow_unused=True)
    return out


def judge_reparam_random(j: Judgement) -> None:
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
    if not _has_graph(z) or j.got["grad_mu"] is None or j.got["grad_logvar"] is None:
        raise CheckFailed(NO_GRAD.format(what="mu and logvar when eps is None") + ".")
    expect_close(j.got["grad_mu"], torch.ones_like(mu), "d sum(z) / d mu", reveal=True)
    expect_close(j.got["grad_logvar"], 0.5 * (z - mu), "d sum(z) / d logvar (it equals "
                 "(z - mu) / 2 for the sample drawn)", reveal=True, rtol=1e-3, atol=1e-4, hints={
                     "the factor 1/2 from d exp(logvar / 2) / d logvar is missing": z - mu})


# ----------------------------------------------------- gradient estimators (shared parts)
REPS = 40
SAMPLES = 4000


def estimator_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    """Three coordinates with positive and negative log-sigma; coefficients of f."""
    return {"mu": torch.tensor([0.5, -0.8, 0.3], dtype=dtype),
            "log_sigma": torch.tensor([0.4, -0.3, 0.1], dtype=dtype),
            "a": torch.tensor([1.0, -0.5, 0.8], dtype=dtype),
            "c": torch.tensor([0.5, 0.7, -0.4], dtype=dtype),
            "b": torch.tensor([1.0, 0.6, -0.8], dtype=dtype)}


def f_quadratic(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    a, c = inputs["a"], inputs["c"]
    return lambda z: (a * z + c * z**2).sum(-1)


def f_step(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A black box: a step function whose output carries no gradient."""
    b = inputs["b"]
    return lambda z: ((z.detach() > 0).to(z.dtype) * b).sum(-1)


def f_mixed(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Differentiable output, but autograd misses the step part of its true derivative."""
    quad, step = f_quadratic(inputs), f_step(inputs)
    return lambda z: quad(z) + step(z)


def f_sine(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    a = inputs["a"]
    return lambda z: (a * torch.sin(z)).sum(-1)


F_MAKERS = {"quadratic": f_quadratic, "step": f_step, "mixed": f_mixed, "sine": f_sine}


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


def error_record(exc: BaseException) -> dict[str, str]:
    """An exception raised by student code, as data for the judge."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"error": type(exc).__name__, "message": text}


def probe_estimator(symbol: str, kind: str, reps: int = REPS, samples: int = SAMPLES
                    ) -> Callable[[dict[str, Any], dict[str, Any], ProbeContext], Any]:
    """Call the estimator ``reps`` times on f of the given kind; errors are reported, not raised."""

    def probe(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
        f = F_MAKERS[kind](inputs)
        seen: list[bool] = []

        def watched(z: torch.Tensor) -> torch.Tensor:
            seen.append(bool(getattr(z, "requires_grad", False)))
            return f(z)

        calls = []
        try:
            for _ in range(reps):
                calls.append(ns[symbol](watched, inputs["mu"].clone(),
                                        inputs["log_sigma"].clone(), samples))
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - the judge explains the failure
            return {**error_record(exc), "f_saw_grad": any(seen)}
        return {"calls": calls, "f_saw_grad": any(seen)}

    probe.__name__ = f"probe_{symbol}_{kind}"
    return probe


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


def judge_unbiased(what: str, kind: str, on_error: str,
                   hints: Callable[[dict[str, Any]], dict[str, tuple[torch.Tensor, torch.Tensor]]],
                   saw_grad_hint: str | None = None) -> Callable[[Judgement], None]:
    """CLT t-test of the estimator's mean against the closed-form gradient.

    The mean of R = REPS calls is compared with the true gradient using the spread of the
    calls (t distribution, R - 1 degrees of freedom), Bonferroni over the 2 M coordinates:
    a correct estimator fails with probability at most RATE (each call averages SAMPLES
    independent terms, so it is close to Gaussian).
    """

    def judge(j: Judgement) -> None:
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

    return judge


def judge_matches_reference(what: str, on_error: str) -> Callable[[Judgement], None]:
    """Welch two-sample t-test: the student's and the reference's estimates have the same mean.

    Bonferroni over the 2 M coordinates; false-failure rate at most RATE (CLT).
    """

    def judge(j: Judgement) -> None:
        g_mu, g_ls = collect(j, what, on_error)
        r_mu = torch.stack([v[0].to(F64) for v in j.ref["calls"]])
        r_ls = torch.stack([v[1].to(F64) for v in j.ref["calls"]])
        tests = 2 * g_mu.shape[1]
        for name, got, ref in (("mu", g_mu, r_mu), ("log_sigma", g_ls, r_ls)):
            n1, n2 = got.shape[0], ref.shape[0]
            v1, v2 = got.var(0) / n1, ref.var(0) / n2
            se = torch.sqrt(v1 + v2).clamp_min(1e-9)
            t = (got.mean(0) - ref.mean(0)) / se
            dof = float(((v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1) + 1e-300)).min())
            thr = float(stats.t.isf(RATE / (2 * tests), max(dof, 2.0)))
            if bool((t.abs() > thr).any()):
                raise CheckFailed(f"the mean of {what}'s gradient w.r.t. {name} differs from the "
                                  f"reference's (Welch t = {float(t.abs().max()):.1f}, threshold "
                                  f"{thr:.1f} at false-failure rate {RATE:g}): the estimator is "
                                  "biased for this f.")

    return judge


# ----------------------------------------------------------------- pathwise_gradient
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


def probe_linear(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Three calls with linear f(z) = sum(a z): the pathwise grad_mu is exactly a every time."""
    a = inputs["a"]
    try:
        return [ns["pathwise_gradient"](lambda z: (a * z).sum(-1), inputs["mu"].clone(),
                                        inputs["log_sigma"].clone(), 64) for _ in range(3)]
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the judge explains the failure
        return error_record(exc)


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


def _pathwise_checks() -> tuple[Check, ...]:
    return (
        Check("grad_mu is exact for linear f (float32, dtype and device kept)", probe_linear,
              judge_linear, lambda: estimator_inputs(torch.float32), id="linear"),
        Check(f"unbiased for f(z) = sum(a z + c z^2) (t-test over {REPS} calls, false-failure "
              f"rate {RATE:g})", probe_estimator("pathwise_gradient", "quadratic"),
              judge_unbiased("pathwise_gradient", "quadratic", PATHWISE_ERROR, pathwise_hints),
              estimator_inputs, id="check"),
        Check("matches the reference's mean for f(z) = sum(a sin z) (Welch t-test)",
              probe_estimator("pathwise_gradient", "sine"),
              judge_matches_reference("pathwise_gradient", PATHWISE_ERROR),
              lambda: {**estimator_inputs(), "mu": torch.randn(3, dtype=F64)},
              id="matches_the_reference_s",
              hidden=True, seed=41),
    )


# ------------------------------------------------------------- score_function_gradient
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


def _score_checks() -> tuple[Check, ...]:
    return (
        Check(f"unbiased for f(z) = sum(a z + c z^2) (t-test over {REPS} calls, false-failure "
              f"rate {RATE:g})", probe_estimator("score_function_gradient", "quadratic"),
              judge_unbiased("score_function_gradient", "quadratic", SCORE_ERROR, score_hints,
                             THROUGH_F),
              estimator_inputs, id="check"),
        Check("unbiased for a black-box step function f whose output has no gradient (float32)",
              probe_estimator("score_function_gradient", "step"),
              judge_unbiased("score_function_gradient", "step", SCORE_ERROR, step_hints,
                             THROUGH_F),
              lambda: estimator_inputs(torch.float32), id="unbiased_for_a_black"),
        Check("unbiased for a differentiable f with a step (autograd's derivative is wrong)",
              probe_estimator("score_function_gradient", "mixed"),
              judge_unbiased("score_function_gradient", "mixed", SCORE_ERROR, mixed_hints,
                             THROUGH_F),
              estimator_inputs, id="unbiased_for_a_differentiable", hidden=True, seed=17),
        Check("matches the reference's mean for f(z) = sum(a sin z) (Welch t-test)",
              probe_estimator("score_function_gradient", "sine"),
              judge_matches_reference("score_function_gradient", SCORE_ERROR),
              lambda: {**estimator_inputs(), "mu": torch.randn(3, dtype=F64)},
              id="matches_the_reference_s",
              hidden=True, seed=43),
    )


# ------------------------------------------------------------------ gumbel_softmax
GUMBEL_N = 20_000
GUMBEL_HINTS = ("y = softmax((logits + g) / tau) with Gumbel noise g = -log(-log(u)), "
                "u ~ Uniform(0, 1), added to the logits")


def gumbel_inputs(dtype: torch.dtype = torch.float32, groups: int = 8, k: int = 6
                  ) -> dict[str, Any]:
    """``groups`` copies of ``groups`` different rows of logits: [groups * groups, k]."""
    rows = 1.5 * torch.randn(groups, k, dtype=dtype)
    return {"logits": rows.repeat(groups, 1), "tau": 0.7, "groups": groups}


def probe_gumbel(hard: bool = False) -> Callable[[dict[str, Any], dict[str, Any], ProbeContext],
                                                 Any]:
    def probe(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
        return ns["gumbel_softmax_sample"](inputs["logits"], inputs["tau"], hard=hard)

    probe.__name__ = f"probe_gumbel_hard_{hard}"
    return probe


def _on_simplex(y: Any, logits: torch.Tensor, j: Judgement, what: str) -> torch.Tensor:
    y = expect_tensor(y, what, shape=tuple(logits.shape), dtype=logits.dtype, device=j.device)
    expect_finite(y, what)
    sums = y.to(F64).sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
        raise CheckFailed(f"{what}: rows (last dimension) must sum to 1, found sums between "
                          f"{float(sums.min()):.4g} and {float(sums.max()):.4g}: apply the "
                          "softmax over the last dimension.")
    return y


def judge_gumbel_simplex(j: Judgement) -> None:
    y = _on_simplex(j.got, j.inputs["logits"], j, "gumbel_softmax_sample(logits, tau)")
    if not bool((y >= 0).all()) or float((y == 0).to(F64).mean()) > 0.5:
        raise CheckFailed("the relaxed sample must have positive entries (it is a softmax); "
                          "with hard=False do not round it to a one-hot.")
    g = j.inputs["groups"]
    if bool((y.reshape(g, g, -1).to(F64).std(0) < 1e-6).all()):
        raise CheckFailed(f"every row with the same logits gives the same sample: the noise is "
                          f"missing. {GUMBEL_HINTS}.")


def low_tau_inputs() -> dict[str, Any]:
    return {"logits": torch.randn(4000, 5, dtype=F64), "tau": 0.01}


def judge_gumbel_low_tau(j: Judgement) -> None:
    y = _on_simplex(j.got, j.inputs["logits"], j, "gumbel_softmax_sample(logits, tau=0.01)")
    top = float(y.to(F64).max(-1).values.mean())
    if top < 0.97:
        raise CheckFailed(f"at temperature tau = 0.01 samples should be almost one-hot, but the "
                          f"largest entry averages {top:.3f}: divide (logits + g) by tau before "
                          "the softmax.")


def frequency_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    row = torch.tensor([1.0, 0.5, 0.0, -0.5, -1.5], dtype=dtype)
    return {"logits": row.expand(GUMBEL_N, 5).clone(), "tau": 0.5}


def _simulate(logits: torch.Tensor, noise: str, n: int) -> torch.Tensor:
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
    y = _on_simplex(j.got, logits, j, "gumbel_softmax_sample")
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
        q = _simulate(group, noise, 200_000).clamp_min(1e-12)
        alt = float(((counts - n * q) ** 2 / (n * q)).sum())
        if alt <= thr:
            diagnosis = f" Likely cause: {concept}."
            break
    freq = [round(v, 3) for v in (counts / n).reshape(-1)[:k].tolist()]
    raise CheckFailed(f"the argmax of the samples does not follow softmax(logits): "
                      f"frequencies {freq} vs probabilities "
                      f"{[round(v, 3) for v in p.reshape(-1)[:k].tolist()]}. {GUMBEL_HINTS}. "
                      + evidence("chi-squared statistic", stat, thr, RATE) + "." + diagnosis)


def grouped_frequency_inputs() -> dict[str, Any]:
    """Logits [N, 3, 4]: three different rows of logits, each repeated N times."""
    rows = torch.randn(3, 4, dtype=F64) * 1.2
    return {"logits": rows.expand(GUMBEL_N // 2, 3, 4).clone(), "tau": 2.0}


def hard_inputs(dtype: torch.dtype = F64, shape: tuple[int, ...] = (32, 5)) -> dict[str, Any]:
    return {"logits": 1.5 * torch.randn(*shape, dtype=dtype), "tau": 0.8,
            "w": torch.randn(*shape, dtype=dtype)}


def probe_gumbel_hard(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Soft and hard samples after the same seed, with gradients of sum(w * y) w.r.t. logits."""
    fn, out = ns["gumbel_softmax_sample"], {}
    for hard in (False, True):
        _seed(11, ctx)
        logits = _leaf(inputs["logits"])
        y = fn(logits, inputs["tau"], hard=hard)
        grad = None
        if isinstance(y, torch.Tensor) and y.requires_grad:
            (grad,) = torch.autograd.grad((y * inputs["w"]).sum(), (logits,), allow_unused=True)
        out["hard" if hard else "soft"] = {"y": y, "grad": grad}
    return out


def judge_gumbel_hard(j: Judgement) -> None:
    logits = j.inputs["logits"]
    k = logits.shape[-1]
    soft = _on_simplex(j.got["soft"]["y"], logits, j, "gumbel_softmax_sample(hard=False)")
    hard = _on_simplex(j.got["hard"]["y"], logits, j, "gumbel_softmax_sample(hard=True)")
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
                     rtol=1e-3, atol=1e-6, hints={
                         "the gradient is tau times too large/small: divide by tau once":
                             soft_grad * j.inputs["tau"]})
    row_sums = grad.to(F64).sum(-1)
    if not torch.allclose(row_sums, torch.zeros_like(row_sums), atol=1e-5):
        raise CheckFailed("the straight-through gradient w.r.t. logits should sum to zero over "
                          "the categories (softmax is shift-invariant): pass the gradient of the "
                          "relaxed softmax sample straight through.")


# ---------------------------------------------------------------------------- tasks
TASKS = (
    Task("reparam.reparameterize", TOPIC, ("reparameterize",), 2.0, (
        Check("explicit eps: exact values and gradients w.r.t. mu and logvar (float64)",
              probe_reparam_explicit, judge_reparam_explicit, reparam_inputs,
              id="reparam_explicit"),
        Check(f"eps=None: N(mu, exp(logvar)) samples, global RNG, gradients flow (float32; "
              f"false-failure rate {RATE:g})", probe_reparam_random, judge_reparam_random,
              stats_inputs, id="reparam_random"),
        Check("explicit eps matches the reference (float32, 3-D batch)", probe_reparam_explicit,
              judge_reparam_reference, lambda: {
                  k: v.reshape(2, 3, 4) for k, v in
                  reparam_inputs(torch.float32, 6, 4).items()},
              id="reparam_reference", hidden=True, seed=5),
        Check("eps=None samples have the right distribution (float64, other seed)",
              probe_reparam_random, judge_reparam_random, lambda: stats_inputs(F64),
              id="reparam_random_hidden",
              hidden=True, seed=77),
    ), description="z = mu + exp(logvar / 2) * eps"),
    Task("reparam.pathwise", TOPIC, ("pathwise_gradient",), 2.0, _pathwise_checks(),
         description="reparameterisation (pathwise) gradient estimator"),
    Task("reparam.score_function", TOPIC, ("score_function_gradient",), 3.0, _score_checks(),
         description="score-function (REINFORCE) gradient estimator"),
    Task("reparam.gumbel_softmax", TOPIC, ("gumbel_softmax_sample",), 3.0, (
        Check("relaxed samples lie on the simplex, positive (float32)",
              probe_gumbel(), judge_gumbel_simplex, gumbel_inputs, id="simplex"),
        Check("near one-hot at tau = 0.01 (float64)", probe_gumbel(), judge_gumbel_low_tau,
              low_tau_inputs, id="low_tau"),
        Check(f"argmax frequencies follow softmax(logits) (chi-squared, false-failure rate "
              f"{RATE:g})", probe_gumbel(), judge_gumbel_frequencies, frequency_inputs,
              id="frequencies",
              weight=2.0),
        Check("hard=True: one-hot forward, straight-through gradient of the relaxed sample",
              probe_gumbel_hard, judge_gumbel_hard, hard_inputs, id="hard", weight=2.0),
        Check("frequencies over the last dimension of a 3-D batch (float64)", probe_gumbel(),
              judge_gumbel_frequencies, grouped_frequency_inputs,
              id="frequencies_hidden", hidden=True, seed=8),
        Check("hard=True on a 3-D float32 batch", probe_gumbel_hard, judge_gumbel_hard,
              lambda: hard_inputs(torch.float32, (4, 3, 6)), id="hard_hidden", hidden=True, seed=9),
    ), description="Gumbel-softmax relaxation and straight-through estimator"),
)
