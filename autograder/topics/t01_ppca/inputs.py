"""Inputs of topic 01's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

from typing import Any

import torch

F64 = torch.float64
SAMPLE_N = 40_000
"""How many samples the distribution checks of ``ppca_sample`` draw."""


def mock_exam() -> dict[str, Any]:
    """The course's mock-exam model: z in R, x in R^2, W = [1, 2]^T, b = [1, -1], sigma2 = 2."""
    return {"W": torch.tensor([[1.0], [2.0]], dtype=F64), "b": torch.tensor([1.0, -1.0], dtype=F64),
            "sigma2": 2.0,
            "x": torch.tensor([[1.0, -1.0], [2.0, 1.0], [0.0, 3.0]], dtype=F64)}


def random_model(d: int = 5, m: int = 3, n: int = 7, dtype: torch.dtype = F64,
                 tensor_sigma2: bool = False) -> dict[str, Any]:
    """A random PPCA model and data points (seeded by the caller)."""
    sigma2 = 0.25 + torch.rand(()).item()
    return {"W": torch.randn(d, m, dtype=dtype), "b": torch.randn(d, dtype=dtype),
            "sigma2": torch.tensor(sigma2, dtype=dtype) if tensor_sigma2 else sigma2,
            "x": 2.0 * torch.randn(n, d, dtype=dtype)}


def grid_1d() -> dict[str, Any]:
    return {"W": torch.tensor([[1.5]], dtype=F64), "b": torch.tensor([0.5], dtype=F64),
            "sigma2": 0.5, "x": torch.linspace(-20, 20, 4001, dtype=F64)[:, None]}


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    model = random_model(d=3, m=2, dtype=dtype)
    return {**model, "n": SAMPLE_N}


def mle_data() -> dict[str, Any]:
    d, m_true, n = 6, 2, 400
    w = torch.randn(d, m_true, dtype=F64) * 2.0
    z = torch.randn(n, m_true, dtype=F64)
    x = z @ w.T + torch.randn(d, dtype=F64) + 0.5 * torch.randn(n, d, dtype=F64)
    return {"X": x, "M": 2}


def exam_shape(d: int, m: int) -> dict[str, Any]:
    """The shape (D, M) of the symbolic W, or the dimensions, an exam question is asked for."""
    return {"D": d, "M": m}
