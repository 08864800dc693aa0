"""Topic 02's probes: what runs next to the notebook's code (torch, sympy and the API only)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy
import torch

from autograder.checks.api import ProbeContext, call

SEEDS = (11, 12)
"""The two seeds of ``kl_monte_carlo``'s estimates (they must differ)."""
MC_SAMPLES = 40_000
"""How many samples ``kl_monte_carlo`` draws per estimate."""

diag = call("kl_diag_gaussians", "mu_q", "logvar_q", "mu_p", "logvar_p")
standard_normal = call("kl_standard_normal", "mu", "logvar")
mvn = call("kl_mvn", "mu0", "cov0", "mu1", "cov1")
forward = call("fit_gaussian_forward_kl", "samples")


def sympy_symbols() -> tuple[Any, Any, Any, Any]:
    mu1, mu2 = sympy.symbols("mu1 mu2", real=True)
    s1, s2 = sympy.symbols("s1 s2", positive=True)
    return mu1, s1, mu2, s2


def probe_sympy_general(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return ns["kl_normal_sympy"](*sympy_symbols())


def probe_sympy_equal(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mu = sympy.Symbol("mu", real=True)
    s = sympy.Symbol("s", positive=True)
    return ns["kl_normal_sympy"](mu, s, mu, s)


def probe_sympy_numbers(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return ns["kl_normal_sympy"](sympy.Integer(1), sympy.Integer(2), sympy.Rational(-1, 2),
                                 sympy.Rational(3, 2))


def diag_args(inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    return tuple(inputs[k] for k in ("mu_q", "logvar_q", "mu_p", "logvar_p"))


def probe_diag_properties(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                          ) -> Any:
    """KL(q || p) with p broadcast, with p expanded, of q with itself, of each dimension alone,
    and after mapping both Gaussians by x -> 3x - 1 (logvar + 2 log 3)."""
    fn = ns["kl_diag_gaussians"]
    mu_q, lv_q, mu_p, lv_p = diag_args(inputs)
    shift = 2 * math.log(3.0)
    return {"kl": fn(mu_q, lv_q, mu_p, lv_p),
            "expanded": fn(mu_q, lv_q, mu_p.expand_as(mu_q).clone(), lv_p.expand_as(lv_q).clone()),
            "self": fn(mu_q, lv_q, mu_q.clone(), lv_q.clone()),
            "per_dim": [fn(mu_q[..., k:k + 1], lv_q[..., k:k + 1], mu_p[k:k + 1], lv_p[k:k + 1])
                        for k in range(mu_q.shape[-1])],
            "mapped": fn(3 * mu_q - 1, lv_q + shift, 3 * mu_p - 1, lv_p + shift)}


def probe_diag_invariants(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    fn = ns["kl_diag_gaussians"]
    mu_q, lv_q, mu_p, lv_p = diag_args(inputs)
    return fn(mu_q, lv_q, mu_p, lv_p), fn(mu_q, lv_q, mu_q.clone(), lv_q.clone())


def probe_std_zero(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    zeros = torch.zeros(4, 6, 8, device=ctx.device)
    return ns["kl_standard_normal"](zeros, zeros.clone())


def mvn_args(inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    return tuple(inputs[k] for k in ("mu0", "cov0", "mu1", "cov1"))


def probe_mvn_batch(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    fn = ns["kl_mvn"]
    mu0, cov0, mu1, cov1 = mvn_args(inputs)
    diag_var = torch.rand(mu0.shape, dtype=mu0.dtype, device=ctx.device) + 0.5
    return (fn(mu0, cov0, mu1, cov1), fn(mu0, cov0, mu0.clone(), cov0.clone()),
            diag_var, fn(mu0, torch.diag_embed(diag_var), mu1, torch.diag_embed(1 / diag_var)))


def probe_mvn_scaled(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mu0, cov0, mu1, cov1 = mvn_args(inputs)
    return ns["kl_mvn"](mu0, cov0, mu1, cov1), ns["kl_mvn"](mu0, cov0, mu0.clone(), cov0.clone())


def make_dists(inputs: dict[str, Any]) -> tuple[Any, Any]:
    """q and p as torch.distributions objects (on the inputs' device)."""
    d = torch.distributions
    mq, sq, mp, sp = (inputs[k] for k in ("mq", "sq", "mp", "sp"))
    if inputs["kind"] == "normal":
        return d.Normal(mq, sq), d.Normal(mp, sp)
    if inputs["kind"] == "independent":
        return d.Independent(d.Normal(mq, sq), 1), d.Independent(d.Normal(mp, sp), 1)
    return d.MultivariateNormal(mq, covariance_matrix=sq), d.MultivariateNormal(mp,
                                                                                covariance_matrix=sp)


def probe_mc(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    q, p = make_dists(inputs)
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        if ctx.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        out.append(ns["kl_monte_carlo"](q, p, MC_SAMPLES))
    out.append(ns["kl_monte_carlo"](q, q, 100))
    return out


GAUSS_TARGET = (2.0, 0.5)


MIXTURE = (3.0, 0.5)


def make_log_p(kind: str, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """An elementwise log-density: N(2, 0.5^2), or the mixture 1/2 N(-3, .5^2) + 1/2 N(3, .5^2)."""
    if kind == "gauss":
        target = torch.distributions.Normal(torch.tensor(GAUSS_TARGET[0], device=device),
                                            torch.tensor(GAUSS_TARGET[1], device=device))
        return target.log_prob
    centre, scale = MIXTURE
    locs = torch.tensor([-centre, centre], device=device)
    comp = torch.distributions.Normal(locs, torch.full((2,), scale, device=device))

    def log_p(x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(comp.log_prob(x.unsqueeze(-1)), dim=-1) - math.log(2.0)

    return log_p


def probe_reverse(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The fit, and whether log_p ever saw points that carry gradients (reparameterisation)."""
    log_p = make_log_p(inputs["kind"], ctx.device)
    seen = {"grad": False}

    def tracked_log_p(x: torch.Tensor) -> torch.Tensor:
        seen["grad"] = seen["grad"] or bool(getattr(x, "requires_grad", False))
        return log_p(x)

    mu0 = torch.tensor(inputs["mu0"], device=ctx.device)
    sigma0 = torch.tensor(inputs["sigma0"], device=ctx.device)
    fit = ns["fit_gaussian_reverse_kl"](tracked_log_p, mu0, sigma0, inputs["steps"],
                                        inputs["lr"])
    return fit, seen["grad"]


def mean_field_symbols(names: tuple[str, str, str]) -> tuple[Any, Any, Any]:
    """The target's two standard deviations (positive) and its correlation (real), by name."""
    s1, s2 = (sympy.Symbol(n, positive=True) for n in names[:2])
    return s1, s2, sympy.Symbol(names[2], real=True)


def probe_exam_mean_field(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return ns["mean_field_variances"](*mean_field_symbols(inputs["names"]))


def probe_exam_log_ratio_variance(ns: dict[str, Any], inputs: dict[str, Any],
                                  ctx: ProbeContext) -> Any:
    return ns["kl_log_ratio_variance"](*sympy_symbols())


def probe_exam_log_ratio_variance_numbers(ns: dict[str, Any], inputs: dict[str, Any],
                                          ctx: ProbeContext) -> Any:
    return ns["kl_log_ratio_variance"](sympy.Integer(1), sympy.Integer(2),
                                       sympy.Rational(-1, 2), sympy.Rational(3, 2))
