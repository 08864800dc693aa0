"""Inputs of topic 03's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

import math
from typing import Any

import torch

F64 = torch.float64


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


def mock_with_posterior() -> dict[str, Any]:
    """The mock exam with its exact posterior (topic 01: mean A⁻¹Wᵀ(x - b), covariance
    sigma2 A⁻¹ with A = WᵀW + sigma2 = 7)."""
    return {**mock_exam(), "post_mean": torch.tensor([[0.0], [5.0 / 7.0], [1.0]], dtype=F64),
            "post_cov": torch.tensor([[2.0 / 7.0]], dtype=F64)}


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


MC_SAMPLES = 20_000


def mc_inputs(q_kind: str, dtype: torch.dtype = F64, d: int = 4, m: int = 2, n: int = 5,
              samples: int = MC_SAMPLES) -> dict[str, Any]:
    """A PPCA model, data, and q's kind: 'posterior', 'diag' or 'full' (the latter two random)."""
    inputs = random_model(d=d, m=m, n=n, dtype=dtype)
    inputs["q_std"] = (0.3 + torch.rand(n, m, dtype=F64)).to(dtype)
    inputs["q_kind"] = q_kind
    inputs["n_samples"] = samples
    return inputs


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
