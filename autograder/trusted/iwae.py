"""Grading-process-only references for topic 06 (IWAE): the bound, its gradients, PPCA's exact
posterior and log p(x), and the test bound of a trained model. Topic 06's ``hidden.py`` imports it.

A model is anything with ``prior()``, ``encoder(x)`` and ``decoder(z)`` returning
``torch.distributions`` objects whose event dims are the latent/data dims. Weights are laid out
[K, B]: sample index first, example second.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributions as td

F64 = torch.float64


def log_weights(model: Any, x: torch.Tensor, k: int) -> torch.Tensor:
    """log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k ~ q(z|x) reparameterised: [K, B]."""
    q = model.encoder(x)
    z = q.rsample(torch.Size([k]))
    return model.decoder(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)


def bound(log_w: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k exp(log_w[k]) per example: [K, B] -> [B]."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def ess(log_w: torch.Tensor) -> torch.Tensor:
    """(sum w)^2 / sum w^2 per example, from [K, B] log weights."""
    return torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))


def ppca_log_marginal(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, s: float
                      ) -> torch.Tensor:
    """Exact log N(x; b, W W^T + s^2 I) of PPCA for x [B, ...] flattened to [B, D]."""
    flat = x.reshape(x.shape[0], -1).to(F64)
    W, b = W.to(F64), b.to(F64)
    cov = W @ W.T + s**2 * torch.eye(W.shape[0], dtype=F64)
    return td.MultivariateNormal(b, covariance_matrix=cov).log_prob(flat)


def ppca_orthogonal_posterior(W: torch.Tensor, s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PPCA's exact posterior when the columns of W are orthogonal: q(z|x) = N(A (x - b),
    diag exp(logvar)); returns (A [M, D], logvar [M]) in W's dtype."""
    lam2 = (W**2).sum(0)
    return W.T / (lam2 + s**2)[:, None], torch.log(s**2 / (lam2 + s**2))


def ppca_elbo(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, s: float, mean: torch.Tensor,
              logvar: torch.Tensor) -> torch.Tensor:
    """Exact ELBO of PPCA (p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I)) with q = N(mean, diag
    exp(logvar)), per example: mean [B, M] (or [M]), logvar [M] -> [B]."""
    flat = x.reshape(x.shape[0], -1).to(F64)
    W, b, mean, var = W.to(F64), b.to(F64), mean.to(F64), logvar.to(F64).exp()
    resid = flat - mean @ W.T - b
    rec = -(resid**2).sum(-1) / (2 * s**2) - (var * (W**2).sum(0)).sum() / (2 * s**2)
    rec = rec - 0.5 * flat.shape[1] * math.log(2 * math.pi * s**2)
    kl = 0.5 * (mean**2 + var - 1 - var.log()).sum(-1)
    return rec - kl


def ppca_elbo_gradient(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, s: float,
                       mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """d ELBO / d [mean, logvar] for one example x [1, ...] and q = N(mean [M], exp(logvar))."""
    m = mean.to(F64).clone().requires_grad_(True)
    v = logvar.to(F64).clone().requires_grad_(True)
    elbo = ppca_elbo(x, W, b, s, m[None], v).sum()
    return torch.cat(torch.autograd.grad(elbo, (m, v)))


def mc_bound_draws(model: Any, x: torch.Tensor, k: int, chunk: int | None = None
                   ) -> torch.Tensor:
    """One K-sample bound per example of x ([B]); with ``chunk``, the per-chunk bounds averaged
    (the classic bug of chunked estimation, for diagnosis)."""
    with torch.no_grad():
        if chunk is None:
            return bound(log_weights(model, x, k))
        parts = [bound(log_weights(model, x, min(chunk, k - i))) for i in range(0, k, chunk)]
        return torch.stack(parts).mean(0)


def _weights_and_grads(model: Any, x: torch.Tensor, k: int, estimator: str
                       ) -> torch.Tensor:
    """A surrogate whose gradient is the ``iwae`` or ``dreg`` estimator of d mean-bound."""
    q = model.encoder(x)
    z = q.rsample(torch.Size([k]))
    if estimator == "iwae":
        return bound(model.decoder(z).log_prob(x) + model.prior().log_prob(z)
                     - q.log_prob(z)).mean()
    q_stop = td.Independent(td.Normal(q.mean.detach(), q.stddev.detach()), 1)
    with torch.no_grad():
        lw = model.decoder(z).log_prob(x) + model.prior().log_prob(z) - q_stop.log_prob(z)
        w = torch.softmax(lw, 0)
    z_hat = z.detach() + w.unsqueeze(-1) * (z - z.detach())
    lw = model.decoder(z_hat).log_prob(x) + model.prior().log_prob(z_hat) - q_stop.log_prob(z_hat)
    return (w * lw).sum(0).mean()


def gradient_draws(model: Any, x: torch.Tensor, k: int, estimator: str,
                   params: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """Gradients of the batch-mean bound w.r.t. ``params`` by the ``iwae`` or ``dreg`` estimator."""
    surrogate = _weights_and_grads(model, x, k, estimator)
    return list(torch.autograd.grad(surrogate, params, allow_unused=True))


def evaluate_bound(model: Any, x: torch.Tensor, k: int = 5, batch: int = 500) -> float:
    """Mean K-sample bound (nats) of the images x under a trained model."""
    total = 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            total += float(bound(log_weights(model, x[i:i + batch], k)).sum())
    return total / x.shape[0]
