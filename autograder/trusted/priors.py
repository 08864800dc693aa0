"""Topic 07's grading-process-only evaluations: mixture and aggregate-posterior densities,
hole fractions, and the test ELBO of a model rebuilt from trained weights.

Imported inside judge functions only (see the package docstring).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

F64 = torch.float64
LOG_2PI = math.log(2 * math.pi)


def gaussian_log_terms(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor
                       ) -> torch.Tensor:
    """Per-dimension log N(z_nm; mean_km, exp(logvar_km)): [N, K, M]."""
    diff = z[:, None, :] - means[None]
    return -0.5 * (diff**2 / logvars.exp()[None] + logvars[None] + LOG_2PI)


def mixture_log_density(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                        log_weights: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; mean_k, diag exp(logvar_k)) for z [N, M]: [N]."""
    return torch.logsumexp(log_weights + gaussian_log_terms(z, means, logvars).sum(-1), dim=-1)


def mixture_bug_values(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                       logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """What the classic mistakes in a mixture log-density return, by diagnosis."""
    log_pi = torch.log_softmax(logits, -1)
    terms = gaussian_log_terms(z, means, logvars)
    per_dim = torch.logsumexp(log_pi[:, None] + terms, dim=1).sum(-1)
    lse = torch.logsumexp
    return {
        "a per-dimension mixture: the logsumexp over components came before the sum over the M "
        "latent dimensions, which gives a product of 1-D mixtures; sum log N over the "
        "dimensions first, then take the logsumexp over components": per_dim,
        "unnormalised weights: the logits were used as log pi; normalise them with "
        "log_softmax (or softmax, then log)": lse(logits + terms.sum(-1), -1),
        "the mixture weights were added to the log-densities (pi_k + log N_k) instead of "
        "multiplied with the densities: in log space add log pi_k": lse(
            log_pi.exp() + terms.sum(-1), -1),
        "the weights were added to the densities (pi_k + N_k) instead of multiplied: "
        "log sum_k pi_k N_k = logsumexp_k(log pi_k + log N_k)": torch.log(
            (log_pi.exp() + terms.sum(-1).exp()).sum(-1)),
        "std/log-variance confusion: exp(logvar) was used as the standard deviation; "
        "std = exp(logvar / 2)": mixture_log_density(z, means, 2 * logvars, log_pi),
        "std/log-variance confusion: exp(logvar / 2) was used as the variance; the variance "
        "is exp(logvar)": mixture_log_density(z, means, 0.5 * logvars, log_pi),
    }


def aggregate_log_density(z: torch.Tensor, q_means: torch.Tensor, q_logvars: torch.Tensor,
                          chunk: int = 512) -> torch.Tensor:
    """log (1/n) sum_i N(z; q_mean_i, diag exp(q_logvar_i)) for z [N, M], chunked: [N]."""
    parts = []
    for start in range(0, z.shape[0], chunk):
        block = gaussian_log_terms(z[start:start + chunk], q_means, q_logvars).sum(-1)
        parts.append(torch.logsumexp(block, dim=1))
    return torch.cat(parts) - math.log(q_means.shape[0])


def aggregate_bug_values(z: torch.Tensor, q_means: torch.Tensor, q_logvars: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
    """What the classic mistakes in an aggregate-posterior density return, by diagnosis."""
    right = aggregate_log_density(z, q_means, q_logvars)
    n = q_means.shape[0]
    terms = gaussian_log_terms(z, q_means, q_logvars)
    return {
        "the -log n is missing: q(z) is the MEAN of the n posteriors, "
        "log q(z) = logsumexp_i log N(z; mu_i, sigma_i^2) - log n": right + math.log(n),
        "std/log-variance confusion: exp(logvar) was used as the standard deviation; "
        "std = exp(logvar / 2)": aggregate_log_density(z, q_means, 2 * q_logvars),
        "std/log-variance confusion: exp(logvar / 2) was used as the variance": (
            aggregate_log_density(z, q_means, 0.5 * q_logvars)),
        "a per-dimension mixture: the logsumexp over data points came before the sum over "
        "the latent dimensions": (torch.logsumexp(terms, 1) - math.log(n)).sum(-1),
    }


def hole_fraction_exact(sample: Callable[[int], torch.Tensor],
                        log_prob: Callable[[torch.Tensor], torch.Tensor],
                        q_means: torch.Tensor, q_logvars: torch.Tensor, ratio: float,
                        n: int = 100_000) -> dict[str, float]:
    """Monte Carlo (large n) fraction of prior samples where q(z) < ratio * p(z), with the
    fractions the classic mistakes would estimate (``from_posterior``: points drawn from the
    aggregate posterior instead of the prior)."""
    z = sample(n).to(F64)
    log_q = aggregate_log_density(z, q_means.to(F64), q_logvars.to(F64))
    log_p = log_prob(z).to(F64)
    lr = math.log(ratio)
    pick = torch.randint(0, q_means.shape[0], (n,))
    z_q = q_means[pick].to(F64) + torch.exp(0.5 * q_logvars[pick].to(F64)) * torch.randn(
        n, q_means.shape[1], dtype=F64)
    from_q = aggregate_log_density(z_q, q_means.to(F64), q_logvars.to(F64)) < \
        log_prob(z_q).to(F64) + lr
    return {"right": float((log_q < log_p + lr).double().mean()),
            "from_posterior": float(from_q.double().mean()),
            "greater": float((log_q > log_p + lr).double().mean()),
            "no_ratio": float((log_q < log_p).double().mean()),
            "inverse_ratio": float((log_q < log_p - lr).double().mean()),
            "missing_log_n": float((log_q + math.log(q_means.shape[0]) < log_p + lr)
                                   .double().mean())}


# --------------------------------------------------------- trained-model evaluation


def gaussian_head(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, logvar) of q(z|x) from an encoder network that outputs [mean, logvar]."""
    mean, logvar = torch.chunk(net(x), 2, dim=-1)
    return mean, logvar


def bernoulli_log_lik(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum over pixels of log Bernoulli(x; logits): [B]."""
    lp = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    return lp.reshape(x.shape[0], -1).sum(-1)


@torch.no_grad()
def test_elbo(encoder: nn.Module, decoder: nn.Module,
              prior_log_prob: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
              samples: int = 8, generator: torch.Generator | None = None) -> float:
    """Mean over x of the Monte Carlo ELBO log p(x|z) + log p(z) - log q(z|x), averaged
    over ``samples`` reparameterised draws per image."""
    mean, logvar = gaussian_head(encoder, x)
    std = torch.exp(0.5 * logvar)
    total = torch.zeros(x.shape[0], dtype=F64)
    for _ in range(samples):
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        z = mean + std * eps
        log_q = (-0.5 * (eps**2 + logvar + LOG_2PI)).sum(-1)
        total += (bernoulli_log_lik(decoder(z), x) + prior_log_prob(z) - log_q).to(F64)
    return float((total / samples).mean())


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I): [N]."""
    return -0.5 * (z**2 + LOG_2PI).sum(-1)


def mixture_sampler(log_weights: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor,
                    generator: torch.Generator) -> Callable[[int], torch.Tensor]:
    """A function n -> n samples of the Gaussian mixture."""

    def sample(n: int) -> torch.Tensor:
        k = torch.multinomial(log_weights.exp().double(), n, replacement=True,
                              generator=generator)
        eps = torch.randn(n, means.shape[-1], generator=generator, dtype=means.dtype)
        return means[k] + torch.exp(0.5 * logvars[k]) * eps

    return sample
