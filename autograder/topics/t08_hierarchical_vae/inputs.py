"""Inputs of topic 08's checks, built in the grading process (seeded by the caller)."""

from __future__ import annotations

import math
from typing import Any

import torch

from autograder.fixtures.modules import IMG
from autograder.topics.t08_hierarchical_vae.probes import M1, M2, D

F64 = torch.float64
# The tiny linear-Gaussian model of the public model checks: decoder logits 0 (rec = 784 log 1/2
# whatever z1), q(z1|x) = N(mu1, I), q(z2|.) = N(A2 z1 + mu2, I) bottom-up or N(mu2, I)
# top-down, p(z1|z2) = N(Ap z2 + bp, I).
KNOWN_MU1, KNOWN_MU2 = (1.0, -1.0), (0.5, 0.0)
KNOWN_AP, KNOWN_BP = ((1.0, 0.0), (0.5, 1.0)), (0.0, 0.5)
KNOWN_A2 = ((0.5, 0.0), (0.0, -0.5))
WARMUP_STEPS = (0, 1, 50, 99, 100, 150, 1000)
AU_N = 600
AU_VAR1 = (0.0, 5e-4, 0.003, 0.03, 0.2, 1.5, 0.04, 0.001)
AU_VAR2 = (0.1, 1e-4, 0.05)
NOTEBOOK_FACTORISATIONS = {"bottom-up": (("x",), ("z1",)), "top-down": (("z2", "x"), ("x",))}
"""The notebook's two factorisations of q: name -> (what q(z1|.) and q(z2|.) condition on)."""


def merge_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Two diagonal Gaussians over R^3 for 5 examples; the second broadcasts from [3]."""
    return {"mu_a": torch.randn(5, 3, dtype=dtype), "logvar_a": torch.randn(5, 3, dtype=dtype),
            "mu_b": 2 * torch.randn(3, dtype=dtype), "logvar_b": torch.randn(3, dtype=dtype)}


def merge_hidden_inputs() -> dict[str, Any]:
    return {"mu_a": 3 * torch.randn(4, 1, 6, dtype=F64),
            "logvar_a": 2 * torch.randn(4, 1, 6, dtype=F64),
            "mu_b": torch.randn(7, 6, dtype=F64), "logvar_b": torch.randn(7, 6, dtype=F64)}


def conditional_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    return {"h": torch.randn(6, 8, dtype=dtype), "z": torch.randn(6, 4, dtype=dtype)}


def model_inputs(dtype: torch.dtype = torch.float32, shift: float = 0.0) -> dict[str, Any]:
    """Fixed parameters of q and p (the same for every example) and one image x."""
    return {
        "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
        "A1": 0.01 * torch.randn(M1, D, dtype=dtype),
        "t1": torch.tensor([0.8 + shift, -1.2, -1.5, -0.7], dtype=dtype),
        "A2_bottom_up": 0.7 * torch.randn(M2, M1, dtype=dtype),
        "A2_top_down": 0.01 * torch.randn(M2, D, dtype=dtype),
        "t2": torch.tensor([0.5, -0.4 - shift, -1.0, -0.3], dtype=dtype),
        "Ap": torch.randn(M1, M2, dtype=dtype), "bp": 0.5 * torch.randn(M1, dtype=dtype),
        "lvp": torch.tensor([-0.5, 0.2], dtype=dtype),
        "W": 0.4 * torch.randn(D, M1, dtype=dtype), "c": torch.randn(D, dtype=dtype),
    }


def kind_model_inputs(kind: str, dtype: torch.dtype = torch.float32, shift: float = 0.0
                      ) -> dict[str, Any]:
    """model_inputs, plus the kind of hierarchy (``"bottom_up"`` or ``"top_down"``)."""
    return {**model_inputs(dtype, shift), "kind": kind}


def known_model_inputs(kind: str) -> dict[str, Any]:
    """The tiny linear-Gaussian model above, as model_probe's inputs."""
    zeros = torch.zeros(2)
    return {"x": torch.bernoulli(torch.full(IMG, 0.3)), "A1": torch.zeros(M1, D),
            "t1": torch.cat([torch.tensor(KNOWN_MU1), zeros]),
            "A2_bottom_up": torch.tensor(KNOWN_A2), "A2_top_down": torch.zeros(M2, D),
            "t2": torch.cat([torch.tensor(KNOWN_MU2), zeros]), "Ap": torch.tensor(KNOWN_AP),
            "bp": torch.tensor(KNOWN_BP), "lvp": zeros, "W": torch.zeros(D, M1),
            "c": torch.zeros(D), "kind": kind}


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    inputs = model_inputs(dtype)
    inputs["W"] = 1.2 * torch.randn(D, M1, dtype=dtype)
    inputs["Ap"] = 1.5 * torch.randn(M1, M2, dtype=dtype)
    return inputs


SAMPLE_PIXELS = ((0, -1.0), (0, 0.5), (0, 2.0), (1, -1.0), (1, 0.0), (1, 1.5))
"""(latent unit i, threshold t) of the first pixels of the public sampling check: their logits
are 1000 (z1_i - t), so each is on when z1_i > t; the other pixels have logits 0."""


def known_sample_inputs() -> dict[str, Any]:
    """The tiny model of the public checks with lvp = (0, log 2) and step-like pixels."""
    inputs = known_model_inputs("bottom_up")
    inputs["lvp"] = torch.tensor([0.0, math.log(2.0)])
    W, c = torch.zeros(D, M1), torch.zeros(D)
    for pixel, (unit, threshold) in enumerate(SAMPLE_PIXELS):
        W[pixel, unit], c[pixel] = 1000.0, -1000.0 * threshold
    inputs.update(W=W, c=c)
    del inputs["kind"]
    return inputs


def warmup_inputs(warmup_steps: int = 100, steps: tuple[int, ...] = WARMUP_STEPS
                  ) -> dict[str, Any]:
    return {"warmup_steps": warmup_steps, "steps": steps}


def analytic_inputs(factorisations: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
                    = NOTEBOOK_FACTORISATIONS) -> dict[str, Any]:
    """Factorisations of q to ask ``analytic_kl_terms`` about (name -> parents of z1, of z2)."""
    return {"factorisations": {name: [list(p1), list(p2)]
                               for name, (p1, p2) in factorisations.items()}}


def active_inputs(var1: tuple[float, ...] = AU_VAR1, var2: tuple[float, ...] = AU_VAR2
                  ) -> dict[str, Any]:
    """Uniform pixels (variance 1/12) scaled so that each unit's mean has a chosen variance."""
    return {"data": torch.rand(AU_N, *IMG),
            "s1": torch.tensor(var1).mul(12).sqrt(), "s2": torch.tensor(var2).mul(12).sqrt(),
            "std": 0.4}


def smoke_inputs() -> dict[str, Any]:
    """32 binary images whose pixels are on with probabilities between 0.1 and 0.9."""
    freq = torch.empty(IMG).uniform_(0.1, 0.9)
    return {"x": torch.bernoulli(freq.expand(32, *IMG))}
