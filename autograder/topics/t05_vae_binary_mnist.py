"""Topic 05: a VAE for binarized MNIST. Checks for the four graded classes.

Model: p(z) = N(0, I_M); q(z|x) = N(mean, diag(exp(logvar))) with [mean, logvar] = net(x);
p(x|z) = prod_pixels Bernoulli(logits = net(z)); ELBO(x) = E_q[log p(x|z)] - KL(q || p).

The ELBO and sampling checks drive the student's ``VAE`` with fixed modules defined here
(a linear Bernoulli decoder over a 2-D latent space), so the judge computes exact
expectations by Gauss-Hermite quadrature and tests the student's Monte Carlo output
statistically (false-failure rate ``FALSE_FAILURE_RATE`` per check). Any RNG order and an
analytic or Monte Carlo KL pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.distributions as td
from torch import nn
from torch.nn import functional as F

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task
from autograder.checks.compare import expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.payload import DistributionInfo

TOPIC = "05_vae_binary_mnist"
F64 = torch.float64
IMG = (28, 28)
D = IMG[0] * IMG[1]

# ------------------------------------------------------------------ shared helpers


def _is_dist(value: Any) -> bool:
    return isinstance(value, td.Distribution)


def summarize(d: Any, x: torch.Tensor | None = None, sample_shape: tuple[int, ...] = (3,)
              ) -> dict[str, Any]:
    """Probe-side: what a judge needs from a distribution (parameters, shapes, log-probs)."""
    if not _is_dist(d):
        return {"dist": d}
    out: dict[str, Any] = {"dist": d, "mean": d.mean, "stddev": d.stddev,
                           "sample": d.sample(torch.Size(sample_shape))}
    if x is not None:
        out["log_prob"] = d.log_prob(x)
    return out


def expect_dist(got: dict[str, Any], what: str, batch: tuple[int, ...], event: tuple[int, ...],
                base: str, independent_hint: str) -> DistributionInfo:
    """(A diagonal MultivariateNormal is accepted where Independent(Normal) is asked for.)"""
    """The returned object is an Independent(base) with the right batch and event shapes."""
    info = got.get("dist") if isinstance(got, dict) else got
    if not isinstance(info, DistributionInfo):
        raise CheckFailed(f"{what} should return a torch.distributions object, but it returned "
                          f"{_kind(info)}.")
    if tuple(info.event_shape) != event or tuple(info.batch_shape) != batch:
        hint = ""
        if len(info.event_shape) < len(event):
            hint = f" {independent_hint}"
        raise CheckFailed(f"{what} has batch_shape {list(info.batch_shape)} and event_shape "
                          f"{list(info.event_shape)}; expected {list(batch)} and {list(event)}."
                          f"{hint}")
    inner = info.base.type_name if info.base is not None else info.type_name
    if inner != base and not (base == "Normal" and inner == "MultivariateNormal"):
        raise CheckFailed(f"{what} should be built from td.{base}, not {inner}.")
    return info


def _kind(value: Any) -> str:
    from autograder.checks.compare import describe

    return describe(value)


def gauss_hermite(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights with sum_i w_i f(u_i) ~= E[f(u)], u ~ N(0, 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return torch.tensor(nodes, dtype=F64), torch.tensor(weights / math.sqrt(2 * math.pi),
                                                        dtype=F64)


def grid_2d(mean: torch.Tensor, std: torch.Tensor, n: int = 40
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quadrature points z [n*n, 2], standard normal nodes u [n*n, 2], weights [n*n]."""
    u1, w1 = gauss_hermite(n)
    u = torch.cartesian_prod(u1, u1)
    w = torch.outer(w1, w1).reshape(-1)
    return mean.to(F64) + std.to(F64) * u, u, w


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """sum over the last two dims of log Bernoulli(x; logits), stably."""
    lp = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    return lp.sum((-2, -1))


def linear_logits(z: torch.Tensor, W: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """[..., M] -> [..., 28, 28] logits W z + c."""
    return (z @ W.T + c).reshape(*z.shape[:-1], *IMG)


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over the last dim."""
    return 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)


def reverse_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(0, I) || N(mean, exp(logvar))) summed over the last dim."""
    return 0.5 * ((1 + mean**2) / logvar.exp() - 1 + logvar).sum(-1)


def z_statistic(values: torch.Tensor, expected: float) -> tuple[float, float, float]:
    """(mean, standard error, z) of iid draws against an expected mean."""
    v = values.detach().to(F64).reshape(-1)
    mean = float(v.mean())
    se = float(v.std() / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
    slack = 1e-5 * abs(expected) + 1e-6  # float32 rounding of the per-draw values
    z = abs(mean - expected) / (se + slack) if se > 0 else abs(mean - expected) / slack
    return mean, se, z


# ----------------------------------------------------------------- fixed modules


class FixedPrior(nn.Module):
    """N(0, I_M) with buffers (the probes' own prior; attribute names as in the notebook)."""

    def __init__(self, M: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.M = self.latent_dim = M
        self.register_buffer("mean", torch.zeros(M, dtype=dtype))
        self.register_buffer("std", torch.ones(M, dtype=dtype))

    def forward(self) -> td.Distribution:
        return td.Independent(td.Normal(self.mean, self.std), 1)


class RowEncoder(nn.Module):
    """q(z|x_i) = N(theta_i[:M], exp(theta_i[M:])): one free parameter row per example."""

    def __init__(self, theta: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        if x.shape[0] != self.theta.shape[0]:
            raise ValueError("the encoder was called on a batch of the wrong size")
        mean, logvar = self.theta.chunk(2, dim=-1)
        return td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)


class LinearDecoder(nn.Module):
    """p(x|z) = Bernoulli(logits = W z + c) over 28x28 pixels."""

    def __init__(self, W: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("W", W.clone())
        self.register_buffer("c", c.clone())

    def forward(self, z: torch.Tensor) -> td.Distribution:
        return td.Independent(td.Bernoulli(logits=linear_logits(z, self.W, self.c)), 2)


# --------------------------------------------------------------------- vae.prior


def prior_inputs() -> dict[str, Any]:
    return {"M": 3, "z": torch.randn(5, 3)}


def probe_prior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](inputs["M"]).to(ctx.device)
    return summarize(prior(), inputs["z"], (4,))


def judge_prior(j: Judgement) -> None:
    m, z = j.inputs["M"], j.inputs["z"]
    expect_dist(j.got, "GaussianPrior(3)()", (), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that the M latent dimensions "
                "form one event (log_prob sums over them).")
    got = j.got
    expect_close(expect_tensor(got["mean"], "the prior's mean", device=j.device),
                 torch.zeros(m), "the prior's mean", reveal=True)
    expect_close(expect_tensor(got["stddev"], "the prior's stddev", device=j.device),
                 torch.ones(m), "the prior's standard deviation", reveal=True)
    expected = -0.5 * (z**2).sum(-1) - 0.5 * m * math.log(2 * math.pi)
    expect_close(got["log_prob"], expected, "log p(z) of the prior", reveal=True)
    expect_tensor(got["sample"], "prior().sample((4,))", shape=(4, m), device=j.device)


def probe_prior_dtype(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](2).to(ctx.device, torch.float64)
    return summarize(prior(), None, (3,))


def judge_prior_dtype(j: Judgement) -> None:
    expect_dist(j.got, "GaussianPrior(2)()", (), (2,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    mean = j.got["mean"]
    follows = isinstance(mean, torch.Tensor) and mean.dtype == F64
    if not follows:
        raise CheckFailed("after prior.to(torch.float64) the prior's parameters are still "
                          f"{getattr(mean, 'dtype', '?')}: store the mean and standard deviation "
                          "with self.register_buffer(...) in __init__, so .to(), .double() and "
                          ".cuda() move them with the module (plain attributes, or tensors "
                          "created in forward(), stay float32 on the CPU).")
    expect_tensor(mean, "the prior's mean", device=j.device)


def prior_hidden_inputs() -> dict[str, Any]:
    return {"M": 7, "z": 2.0 * torch.randn(10, 7)}


def judge_prior_reference(j: Judgement) -> None:
    m = j.inputs["M"]
    expect_dist(j.got, f"GaussianPrior({m})()", (), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    expect_close(j.got["log_prob"], j.ref["log_prob"], "log p(z) of the prior", reveal=False)


# ------------------------------------------------------------------- vae.encoder


def encoder_identity_inputs() -> dict[str, Any]:
    h = torch.randn(6, 8)
    return {"h": h, "z": torch.randn(6, 4)}


def probe_encoder_identity(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    """net = identity, so the 'network output' is the input h itself; plus a gradient test."""
    encoder = ns["GaussianEncoder"](nn.Identity()).to(ctx.device)
    out = summarize(encoder(inputs["h"]), inputs["z"], (2,))
    h = inputs["h"].clone().requires_grad_(True)
    q = encoder(h)
    z = q.rsample() if _is_dist(q) else None
    if z is not None and z.requires_grad:
        z.sum().backward()
    out["grad"] = h.grad
    return out


def _encoder_hints(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict, dict]:
    m = h.shape[-1] // 2
    mean, logvar = h[:, :m], h[:, m:]
    std = torch.exp(0.5 * logvar)
    std_hints = {
        "the network's second half is the LOG-VARIANCE: std = exp(logvar / 2); "
        "exp(logvar) is the variance, not the standard deviation (variance/log-variance "
        "confusion)": torch.exp(logvar),
        "the mean and log-variance halves are swapped (the first M outputs are the mean)":
            torch.exp(0.5 * mean),
    }
    mean_hints = {"the mean and log-variance halves are swapped (the first M outputs are the "
                  "mean, the last M the log-variance)": logvar}
    return mean, std, mean_hints, std_hints


def judge_encoder_identity(j: Judgement) -> None:
    h, z = j.inputs["h"], j.inputs["z"]
    b, m = h.shape[0], h.shape[1] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (b,), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that log q(z|x) sums over the "
                "M latent dimensions and has shape [B].")
    mean, std, mean_hints, std_hints = _encoder_hints(h)
    got = j.got
    expect_tensor(got["mean"], "q(z|x).mean", device=j.device)
    expect_close(got["mean"], mean, "q(z|x).mean (the first M outputs of the network)",
                 reveal=True, hints=mean_hints)
    expect_close(got["stddev"], std, "q(z|x).stddev (exp(logvar / 2))", reveal=True,
                 hints=std_hints)
    expected_lp = td.Independent(td.Normal(mean, std), 1).log_prob(z)
    expect_close(got["log_prob"], expected_lp, "log q(z|x)", reveal=True)
    grad = got.get("grad")
    if not isinstance(grad, torch.Tensor) or not torch.any(grad != 0):
        raise CheckFailed("q.rsample() carries no gradient back to the network's output: build "
                          "the Normal from the network's output with torch operations (no "
                          ".detach(), .item() or .numpy()).")


def linear_encoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"x": torch.bernoulli(torch.full((5, 3, 4), 0.4)).to(dtype),
            "W": 0.5 * torch.randn(2 * m, 12, dtype=dtype), "b": torch.randn(2 * m, dtype=dtype),
            "z": torch.randn(5, m, dtype=dtype)}


def probe_encoder_linear(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W, b = inputs["W"], inputs["b"]
    linear = nn.Linear(W.shape[1], W.shape[0]).to(ctx.device, W.dtype)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(b)
    encoder = ns["GaussianEncoder"](nn.Sequential(nn.Flatten(), linear))
    return summarize(encoder(inputs["x"]), inputs["z"], (2,))


def judge_encoder_linear(j: Judgement) -> None:
    x, W, b = j.inputs["x"], j.inputs["W"], j.inputs["b"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x) for x of shape [5, 3, 4]", (x.shape[0],), (m,),
                "Normal", "Wrap the Normal in td.Independent(..., 1).")
    h = x.reshape(x.shape[0], -1) @ W.T + b
    mean, std, mean_hints, std_hints = _encoder_hints(h)
    expect_tensor(j.got["mean"], "q(z|x).mean", dtype=x.dtype, device=j.device)
    expect_close(j.got["mean"], mean, "q(z|x).mean", reveal=True, hints=mean_hints)
    expect_close(j.got["stddev"], std, "q(z|x).stddev", reveal=True, hints=std_hints)
    expect_tensor(j.got["log_prob"], "log q(z|x)", shape=(x.shape[0],), device=j.device)
    expect_tensor(j.got["sample"], "q.sample((2,))", shape=(2, x.shape[0], m), device=j.device)


def judge_encoder_reference(j: Judgement) -> None:
    x, W = j.inputs["x"], j.inputs["W"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (x.shape[0],), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    for key, what in (("mean", "q(z|x).mean"), ("stddev", "q(z|x).stddev"),
                      ("log_prob", "log q(z|x)")):
        expect_tensor(j.got[key], what, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


# ------------------------------------------------------------------- vae.decoder


def decoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"z": torch.randn(5, m, dtype=dtype), "W": torch.randn(D, m, dtype=dtype),
            "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full((5, *IMG), 0.3)).to(dtype)}


def probe_decoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W, c = inputs["W"], inputs["c"]
    linear = nn.Linear(W.shape[1], D).to(ctx.device, W.dtype)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(c)
    decoder = ns["BernoulliDecoder"](nn.Sequential(linear, nn.Unflatten(-1, IMG)))
    return summarize(decoder(inputs["z"]), inputs["x"], (2,))


def judge_decoder(j: Judgement) -> None:
    z, W, c, x = (j.inputs[k] for k in ("z", "W", "c", "x"))
    b = z.shape[0]
    expect_dist(j.got, "BernoulliDecoder(net)(z)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2) so that the 28x28 pixels form "
                "one event: log p(x|z) must sum over both image dimensions and have shape [B].")
    logits = linear_logits(z, W, c)
    probs = torch.sigmoid(logits)
    mean = expect_tensor(j.got["mean"], "p(x|z).mean", shape=(b, *IMG), dtype=z.dtype,
                         device=j.device)
    expect_close(mean, probs, "p(x|z).mean (the pixel probabilities sigmoid(logits))",
                 reveal=True, hints={
                     "the network outputs LOGITS: pass them as Bernoulli(logits=...); applying "
                     "a sigmoid first and passing the result as logits treats probabilities "
                     "as logits": torch.sigmoid(probs),
                 })
    expected = bernoulli_log_prob(x, logits)
    expect_close(j.got["log_prob"], expected, "log p(x|z) (summed over the 28x28 pixels)",
                 reveal=True, rtol=1e-4, atol=1e-3)
    sample = expect_tensor(j.got["sample"], "p(x|z).sample((2,))", shape=(2, b, *IMG),
                           device=j.device)
    if not torch.all((sample == 0) | (sample == 1)):
        raise CheckFailed("samples of p(x|z) should be binary (0 or 1).")


def judge_decoder_reference(j: Judgement) -> None:
    b = j.inputs["z"].shape[0]
    expect_dist(j.got, "BernoulliDecoder(net)(z)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2).")
    for key, what in (("mean", "p(x|z).mean"), ("log_prob", "log p(x|z)")):
        expect_tensor(j.got[key], what, dtype=j.inputs["z"].dtype, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


# ---------------------------------------------------------------------- vae.elbo
ELBO_N = 4000


def elbo_inputs(dtype: torch.dtype = torch.float32, mean: tuple[float, float] = (1.5, -2.0),
                logvar: tuple[float, float] = (-2.0, -1.0)) -> dict[str, Any]:
    """One image x, replicated ELBO_N times, with a fixed q(z|x) and a linear decoder."""
    return {"W": 0.3 * torch.randn(D, 2, dtype=dtype), "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
            "q_mean": torch.tensor(mean, dtype=dtype), "q_logvar": torch.tensor(logvar,
                                                                                dtype=dtype)}


def _build_vae(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, n: int
               ) -> tuple[nn.Module, RowEncoder, torch.Tensor]:
    dtype = inputs["W"].dtype
    theta = torch.cat([inputs["q_mean"], inputs["q_logvar"]]).expand(n, 4).contiguous()
    encoder = RowEncoder(theta).to(ctx.device)
    decoder = LinearDecoder(inputs["W"], inputs["c"]).to(ctx.device)
    vae = ns["VAE"](FixedPrior(2, dtype).to(ctx.device), decoder, encoder)
    x = inputs["x"].expand(n, *IMG).contiguous()
    return vae, encoder, x


def probe_elbo(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, x = _build_vae(ns, inputs, ctx, ELBO_N)
    elbo = vae.elbo(x)
    return {"elbo": elbo.detach() if isinstance(elbo, torch.Tensor) else elbo,
            "loss": (lambda v: v.detach() if isinstance(v, torch.Tensor) else v)(vae(x))}


def exact_terms(inputs: dict[str, Any]) -> dict[str, float]:
    """E_q[log p(x|z)], KL(q||p), KL(p||q) and log p(x|E[z]), exactly (quadrature)."""
    W, c, x = (inputs[k].to(F64) for k in ("W", "c", "x"))
    mean, logvar = inputs["q_mean"].to(F64), inputs["q_logvar"].to(F64)
    z, _, w = grid_2d(mean, torch.exp(0.5 * logvar))
    rec = float((w * bernoulli_log_prob(x, linear_logits(z, W, c))).sum())
    return {"rec": rec, "kl": float(gaussian_kl(mean, logvar)),
            "rkl": float(reverse_kl(mean, logvar)),
            "rec_at_mean": float(bernoulli_log_prob(x, linear_logits(mean, W, c)))}


def _elbo_draws(j: Judgement, key: str = "elbo") -> torch.Tensor:
    got = j.got.get(key) if isinstance(j.got, dict) else j.got
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        raise CheckFailed("elbo(x) returned a single number: it must return one ELBO per example"
                          f", shape [B] = [{ELBO_N}] (do not average over the batch in elbo; "
                          "forward() takes the mean).")
    values = expect_tensor(got, "elbo(x)", shape=(ELBO_N,), dtype=j.inputs["W"].dtype,
                           device=j.device)
    expect_finite(values, "elbo(x)")
    return values


def judge_elbo_value(j: Judgement) -> None:
    values = _elbo_draws(j)
    t = exact_terms(j.inputs)
    expected = t["rec"] - t["kl"]
    mean, se, z = z_statistic(values, expected)
    limit = normal_threshold()
    if z <= limit:
        return
    m = 2
    hints = {
        "the KL term has the wrong sign: ELBO = E_q[log p(x|z)] - KL(q || p)": t["rec"] + t["kl"],
        "the KL term is missing": t["rec"],
        "the KL is averaged over the latent dimensions where it must be summed":
            t["rec"] - t["kl"] / m,
        "KL(p || q) was used; the ELBO needs KL(q || p) (KL direction)": t["rec"] - t["rkl"],
        "the KL has a spurious factor 2 (a missing 1/2)": t["rec"] - 2 * t["kl"],
        "the reconstruction term is averaged over pixels where it must be summed":
            t["rec"] / D - t["kl"],
    }
    named = [text for text, value in hints.items()
             if abs(mean - value) <= limit * (se + 1e-5 * abs(value) + 1e-6)]
    if se == 0.0:
        named.append("elbo(x) gave exactly the same value for every draw: z must be a random "
                     "(reparameterised) sample z = q.rsample(), not the mean of q")
    message = (f"the average of {ELBO_N} draws of elbo(x) is {mean:.3f} ± {se:.3f}, but the "
               f"exact ELBO is {expected:.3f} (z = {z:.1f} standard errors; threshold "
               f"{limit:.1f} at false-failure rate {FALSE_FAILURE_RATE:g}).")
    if named:
        message += f" Likely cause: {named[0]}."
    raise CheckFailed(message)


def judge_forward(j: Judgement) -> None:
    values = _elbo_draws(j)
    loss = j.got.get("loss")
    if isinstance(loss, torch.Tensor) and loss.numel() != 1:
        raise CheckFailed(f"vae(x) returned a tensor of shape {list(loss.shape)}: forward must "
                          "return the scalar loss -elbo(x).mean() (averaged over the batch).")
    loss = expect_tensor(loss, "vae(x)", device=j.device)
    t = exact_terms(j.inputs)
    expected = t["rec"] - t["kl"]
    value = float(loss)
    _, se, _ = z_statistic(values, expected)
    tol = normal_threshold() * (se + 1e-5 * abs(expected) + 1e-6)
    if abs(value + expected) <= tol:
        return
    if abs(value - expected) <= tol:
        raise CheckFailed("vae(x) returns +ELBO: the loss to minimise is the NEGATIVE ELBO, "
                          "-elbo(x).mean().")
    if abs(value + expected * ELBO_N) <= tol * ELBO_N:
        raise CheckFailed("vae(x) sums the ELBO over the batch: the loss is the batch MEAN, "
                          "-elbo(x).mean(), so that the learning rate does not depend on the "
                          "batch size.")
    raise CheckFailed(f"vae(x) = {value:.3f}, but -E[elbo(x)] = {-expected:.3f}: forward should "
                      "return -elbo(x).mean().")


def grad_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """q = p = N(0, I): KL has zero gradient there, so only the reconstruction term's (through
    the reparameterised z) remains."""
    inputs = elbo_inputs(dtype, (0.0, 0.0), (0.0, 0.0))
    inputs["W"] = 0.6 * torch.randn(D, 2, dtype=dtype)
    return inputs


def probe_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, encoder, x = _build_vae(ns, inputs, ctx, ELBO_N)
    vae.elbo(x).sum().backward()
    return encoder.theta.grad


def expected_grad(inputs: dict[str, Any]) -> torch.Tensor:
    """E over q = N(0, I) of d elbo / d [mean, logvar] (only the reconstruction term)."""
    W, c, x = (inputs[k].to(F64) for k in ("W", "c", "x"))
    z, u, w = grid_2d(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64))
    resid = (x - torch.sigmoid(linear_logits(z, W, c))).reshape(z.shape[0], D)
    g = resid @ W  # d log p(x|z) / dz, [n, 2]
    d_mean = (w[:, None] * g).sum(0)
    d_logvar = (w[:, None] * g * u * 0.5).sum(0)
    return torch.cat([d_mean, d_logvar])


def judge_grad(j: Judgement) -> None:
    grad = j.got
    if grad is None:
        raise CheckFailed("no gradient reached the encoder: elbo(x) must depend on q's "
                          "parameters through a reparameterised sample z = q.rsample() "
                          "(.sample() cuts the gradient).")
    grad = expect_tensor(grad, "the encoder's gradient", shape=(ELBO_N, 4))
    expect_finite(grad, "the encoder's gradient")
    expected = expected_grad(j.inputs)
    g = grad.to(F64)
    mean, se = g.mean(0), g.std(0) / math.sqrt(ELBO_N)
    limit = normal_threshold(FALSE_FAILURE_RATE / 4)
    z = (mean - expected).abs() / (se + 1e-6)
    if bool((z <= limit).all()):
        return
    z_zero = mean[:2].abs() / (se[:2] + 1e-6)
    if bool((z_zero <= limit).all()) or not torch.any(grad != 0):
        raise CheckFailed("the reconstruction term passes no gradient to the encoder's mean: "
                          "z must be drawn with q.rsample() (the reparameterisation trick, "
                          "z = mean + std * eps), not q.sample(), which is detached.")
    raise CheckFailed(f"the average gradient of elbo(x) with respect to the encoder's "
                      f"[mean, logvar] is {[round(v, 3) for v in mean.tolist()]}, expected "
                      f"{[round(v, 3) for v in expected.tolist()]} (max z = {float(z.max()):.1f}"
                      f", threshold {limit:.1f}): is z = q.rsample() passed to the decoder?")


# -------------------------------------------------------------------- vae.sample
SAMPLE_N = 20_000


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    inputs = elbo_inputs(dtype)
    inputs["W"] = 1.5 * torch.randn(D, 2, dtype=dtype)
    return inputs


def probe_sample(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, _ = _build_vae(ns, inputs, ctx, 1)
    return vae.sample(SAMPLE_N)


def judge_sample(j: Judgement) -> None:
    W, c = j.inputs["W"], j.inputs["c"]
    got = j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (SAMPLE_N, 1, *IMG):
        raise CheckFailed("sample(n) has a spurious dimension of size 1: draw z with "
                          "prior().sample(torch.Size([n])), shape [n, M].")
    x = expect_tensor(got, f"sample({SAMPLE_N})", shape=(SAMPLE_N, *IMG), dtype=W.dtype,
                      device=j.device)
    if not torch.all((x == 0) | (x == 1)):
        raise CheckFailed("sample(n) returned non-binary values: return samples x ~ p(x|z) "
                          "(decoder(z).sample()), not the pixel probabilities decoder(z).mean.")
    z, _, w = grid_2d(torch.zeros(2, dtype=F64), torch.ones(2, dtype=F64))
    p = (w[:, None, None] * torch.sigmoid(linear_logits(z, W.to(F64), c.to(F64)))).sum(0)
    freq = x.to(F64).mean(0)
    se = (p * (1 - p) / SAMPLE_N).sqrt().clamp_min(1e-12)
    stat = ((freq - p).abs() / se).max()
    limit = normal_threshold(FALSE_FAILURE_RATE / D)
    if stat <= limit:
        return
    at_zero = torch.sigmoid(c.to(F64)).reshape(IMG)
    hint = ""
    if float(((freq - at_zero).abs() / se).max()) <= limit:
        hint = (" The pixel frequencies match z = 0 for every sample: draw z ~ p(z) with "
                "prior().sample(), not its mean.")
    raise CheckFailed(f"the pixel frequencies of sample(n) do not match the model's marginal "
                      f"p(x_d = 1) = E_z[sigmoid(logit_d(z))] (largest deviation {stat:.1f} "
                      f"standard errors, threshold {limit:.1f}): draw z from the prior, then x "
                      f"from decoder(z).{hint}")


# ------------------------------------------------------------------ vae.training
TRAIN_STEPS = 300
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
TEST_SUBSET = 1_000
TRAIN_M = 8
ELBO_THRESHOLD = -170.0


def training_inputs() -> dict[str, Any]:
    """The data root as the grading process sees it (children may not share its cwd)."""
    from autograder.paths import course_root
    from vaelib.data import data_root, has_mnist

    root = data_root()
    if not has_mnist(root) and has_mnist(course_root() / "data"):
        root = course_root() / "data"
    return {"root": str(root.resolve())}


def _mlp(sizes: tuple[int, ...]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers[:-1]


def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the student's classes with fixed nets and budget; evaluate the ELBO ourselves."""
    from vaelib.data import load_split

    dev = ctx.device
    train = load_split("train", "dynamic", root=inputs["root"], device=dev, limit=TRAIN_SUBSET)
    test = load_split("test", "fixed", root=inputs["root"], device=dev, limit=TEST_SUBSET)
    torch.manual_seed(0)
    enc_net = nn.Sequential(nn.Flatten(), *_mlp((D, 256, 2 * TRAIN_M)))
    dec_net = nn.Sequential(*_mlp((TRAIN_M, 256, D)), nn.Unflatten(-1, IMG))
    model = ns["VAE"](ns["GaussianPrior"](TRAIN_M), ns["BernoulliDecoder"](dec_net),
                      ns["GaussianEncoder"](enc_net)).to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    step, losses = 0, []
    while step < TRAIN_STEPS:
        for x in train.batches(TRAIN_BATCH, generator=gen):
            loss = model(x)
            if not torch.isfinite(loss):
                return {"elbo": float("nan"), "losses": losses, "diverged_at": step}
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if step == TRAIN_STEPS:
                break
    return {"elbo": independent_test_elbo(model, test.binary()), "losses": losses[::50]}


@torch.no_grad()
def independent_test_elbo(model: nn.Module, x: torch.Tensor, k: int = 4) -> float:
    """Mean ELBO of x under the trained encoder/decoder and N(0, I), computed here."""
    q = model.encoder(x)
    mean, std = q.mean, q.stddev
    kl = gaussian_kl(mean, 2 * std.log())
    rec = 0.0
    for _ in range(k):
        z = mean + std * torch.randn_like(std)
        lp = model.decoder(z).log_prob(x)
        rec = rec + (lp.reshape(x.shape[0], -1).sum(-1) if lp.dim() > 1 else lp)
    return float((rec / k - kl).mean())


def judge_training(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    elbo = got.get("elbo")
    if not isinstance(elbo, float):
        raise CheckFailed("the training run returned no ELBO.")
    if "diverged_at" in got:
        raise CheckFailed(f"training diverged: the loss became NaN/inf at step "
                          f"{got['diverged_at']} (check std = exp(logvar / 2) and logits vs "
                          "probabilities).")
    if math.isnan(elbo) or elbo < ELBO_THRESHOLD:
        raise CheckFailed(
            f"after {TRAIN_STEPS} Adam steps (batch {TRAIN_BATCH}, M = {TRAIN_M}, fixed "
            f"networks) the test ELBO is {elbo:.1f} nats; a correct VAE reaches above "
            f"{ELBO_THRESHOLD:.0f}. Usual causes: z drawn with .sample() instead of .rsample() "
            "(the encoder gets no reconstruction gradient), the KL sign, a loss of +ELBO "
            "instead of -ELBO, or probabilities passed as logits.")


# ------------------------------------------------------------------------- tasks
TASKS = (
    Task("vae.prior", TOPIC, ("GaussianPrior",), 1.0, (
        Check("standard normal over R^M as one event", probe_prior, judge_prior, prior_inputs),
        Check("parameters are buffers that follow .to(dtype/device)", probe_prior_dtype,
              judge_prior_dtype),
        Check("log p(z) matches the reference (M = 7)", probe_prior, judge_prior_reference,
              prior_hidden_inputs, hidden=True),
    ), description="p(z) = N(0, I_M)"),
    Task("vae.encoder", TOPIC, ("GaussianEncoder",), 2.0, (
        Check("mean and std = exp(logvar / 2) from the network output", probe_encoder_identity,
              judge_encoder_identity, encoder_identity_inputs),
        Check("shapes with a flattening linear network", probe_encoder_linear,
              judge_encoder_linear, linear_encoder_inputs),
        Check("matches the reference in float64", probe_encoder_linear, judge_encoder_reference,
              lambda: linear_encoder_inputs(F64, m=4), hidden=True, seed=5),
    ), description="q(z|x) = N(mean, exp(logvar))"),
    Task("vae.decoder", TOPIC, ("BernoulliDecoder",), 2.0, (
        Check("Bernoulli(logits) over 28x28 pixels as one event", probe_decoder, judge_decoder,
              decoder_inputs),
        Check("matches the reference in float64", probe_decoder, judge_decoder_reference,
              lambda: decoder_inputs(F64, m=5), hidden=True, seed=11),
    ), description="p(x|z) = prod Bernoulli(logits)"),
    Task("vae.elbo", TOPIC, ("VAE",), 3.0, (
        Check(f"E[elbo(x)] equals the exact ELBO (false-failure rate {FALSE_FAILURE_RATE:g})",
              probe_elbo, judge_elbo_value, elbo_inputs),
        Check("forward(x) is the loss -elbo(x).mean()", probe_elbo, judge_forward, elbo_inputs),
        Check("gradients reach the encoder through a reparameterised z", probe_grad,
              judge_grad, grad_inputs),
        Check("E[elbo(x)] is exact in float64 for another posterior", probe_elbo,
              judge_elbo_value, lambda: elbo_inputs(F64, (-0.5, 1.0), (-3.0, 0.5)),
              hidden=True, seed=17),
    ), timeout_s=90.0, description="ELBO = E_q[log p(x|z)] - KL(q || p)"),
    Task("vae.sample", TOPIC, ("VAE",), 1.0, (
        Check("pixel frequencies match the model's marginal", probe_sample, judge_sample,
              sample_inputs),
        Check("pixel frequencies match in float64 for another decoder", probe_sample,
              judge_sample, lambda: sample_inputs(F64), hidden=True, seed=23),
    ), description="ancestral sampling z ~ p(z), x ~ p(x|z)"),
    Task("vae.training", TOPIC, ("VAE",), 3.0, (
        Check(f"trains on MNIST: test ELBO > {ELBO_THRESHOLD:g} after {TRAIN_STEPS} steps",
              probe_training, judge_training, training_inputs),
    ), timeout_s=150.0, extra_symbols=("GaussianPrior", "GaussianEncoder", "BernoulliDecoder"),
        description="the four classes train a working VAE"),
)
