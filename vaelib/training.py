"""Training and evaluation loops for VAEs that follow the course's interface.

A model has ``encoder(x)`` -> q(z|x), ``decoder(z)`` -> p(x|z), ``prior()`` -> p(z) (all
``torch.distributions`` with the data/latent dims as event dims), ``elbo(x)`` -> [B] and
``forward(x)`` -> the scalar loss -mean ELBO.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from vaelib.data import MNISTSplit


@dataclass
class TrainLog:
    """Per-step losses (negative ELBO of the batch) and per-epoch wall times."""

    losses: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)


def train(model: nn.Module, data: MNISTSplit, *, epochs: int = 1, batch_size: int = 128,
          lr: float = 1e-3, max_steps: int | None = None, progress: bool = True,
          generator: torch.Generator | None = None) -> TrainLog:
    """Adam on -ELBO over ``epochs`` passes of ``data`` (its binarization per batch)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    log = TrainLog()
    steps_per_epoch = math.ceil(len(data) / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(
        max_steps, epochs * steps_per_epoch)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training", unit="step")
    model.train()
    step = 0
    for _ in range(epochs):
        start = time.perf_counter()
        for x in data.batches(batch_size, generator=generator):
            loss = model(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            log.losses.append(float(loss.detach()))
            if bar is not None:
                bar.update()
                if step % 20 == 0:
                    bar.set_postfix(elbo=f"{-log.losses[-1]:.1f}")
            if step >= total:
                break
        log.epoch_seconds.append(time.perf_counter() - start)
        if step >= total:
            break
    if bar is not None:
        bar.close()
    model.eval()
    return log


@torch.no_grad()
def evaluate_elbo(model: nn.Module, data: MNISTSplit, batch_size: int = 1000) -> float:
    """Mean per-example ELBO (nats) of ``data`` (use a ``fixed`` binarization for tests)."""
    total = 0.0
    for x in data.batches(batch_size, shuffle=False):
        total += float(model.elbo(x).sum())
    return total / len(data)


@torch.no_grad()
def log_likelihood(model: nn.Module, x: torch.Tensor, k: int = 100) -> torch.Tensor:
    """Importance-sampled log p(x) per example ([B]), with q(z|x) as proposal and k samples.

    log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x): a lower bound in expectation that tightens
    as k grows (Burda et al., 2016).
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


@torch.no_grad()
def encode_means(model: nn.Module, data: MNISTSplit, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means E[z|x] of every image of ``data`` ([N, M], on the CPU)."""
    out = [model.encoder(x).mean.cpu() for x in data.batches(batch_size, shuffle=False)]
    return torch.cat(out)
