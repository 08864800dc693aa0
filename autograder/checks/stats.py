"""Statistical tests for stochastic checks, each with a stated false-failure rate."""

from __future__ import annotations

import math

import torch

FALSE_FAILURE_RATE = 1e-6


def chi2_threshold(dof: int, rate: float = FALSE_FAILURE_RATE) -> float:
    """The value a chi-squared(dof) statistic exceeds with probability ``rate``
    (``scipy.stats.chi2.isf``, computed by the same special function without importing
    ``scipy.stats``, a second of start-up)."""
    from scipy import special  # imported when a statistic is judged, not with every topic

    return float(special.chdtri(dof, rate))


def normal_threshold(rate: float = FALSE_FAILURE_RATE) -> float:
    """|z| exceeded with probability ``rate`` (two-sided) by a standard normal
    (``scipy.stats.norm.isf(rate / 2)``, by the same special function)."""
    from scipy import special

    return float(-special.ndtri(rate / 2))


def gaussian_mean_statistic(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
                            ) -> float:
    """n (x̄-μ)ᵀ Σ⁻¹ (x̄-μ): exactly chi-squared with D dof for samples from N(μ, Σ)."""
    x = samples.to(torch.float64)
    diff = x.mean(0) - mean.to(torch.float64)
    sol = torch.linalg.solve(cov.to(torch.float64), diff)
    value = float(x.shape[0] * diff @ sol)
    return value if math.isfinite(value) else math.inf  # NaN must never pass a threshold


def gaussian_cov_statistic(samples: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
                           ) -> float:
    """Likelihood-ratio statistic for Σ with μ known: asymptotically chi-squared, D(D+1)/2 dof.

    n [tr(Σ⁻¹S) − log det(Σ⁻¹S) − D] with S = mean of (x−μ)(x−μ)ᵀ. Samples whose
    covariance is singular (e.g. the noise term left out, so every draw lies on a subspace) or
    not finite are infinitely unlikely under a full-rank Σ: the statistic is then +inf, never
    NaN (a NaN would pass every ``>`` threshold test).
    """
    x = samples.to(torch.float64) - mean.to(torch.float64)
    n, d = x.shape
    s = x.T @ x / n
    a = torch.linalg.solve(cov.to(torch.float64), s)
    sign, logdet = torch.linalg.slogdet(a)
    value = float(n * (torch.trace(a) - logdet - d))
    if float(sign) <= 0 or not math.isfinite(value):
        return math.inf
    return value


def evidence(statistic: str, value: float, threshold: float,
             rate: float = FALSE_FAILURE_RATE) -> str:
    """How a statistical check decided, said after what was wrong: '(statistic … > …)'."""
    return (f"({statistic} = {value:.4g}, above the threshold {threshold:.4g}; a correct answer "
            f"fails this test with probability {rate:g})")


def z_statistic(values: torch.Tensor, expected: float) -> tuple[float, float, float]:
    """(mean, standard error, z) of iid draws against an expected mean; z is +inf when the
    draws are not all finite (a NaN would pass every ``z > limit`` test)."""
    v = values.detach().to(torch.float64).reshape(-1)
    mean = float(v.mean())
    se = float(v.std() / math.sqrt(v.numel())) if v.numel() > 1 else 0.0
    slack = 1e-5 * abs(expected) + 1e-6  # float32 rounding of the per-draw values
    z = abs(mean - expected) / (se + slack) if se > 0 else abs(mean - expected) / slack
    return mean, se, (z if math.isfinite(z) else math.inf)
