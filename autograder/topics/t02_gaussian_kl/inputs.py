"""Inputs of topic 02's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

import math
from typing import Any

import torch

F64 = torch.float64


def diag_mock() -> dict[str, Any]:
    """Hand-checkable diagonal Gaussians (q: [2, 2]; p: [2], broadcast over the batch)."""
    l2 = math.log(2.0)
    return {"mu_q": torch.tensor([[1.0, 0.0], [0.5, -1.0]], dtype=F64),
            "logvar_q": torch.tensor([[0.0, l2], [-l2, 0.0]], dtype=F64),
            "mu_p": torch.tensor([0.0, 1.0], dtype=F64),
            "logvar_p": torch.tensor([0.0, l2], dtype=F64)}


def diag_random(q_shape: tuple[int, ...] = (3, 4, 5), p_shape: tuple[int, ...] = (5,),
                dtype: torch.dtype = F64) -> dict[str, Any]:
    """Random diagonal Gaussians; p's shape broadcasts against q's."""
    return {"mu_q": torch.randn(q_shape, dtype=dtype),
            "logvar_q": torch.randn(q_shape, dtype=dtype).clamp(-2, 2),
            "mu_p": torch.randn(p_shape, dtype=dtype),
            "logvar_p": torch.randn(p_shape, dtype=dtype).clamp(-2, 2)}


def std_mock() -> dict[str, Any]:
    return {"mu": torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, -1.0]], dtype=F64),
            "logvar": torch.tensor([[0.0, 0.0], [math.log(2.0), -1.0], [1.0, 0.0]], dtype=F64)}


def std_random(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    return {"mu": torch.randn(4, 6, 8, dtype=dtype),
            "logvar": torch.randn(4, 6, 8, dtype=dtype).clamp(-3, 3)}


def mvn_mock() -> dict[str, Any]:
    """2-D example: KL = 1/2 (tr + maha - 2 + log det ratio), all by hand."""
    return {"mu0": torch.tensor([1.0, 0.0], dtype=F64),
            "cov0": torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64),
            "mu1": torch.tensor([0.0, -1.0], dtype=F64),
            "cov1": torch.tensor([[1.0, 0.0], [0.0, 4.0]], dtype=F64)}


def random_cov(batch: int, d: int, low: float, high: float, dtype: torch.dtype = F64
               ) -> torch.Tensor:
    """Random SPD matrices with eigenvalues log-spaced in [10^low, 10^high]."""
    q, _ = torch.linalg.qr(torch.randn(batch, d, d, dtype=F64))
    eig = torch.logspace(low, high, d, dtype=F64)
    cov = q @ torch.diag_embed(eig.expand(batch, d)) @ q.transpose(-1, -2)
    return (0.5 * (cov + cov.transpose(-1, -2))).to(dtype)


def mvn_random(batch: int = 3, d: int = 5, dtype: torch.dtype = F64) -> dict[str, Any]:
    return {"mu0": torch.randn(batch, d, dtype=dtype), "cov0": random_cov(batch, d, -1, 1, dtype),
            "mu1": torch.randn(batch, d, dtype=dtype), "cov1": random_cov(batch, d, -1, 1, dtype)}


def mvn_hard() -> dict[str, Any]:
    """float32, D = 40: tiny (det underflows), huge (det overflows), ill-conditioned (1e4)."""
    d = 40
    cov0 = torch.cat([random_cov(1, d, -2.3, -1.3), random_cov(1, d, 1.2, 2.0),
                      random_cov(1, d, -2, 2)]).to(torch.float32)
    cov1 = torch.cat([random_cov(1, d, -2.0, -1.0), random_cov(1, d, 1.0, 2.2),
                      random_cov(1, d, -2, 2)]).to(torch.float32)
    return {"mu0": 0.1 * torch.randn(3, d), "cov0": cov0, "mu1": 0.1 * torch.randn(3, d),
            "cov1": cov1}


def mvn_scaled() -> dict[str, Any]:
    """float32, D = 40, N1 = N(mu0 + t v, c cov0) with v cov0's first eigenvector (eigenvalue
    e): tiny (det underflows), huge (det overflows) and ill-conditioned (1e4) covariances."""
    d = 40
    q, _ = torch.linalg.qr(torch.randn(3, d, d, dtype=F64))
    eig = torch.stack([torch.logspace(-2.3, -1.3, d, dtype=F64),
                       torch.logspace(1.2, 2.0, d, dtype=F64), torch.logspace(-2, 2, d, dtype=F64)])
    cov0 = q @ torch.diag_embed(eig) @ q.transpose(-1, -2)
    cov0 = 0.5 * (cov0 + cov0.transpose(-1, -2))
    scale = torch.tensor([2.0, 0.5, 1.5], dtype=F64)
    shift = torch.tensor([0.0, 3.0, 0.05], dtype=F64)
    mu0 = 0.1 * torch.randn(3, d, dtype=F64)
    mu1 = mu0 + shift[:, None] * q[..., 0]
    return {"mu0": mu0.float(), "cov0": cov0.float(), "mu1": mu1.float(),
            "cov1": (scale[:, None, None] * cov0).float(), "scale": scale, "shift": shift,
            "eig0": eig[:, 0]}


def mc_normal_inputs() -> dict[str, Any]:
    return {"kind": "normal", "mq": torch.tensor([0.0, 1.0, -1.0, 0.5]),
            "sq": torch.tensor([1.0, 0.5, 2.0, 1.5]), "mp": torch.tensor([0.0, 0.0, 1.0, -0.5]),
            "sp": torch.tensor([2.0, 1.0, 1.0, 1.0])}


def mc_independent_inputs() -> dict[str, Any]:
    return {"kind": "independent", "mq": torch.randn(2, 3), "sq": torch.rand(2, 3) + 0.5,
            "mp": torch.randn(2, 3), "sp": torch.rand(2, 3) + 0.7}


def mc_mvn_inputs() -> dict[str, Any]:
    return {"kind": "mvn", "mq": torch.randn(3, 2, dtype=F64),
            "sq": random_cov(3, 2, -0.3, 0.3), "mp": torch.randn(3, 2, dtype=F64),
            "sp": random_cov(3, 2, -0.1, 0.5)}


def mixture_samples(n: int = 20_000, d: int | None = None, dtype: torch.dtype = torch.float32
                    ) -> dict[str, Any]:
    shape = (n,) if d is None else (n, d)
    sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
    return {"samples": (3.0 * sign + 0.5 * torch.randn(shape)).to(dtype)}


def reverse_inputs(kind: str, mu0: float, sigma0: float, steps: int = 600, lr: float = 0.05
                   ) -> dict[str, Any]:
    """Inputs of a reverse-KL fit: the target's kind ('gauss' or 'mixture') and the start."""
    return {"kind": kind, "mu0": mu0, "sigma0": sigma0, "steps": steps, "lr": lr}


def symbol_names(*names: str) -> dict[str, Any]:
    """The names of the symbols an exam question's probe passes."""
    return {"names": names}
