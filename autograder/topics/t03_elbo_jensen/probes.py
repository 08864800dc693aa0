"""Topic 03's probes: what runs next to the notebook's code (torch and the API only).

The exact posterior a probe needs comes in its inputs (built in the grading process): a probe
never evaluates the model next to student code.
"""

from __future__ import annotations

from typing import Any

import sympy
import torch

from autograder.checks.api import ProbeContext, call

ELBO_ARGS = ("x", "W", "b", "sigma2", "q_mean", "q_cov")
"""The arguments of ``ppca_elbo`` and ``elbo_gap``, in order."""

elbo = call("ppca_elbo", *ELBO_ARGS)
gap = call("elbo_gap", *ELBO_ARGS)


def probe_lme_dim1(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """log_mean_exp(a, 1)."""
    return ns["log_mean_exp"](inputs["a"], 1)


def posterior_on(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact posterior that ``with_posterior`` put in the inputs."""
    return inputs["post_mean"], inputs["post_cov"]


def probe_lme_dims(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return [ns["log_mean_exp"](inputs["a"], dim) for dim in (0, 1, -1)]


def log_joint_for(inputs: dict[str, Any], n: int, m: int, seen: list[tuple[int, ...]]) -> Any:
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


def q_for(inputs: dict[str, Any], ctx: ProbeContext, loc: torch.Tensor | None = None
           ) -> torch.distributions.Distribution:
    kind = inputs["q_kind"]
    if kind == "posterior":
        mean, cov = posterior_on(inputs)
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
    q = q_for(inputs, ctx)
    out = ns["elbo_mc"](inputs["x"], log_joint_for(inputs, n, m, seen), q, inputs["n_samples"])
    return out, [list(s) for s in seen]


def probe_mc_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The gradient of sum_n ELBO_n with respect to q's mean (None if none flows)."""
    n, m = inputs["x"].shape[0], inputs["W"].shape[1]
    loc = inputs["q_mean"].clone().requires_grad_(True)
    q = q_for(inputs, ctx, loc=loc)
    out = ns["elbo_mc"](inputs["x"], log_joint_for(inputs, n, m, []), q, inputs["n_samples"])
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return out, None
    out.sum().backward()
    return out, loc.grad


def probe_elbo_touches(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The ELBO at the exact posterior and at q with a scaled covariance and shifted mean."""
    mean, cov = posterior_on(inputs)
    fn = ns["ppca_elbo"]
    args = (inputs["x"], inputs["W"], inputs["b"], inputs["sigma2"])
    return fn(*args, mean, cov), fn(*args, mean + 0.3, 1.7 * cov)


def probe_gap_at_posterior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mean, cov = posterior_on(inputs)
    args = (inputs["x"], inputs["W"], inputs["b"], inputs["sigma2"])
    return ns["elbo_gap"](*args, mean, cov), ns["elbo_gap"](*args, inputs["q_mean"],
                                                             inputs["q_cov"])


# ------------------------------------------------------------------ exam practice (sympy)
def gap_1d_symbols() -> tuple[Any, Any, Any, Any]:
    """x, s2, m, v: the data point, the noise variance, q's mean and q's variance."""
    x, m = sympy.symbols("x m", real=True)
    s2, v = sympy.symbols("s2 v", positive=True)
    return x, s2, m, v


def probe_gap_1d(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """gap_1d_sympy(x, s2, m, v) with symbols."""
    return ns["gap_1d_sympy"](*gap_1d_symbols())


def probe_gap_1d_numbers(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """gap_1d_sympy with numbers: x = -1, s2 = 1/4, m = 1/2, v = 3."""
    return ns["gap_1d_sympy"](sympy.Integer(-1), sympy.Rational(1, 4), sympy.Rational(1, 2),
                              sympy.Integer(3))


def probe_mean_field(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """mean_field_gaps_sympy(rho) with a real symbol rho."""
    return ns["mean_field_gaps_sympy"](sympy.Symbol("rho", real=True))


def probe_mean_field_entries(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                             ) -> Any:
    """mean_field_gaps_sympy for the correlation of the covariance [[s11, s12], [s12, s22]]."""
    s11, s22 = sympy.symbols("s11 s22", positive=True)
    s12 = sympy.Symbol("s12", real=True)
    return ns["mean_field_gaps_sympy"](s12 / sympy.sqrt(s11 * s22))
