"""Grader-side evaluation of two-layer hierarchical VAEs (topic 08).

Everything here takes the model's pieces as callables that return diagonal Gaussians or
Bernoulli logits, so the same code evaluates the grader's fixed probe modules and networks
rebuilt from the weights a training probe returned. ``kind`` is ``"bottom_up"`` (q(z1|x)
q(z2|z1)) or ``"top_down"`` (q(z2|x) q(z1|z2, x), the Ladder-VAE precision-weighted merge of a
bottom-up estimate of z1 with p(z1|z2)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributions as td
from torch import nn

Gaussian = Callable[[torch.Tensor], td.Distribution]
KINDS = ("bottom_up", "top_down")


def diag_normal(mean: torch.Tensor, logvar: torch.Tensor) -> td.Distribution:
    """Independent(Normal(mean, exp(logvar / 2)), 1)."""
    return td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)


def net_gaussian(net: nn.Module) -> Gaussian:
    """u -> diag_normal(*net(u).chunk(2, -1))."""
    return lambda u: diag_normal(*net(u).chunk(2, dim=-1))


def merge(mu_a: torch.Tensor, logvar_a: torch.Tensor, mu_b: torch.Tensor,
          logvar_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and log-variance of the Gaussian proportional to N(mu_a, va) N(mu_b, vb)."""
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    prec = prec_a + prec_b
    return (mu_a * prec_a + mu_b * prec_b) / prec, -torch.log(prec)


def bernoulli(logits: torch.Tensor) -> td.Distribution:
    """Pixels as one event: Independent(Bernoulli(logits), 2)."""
    return td.Independent(td.Bernoulli(logits=logits), 2)


def standard_normal(like: torch.Tensor, dim: int) -> td.Distribution:
    """N(0, I_dim) with batch shape like.shape[:-1], on like's device and dtype."""
    zeros = like.new_zeros(*like.shape[:-1], dim)
    return td.Independent(td.Normal(zeros, torch.ones_like(zeros)), 1)


@dataclass
class Hierarchy:
    """A two-layer model: enc1, enc2, p1 map inputs to Gaussians, logits maps z1 to pixels."""

    kind: str
    enc1: Gaussian
    enc2: Gaussian
    p1: Gaussian
    logits: Callable[[torch.Tensor], torch.Tensor]
    z2_dim: int

    def posterior(self, x: torch.Tensor, detach: tuple[bool, bool] = (False, False)
                  ) -> tuple[td.Distribution, torch.Tensor, td.Distribution, torch.Tensor]:
        """(q1, z1, q2, z2): one reparameterised draw; ``detach`` mimics .sample() per layer."""
        def draw(q: td.Distribution, cut: bool) -> torch.Tensor:
            return q.sample() if cut else q.rsample()

        if self.kind == "bottom_up":
            q1 = self.enc1(x)
            z1 = draw(q1, detach[0])
            q2 = self.enc2(z1)
            return q1, z1, q2, draw(q2, detach[1])
        q2 = self.enc2(x)
        z2 = draw(q2, detach[1])
        e1, p1 = self.enc1(x), self.p1(z2)
        q1 = diag_normal(*merge(e1.mean, e1.variance.log(), p1.mean, p1.variance.log()))
        return q1, draw(q1, detach[0]), q2, z2

    def terms(self, x: torch.Tensor, detach: tuple[bool, bool] = (False, False)
              ) -> dict[str, torch.Tensor]:
        """rec, kl1, kl2 per example, and kl1_std: the z1 KL taken against N(0, I) (a bug)."""
        q1, z1, q2, z2 = self.posterior(x, detach)
        p1 = self.p1(z2)
        if self.kind == "bottom_up":
            kl1 = q1.log_prob(z1) - p1.log_prob(z1)
        else:
            kl1 = td.kl_divergence(q1, p1)
        return {"rec": bernoulli(self.logits(z1)).log_prob(x), "kl1": kl1,
                "kl2": td.kl_divergence(q2, standard_normal(z2, self.z2_dim)),
                "kl1_std": td.kl_divergence(q1, standard_normal(z1, z1.shape[-1]))}

    def log_weights(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """[k, B] importance log-weights log p(x, z1, z2) - log q(z1, z2 | x)."""
        xs = x.expand(k, *x.shape).reshape(k * x.shape[0], *x.shape[1:])
        q1, z1, q2, z2 = self.posterior(xs)
        log_p = (bernoulli(self.logits(z1)).log_prob(xs) + self.p1(z2).log_prob(z1)
                 + standard_normal(z2, self.z2_dim).log_prob(z2))
        return (log_p - q1.log_prob(z1) - q2.log_prob(z2)).reshape(k, x.shape[0])


def from_nets(kind: str, nets: dict[str, nn.Module], z2_dim: int) -> Hierarchy:
    """A Hierarchy over networks that output [mean, logvar] (enc1, enc2, p1) and logits (dec)."""
    return Hierarchy(kind, net_gaussian(nets["enc1"]), net_gaussian(nets["enc2"]),
                     net_gaussian(nets["p1"]), nets["dec"], z2_dim)


@torch.no_grad()
def mean_elbo(model: Hierarchy, x: torch.Tensor, repeats: int = 4, batch: int = 500) -> float:
    """Mean single-sample ELBO over x, averaged over ``repeats`` draws per image."""
    total = 0.0
    for start in range(0, x.shape[0], batch):
        xb = x[start:start + batch]
        for _ in range(repeats):
            t = model.terms(xb)
            total += float((t["rec"] - t["kl1"] - t["kl2"]).sum())
    return total / (repeats * x.shape[0])


@torch.no_grad()
def mean_layer_kls(model: Hierarchy, x: torch.Tensor, batch: int = 500) -> tuple[float, float]:
    """Mean KL of layer 1 and layer 2 over x (one draw per image)."""
    kl1 = kl2 = 0.0
    for start in range(0, x.shape[0], batch):
        t = model.terms(x[start:start + batch])
        kl1, kl2 = kl1 + float(t["kl1"].sum()), kl2 + float(t["kl2"].sum())
    return kl1 / x.shape[0], kl2 / x.shape[0]


@torch.no_grad()
def log_likelihood(model: Hierarchy, x: torch.Tensor, k: int, chunk: int = 500) -> float:
    """Mean importance-sampled log p(x) with k samples from q (log-mean-exp per image)."""
    total = 0.0
    for i in range(x.shape[0]):
        parts = [model.log_weights(x[i:i + 1], min(chunk, k - s)) for s in range(0, k, chunk)]
        total += float(torch.logsumexp(torch.cat(parts), 0).sum()) - math.log(k)
    return total / x.shape[0]


@torch.no_grad()
def posterior_means(model: Hierarchy, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E_q[z1|x] and E_q[z2|x]; the layer with a stochastic parent at one sampled parent."""
    q1, _, q2, _ = model.posterior(x)
    return q1.mean, q2.mean


def count_active(means: torch.Tensor, threshold: float = 0.01) -> int:
    """Units whose posterior mean varies across data points (rows) by more than threshold."""
    return int((means.double().var(dim=0) > threshold).sum())


@torch.no_grad()
def active_units(model: Hierarchy, x: torch.Tensor, threshold: float = 0.01
                 ) -> tuple[int, int]:
    """(active z1 units, active z2 units) of the model on x (Burda et al., 2016)."""
    m1, m2 = posterior_means(model, x)
    return count_active(m1, threshold), count_active(m2, threshold)
