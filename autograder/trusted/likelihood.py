"""Importance-sampled log-likelihood of a VAE (grading process and bench only).

This is the graded answer of topic 06 (the IWAE bound with k samples), so it must never be
importable from ``vaelib`` or from code that runs next to student code.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelib.data import MNISTSplit


@torch.no_grad()
def log_likelihood(model: nn.Module, x: torch.Tensor, k: int = 100) -> torch.Tensor:
    """Importance-sampled log p(x) per example ([B]), with q(z|x) as proposal and k samples.

    log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x): a lower bound in expectation that tightens
    as k grows (Burda et al., 2016). ``model`` has ``encoder(x)``, ``decoder(z)`` and
    ``prior()`` returning ``torch.distributions`` objects.
    """
    q = model.encoder(x)
    z = q.sample(torch.Size([k]))  # [k, B, M]
    flat = z.reshape(-1, *z.shape[2:])
    log_px_z = model.decoder(flat).log_prob(x.repeat(k, *([1] * (x.dim() - 1))))
    log_w = log_px_z.reshape(k, -1) + model.prior().log_prob(z) - q.log_prob(z)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


@torch.no_grad()
def evaluate_log_likelihood(model: nn.Module, data: MNISTSplit, k: int = 100,
                            batch_size: int = 100) -> float:
    """Mean importance-sampled log p(x) (nats) over ``data``."""
    total = 0.0
    for x in data.batches(batch_size, shuffle=False):
        total += float(log_likelihood(model, x, k).sum())
    return total / len(data)
