"""Inputs of topic 04's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

from typing import Any

import torch

F64 = torch.float64


def reparam_inputs(dtype: torch.dtype = F64, n: int = 4, d: int = 3) -> dict[str, Any]:
    """Means, log-variances in [-2, 2], explicit noise and weights for a linear read-out."""
    return {"mu": torch.randn(n, d, dtype=dtype),
            "logvar": (4 * torch.rand(n, d) - 2).to(dtype),
            "eps": torch.randn(n, d, dtype=dtype),
            "w": torch.randn(n, d, dtype=dtype)}


def reparam_inputs_3d() -> dict[str, Any]:
    """``reparam_inputs`` in float32, reshaped to a [2, 3, 4] batch."""
    return {k: v.reshape(2, 3, 4) for k, v in reparam_inputs(torch.float32, 6, 4).items()}


STATS_N = 20_000


def stats_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """N rows, one log-variance per column (small, unit and large variances)."""
    logvar = torch.tensor([-2.0, 0.0, 1.5], dtype=dtype).expand(STATS_N, 3).clone()
    return {"mu": torch.randn(STATS_N, 1, dtype=dtype).expand(STATS_N, 3) * 3, "logvar": logvar}


def estimator_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    """Three coordinates with positive and negative log-sigma; coefficients of f."""
    return {"mu": torch.tensor([0.5, -0.8, 0.3], dtype=dtype),
            "log_sigma": torch.tensor([0.4, -0.3, 0.1], dtype=dtype),
            "a": torch.tensor([1.0, -0.5, 0.8], dtype=dtype),
            "c": torch.tensor([0.5, 0.7, -0.4], dtype=dtype),
            "b": torch.tensor([1.0, 0.6, -0.8], dtype=dtype)}


def estimator_inputs_random_mu() -> dict[str, Any]:
    """``estimator_inputs`` with a random mean (float64)."""
    return {**estimator_inputs(), "mu": torch.randn(3, dtype=F64)}


GUMBEL_N = 20_000


def gumbel_inputs(dtype: torch.dtype = torch.float32, groups: int = 8, k: int = 6
                  ) -> dict[str, Any]:
    """``groups`` copies of ``groups`` different rows of logits: [groups * groups, k]."""
    rows = 1.5 * torch.randn(groups, k, dtype=dtype)
    return {"logits": rows.repeat(groups, 1), "tau": 0.7, "groups": groups}


def low_tau_inputs() -> dict[str, Any]:
    return {"logits": torch.randn(4000, 5, dtype=F64), "tau": 0.01}


def frequency_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    row = torch.tensor([1.0, 0.5, 0.0, -0.5, -1.5], dtype=dtype)
    return {"logits": row.expand(GUMBEL_N, 5).clone(), "tau": 0.5}


def grouped_frequency_inputs() -> dict[str, Any]:
    """Logits [N, 3, 4]: three different rows of logits, each repeated N times."""
    rows = torch.randn(3, 4, dtype=F64) * 1.2
    return {"logits": rows.expand(GUMBEL_N // 2, 3, 4).clone(), "tau": 2.0}


def hard_inputs(dtype: torch.dtype = F64, shape: tuple[int, ...] = (32, 5)) -> dict[str, Any]:
    return {"logits": 1.5 * torch.randn(*shape, dtype=dtype), "tau": 0.8,
            "w": torch.randn(*shape, dtype=dtype)}
