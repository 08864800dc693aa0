"""PPCA's log-likelihood for the topic-01 judges (grading process only: a graded answer)."""

from __future__ import annotations

from typing import Any

import torch

from autograder.checks.compare import as_tensor

F64 = torch.float64


def log_likelihood(x: torch.Tensor, w: Any, b: Any, sigma2: Any) -> float:
    """Σ_n log N(x_n; b, W Wᵀ + σ² I), the quantity the MLE maximises."""
    w = as_tensor(w, "W").to(F64)
    b = as_tensor(b, "b").to(F64)
    s2 = float(as_tensor(sigma2, "sigma2"))
    cov = w @ w.T + s2 * torch.eye(x.shape[1], dtype=F64)
    dist = torch.distributions.MultivariateNormal(b, covariance_matrix=cov)
    return float(dist.log_prob(x.to(F64)).sum())
