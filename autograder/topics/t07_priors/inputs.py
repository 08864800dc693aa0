"""Inputs of topic 07's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.fixtures.modules import IMG
from autograder.topics.t07_priors.probes import BIG_M, BIG_N, D

HOLE_N = 20_000
"""How many prior samples hole_fraction draws."""
FAR_Z = ((0.0, 0.0), (40.0, 0.0), (20.0, 0.0), (-200.0, 0.0))
"""The points of the public far-from-every-component checks."""
SURGERY_Q = ((0.8, 0.2), (0.4, 0.6))
"""The notebook's ELBO-surgery toy: q(z | n) for N = 2 images (rows) and two codes (columns)."""
SURGERY_P = (0.25, 0.75)
"""The toy's prior p(z) over the two codes."""
GAUSSIAN_TOY = {"means": (1, 2, 6), "variances": (1, 1, 4)}
"""The notebook's best-Gaussian-prior toy: three images' 1-D posterior means and variances."""


def mixture_inputs(dtype: torch.dtype = torch.float32, n: int = 6, k: int = 4, m: int = 3
                   ) -> dict[str, Any]:
    return {"z": 1.5 * torch.randn(n, m, dtype=dtype), "means": torch.randn(k, m, dtype=dtype),
            "logvars": torch.empty(k, m, dtype=dtype).uniform_(-1.0, 1.0),
            "logits": torch.randn(k, dtype=dtype) + 1.5}


def far_mixture_inputs() -> dict[str, Any]:
    inputs = mixture_inputs()
    inputs["z"] = inputs["z"] + 40.0
    inputs["logvars"] = inputs["logvars"] - 1.0
    return inputs


def mog_inputs(dtype: torch.dtype = torch.float32, m: int = 3, k: int = 4) -> dict[str, Any]:
    centres = torch.tensor([[-3.0] * m, [3.0] * m], dtype=dtype)
    labels = (torch.rand(512) < 0.75).long()
    data = centres[labels] + torch.randn(512, m, dtype=dtype) * torch.tensor(
        [0.5, 1.5], dtype=dtype)[labels, None]
    return {"M": m, "K": k, "z": 2.0 * torch.randn(8, m, dtype=dtype), "data": data,
            "dtype": str(dtype).replace("torch.", "")}


def vamp_inputs(dtype: torch.dtype = torch.float32, m: int = 2, k: int = 5) -> dict[str, Any]:
    W = 0.05 * torch.randn(2 * m, D, dtype=dtype)
    b = torch.cat([torch.full((m,), 3.0), torch.full((m,), -2.0)]).to(dtype)
    return {"W": W, "b": b, "K": k, "M": m,
            "pseudo_init": torch.empty(k, *IMG, dtype=dtype).uniform_(0.05, 0.95),
            "z": 3.0 + torch.randn(6, m, dtype=dtype),
            "z_far": torch.full((16, m), -4.0, dtype=dtype)}


def elbo_inputs(dtype: torch.dtype = torch.float32, mean: tuple[float, float] = (1.0, -1.5),
                logvar: tuple[float, float] = (-1.5, -1.0)) -> dict[str, Any]:
    """One image x (replicated), a fixed q(z|x), a linear decoder and a 3-component prior."""
    return {"W": 0.1 * torch.randn(D, 2, dtype=dtype), "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
            "q_mean": torch.tensor(mean, dtype=dtype),
            "q_logvar": torch.tensor(logvar, dtype=dtype),
            "p_logits": torch.tensor([0.5, 0.0, -0.5], dtype=dtype),
            "p_means": torch.tensor([[3.0, -3.5], [-2.0, 3.0], [1.0, 1.0]], dtype=dtype),
            "p_logvars": torch.tensor([[-1.0, 0.0], [0.0, -0.5], [-0.5, -0.5]], dtype=dtype)}


def aggregate_inputs(dtype: torch.dtype = torch.float32, n_z: int = 7, n: int = 20, m: int = 3,
                     shift: float = 0.0) -> dict[str, Any]:
    return {"z": 2.0 * torch.randn(n_z, m, dtype=dtype) + shift,
            "q_means": torch.randn(n, m, dtype=dtype),
            "q_logvars": torch.empty(n, m, dtype=dtype).uniform_(-3.0, 0.0)}


def big_aggregate_inputs() -> dict[str, Any]:
    return aggregate_inputs(n_z=BIG_N, n=BIG_N, m=BIG_M)


def hole_inputs(dtype: torch.dtype = torch.float32, ratio: float = 0.1, mixture: bool = False
                ) -> dict[str, Any]:
    centres = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.5]], dtype=dtype)
    labels = torch.randint(0, 3, (300,))
    inputs: dict[str, Any] = {
        "q_means": centres[labels] + 0.3 * torch.randn(300, 2, dtype=dtype),
        "q_logvars": torch.full((300, 2), -3.0, dtype=dtype), "n": HOLE_N, "ratio": ratio,
        "p_logits": torch.zeros(0, dtype=dtype)}
    if mixture:
        inputs.update(p_logits=torch.tensor([0.0, 0.5], dtype=dtype),
                      p_means=torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=dtype),
                      p_logvars=torch.tensor([[-1.0, -1.0], [0.0, 0.0]], dtype=dtype))
    return inputs


def two_component_inputs() -> dict[str, Any]:
    """Components N(0, 4 I) and N((40, 0), I) with weights 1/4 and 3/4, at FAR_Z."""
    return {"z": torch.tensor(FAR_Z), "means": torch.tensor([[0.0, 0.0], [40.0, 0.0]]),
            "logvars": torch.tensor([[math.log(4.0)] * 2, [0.0, 0.0]]),
            "logits": torch.tensor([0.0, math.log(3.0)])}


def elbo_known_inputs() -> dict[str, Any]:
    """Logits 0 (log p(x|z) = 784 log 1/2 for any z), q = N((1, -1), I) and a mixture prior
    whose two components are both N((1, 1), I)."""
    return {"W": torch.zeros(D, 2), "c": torch.zeros(D),
            "x": torch.bernoulli(torch.full(IMG, 0.3)),
            "q_mean": torch.tensor([1.0, -1.0]), "q_logvar": torch.zeros(2),
            "p_logits": torch.tensor([0.3, -0.2]), "p_means": torch.ones(2, 2),
            "p_logvars": torch.zeros(2, 2)}


def aggregate_known_inputs() -> dict[str, Any]:
    """Two encoded points, N(0, 4 I) and N((40, 0), I), at FAR_Z."""
    inputs = two_component_inputs()
    return {"z": inputs["z"], "q_means": inputs["means"], "q_logvars": inputs["logvars"]}


def holes_known_inputs() -> dict[str, Any]:
    """Prior N(0, I_2); five encoded points, all N(0, I / 4); ratio 0.1."""
    return {"q_means": torch.zeros(5, 2), "q_logvars": torch.full((5, 2), math.log(0.25)),
            "n": HOLE_N, "ratio": 0.1, "p_logits": torch.zeros(0)}


def smoke_inputs() -> dict[str, Any]:
    """32 binary images whose pixels are on with probabilities between 0.1 and 0.9."""
    freq = torch.empty(IMG).uniform_(0.1, 0.9)
    return {"x": torch.bernoulli(freq.expand(32, *IMG)),
            "pseudo_init": torch.rand(4, *IMG)}


def surgery_inputs(q: tuple[tuple[float, ...], ...] = SURGERY_Q,
                   p: tuple[float, ...] = SURGERY_P,
                   dtype: torch.dtype = torch.float64) -> dict[str, Any]:
    """q(z | n) [N, S] (rows sum to 1) and p(z) [S] as tensors."""
    return {"q": torch.tensor(q, dtype=dtype), "p": torch.tensor(p, dtype=dtype)}


def gaussian_prior_inputs(n_symbolic: int = 0) -> dict[str, Any]:
    """The notebook's toy, or (``n_symbolic`` > 0) that many images with symbolic means
    mu_i (real) and variances v_i (positive); the probe builds the sympy values."""
    return {"n_symbolic": n_symbolic} if n_symbolic else dict(GAUSSIAN_TOY)
