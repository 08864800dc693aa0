"""Training and evaluation loops for VAEs that follow the course's interface.

A model has ``encoder(x)`` -> q(z|x), ``decoder(z)`` -> p(x|z), ``prior()`` -> p(z) (all
``torch.distributions`` with the data/latent dims as event dims), ``elbo(x)`` -> [B] and
``forward(x)`` -> the scalar loss -mean ELBO.

Nothing here computes a graded answer of any topic (the importance-sampled log-likelihood,
topic 06's subject, lives with the grader's own evaluation code in ``autograder/trusted``).
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
def encode_means(model: nn.Module, data: MNISTSplit, batch_size: int = 1000) -> torch.Tensor:
    """Posterior means E[z|x] of every image of ``data`` ([N, M], on the CPU)."""
    out = [model.encoder(x).mean.cpu() for x in data.batches(batch_size, shuffle=False)]
    return torch.cat(out)
