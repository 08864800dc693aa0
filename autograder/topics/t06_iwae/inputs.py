"""Inputs of topic 06's checks, built in the grading process (seeded by the caller), and the
sizes the judges share. The inputs that hold PPCA's exact posterior are grader-only
(``hidden.py``)."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.topics.t06_iwae.probes import IMG, D, M

F64 = torch.float64
GRAD_ROWS = 2000
FLAT_GRAD_Q = ((0.5, -1.0), (0.0, math.log(2.0)))
FLAT_MONO_ROWS = 1500
DREG_ROWS = 100
CHUNK_ROWS = 250


def ppca_draws(n: int = 6, same_x: bool = False, scales: tuple[float, float] = (2.0, 1.2)
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W, b, x [n, D]) in float64: PPCA with orthogonal columns of W (lengths ``scales``) and
    examples x with very different log p(x), unless ``same_x`` (then n copies of one x)."""
    Q, _ = torch.linalg.qr(torch.randn(D, M, dtype=F64))
    W = Q * torch.tensor(scales, dtype=F64)
    b = torch.randn(D, dtype=F64)
    if same_x:
        x = (b + 0.5 * torch.randn(D, dtype=F64)).expand(n, D)
    else:
        spread = 1.0 + 1.5 * torch.arange(n, dtype=F64)[:, None]
        x = b + spread * torch.randn(n, D, dtype=F64)
    return W, b, x


def ppca_model(dtype: torch.dtype = F64, n: int = 6) -> dict[str, Any]:
    """``ppca_draws``'s model as inputs (x as [n, 3, 4] images)."""
    W, b, x = ppca_draws(n)
    return {k: v.to(dtype).contiguous() for k, v in
            {"W": W, "b": b, "x": x.reshape(n, *IMG)}.items()}


def q_params(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [B, M] and log-variance [M] of the linear encoder on the inputs' x."""
    flat = inputs["x"].reshape(inputs["x"].shape[0], D).to(F64)
    return flat @ inputs["A"].to(F64).T + inputs["c"].to(F64), inputs["logvar"].to(F64)


def flat_inputs(n: int = 4, q_mean: tuple[float, float] = (0.0, 0.0),
                q_logvar: tuple[float, float] = (0.0, 0.0)) -> dict[str, Any]:
    """A decoder that ignores z (W = 0) and q(z|x) = N(q_mean, diag exp(q_logvar)) for every x;
    ``theta`` holds the same q as one row per example (for the row encoder)."""
    b = torch.randn(D, dtype=F64)
    x = b + (1.0 + torch.arange(n, dtype=F64)[:, None]) * torch.randn(n, D, dtype=F64)
    mean, logvar = torch.tensor(q_mean, dtype=F64), torch.tensor(q_logvar, dtype=F64)
    return {"W": torch.zeros(D, M, dtype=F64), "b": b, "x": x.reshape(n, *IMG),
            "A": torch.zeros(M, D, dtype=F64), "c": mean, "logvar": logvar,
            "theta": torch.cat([mean, logvar]).expand(n, 2 * M).clone()}


def bound_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    k, n = 7, 5
    log_w = torch.randn(k, n, dtype=dtype) * torch.tensor([1.0, 3.0, 10.0, 2.0, 0.5], dtype=dtype)
    log_w = log_w + torch.tensor([-800.0, 800.0, 0.0, -40.0, 80.0], dtype=dtype)
    return {"log_w": log_w}


def bound_known_inputs() -> dict[str, Any]:
    """K = 4 weights per example whose means are 3, 4 and 2, shifted by -800, +800 and 0."""
    weights = torch.tensor([[1.0, 4.0, 1.0], [2.0, 4.0, 1.0], [3.0, 4.0, 1.0],
                            [6.0, 4.0, 5.0]], dtype=F64)
    return {"log_w": weights.log() + torch.tensor([-800.0, 800.0, 0.0], dtype=F64)}


def ess_inputs(dtype: torch.dtype = F64) -> dict[str, Any]:
    log_w = bound_inputs(dtype)["log_w"]
    log_w[:, 2] = 3.0                  # equal weights: ESS = K
    log_w[:, 3] = -600.0
    log_w[0, 3] = -100.0               # one weight dominates: ESS = 1
    return {"log_w": log_w}


def ess_known_inputs() -> dict[str, Any]:
    """K = 4 weights per example: equal, one non-zero, two or three equal non-zero, and
    (1, 2, 3, 6)."""
    weights = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 2.0, 1.0],
                            [1.0, 0.0, 0.0, 3.0, 1.0], [1.0, 0.0, 0.0, 6.0, 0.0]], dtype=F64)
    log_w = weights.log().clamp_min(-1000.0)
    return {"log_w": log_w + torch.tensor([800.0, -800.0, 0.0, 3.0, -5.0], dtype=F64)}


def dreg_flat_inputs() -> dict[str, Any]:
    """A decoder that ignores z; q = p(z) for the first run, q = N((1, -1), I) for the second."""
    inputs = flat_inputs(DREG_ROWS)
    inputs["theta_shift"] = torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=F64).expand(
        DREG_ROWS, 2 * M).clone()
    return inputs


def smoke_inputs() -> dict[str, Any]:
    """A tiny PPCA batch and q = p(z) for every example; the decoder starts with a bias 2 away
    from the data's mean."""
    inputs = ppca_model(torch.float32, 16)
    inputs["theta"] = torch.zeros(16, 2 * M)
    inputs["W"] = 0.3 * inputs["W"]
    inputs["b"] = inputs["x"].reshape(16, D).mean(0) + 2.0
    return inputs


FIRST_K_PUBLIC = {"prior_1": 0.3, "lik_0": 0.02, "lik_1": 0.8, "q_1": 0.05, "threshold": -2.0,
                  "k_max": 1000}
"""The exam practice's worked two-point model: p(z = 1), p(x | z = 0), p(x | z = 1), q(z = 1 | x),
the threshold on L_K and the largest K to try."""


def first_k_public_inputs() -> dict[str, Any]:
    """The worked two-point model (``FIRST_K_PUBLIC``)."""
    return dict(FIRST_K_PUBLIC)


def training_inputs() -> dict[str, Any]:
    from autograder.fixtures.mnist import mnist_root_inputs as data_inputs

    return data_inputs()


