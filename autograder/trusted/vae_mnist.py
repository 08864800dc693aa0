"""The grader's own VAE for binarized MNIST: evaluates networks a training probe returned.

A training probe trains the grader's fixed networks with the student's classes and sends
back their weights only. Here those weights are loaded into fresh copies of the same
networks and read as the course's model (p(z) = N(0, I_M); q(z|x) = N(mean, exp(logvar))
with [mean, logvar] = encoder_net(x); p(x|z) = Bernoulli(logits = decoder_net(z))), whatever
the student's classes did with them. The evaluation images (the fixed binarization of the
test set) are loaded here and never sent to a child.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from autograder.checks.api import CheckFailed

HELD_OUT_FIRST = 50_000


@dataclass(frozen=True)
class ElboTerms:
    """Per-example reconstruction term E_q[log p(x|z)] and KL(q || p), in nats ([N] each)."""

    rec: torch.Tensor
    kl: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        return self.rec - self.kl


def load_weights(net: nn.Module, weights: Any, what: str) -> nn.Module:
    """``net`` with ``weights`` (a dict name -> tensor from a child) loaded, or CheckFailed."""
    expected = net.state_dict()
    if not isinstance(weights, dict) or set(weights) != set(expected):
        raise CheckFailed(f"the training run did not return the {what} network's weights "
                          "(the grader's fixed networks must stay inside your classes).")
    for name, ref in expected.items():
        value = weights[name]
        if not isinstance(value, torch.Tensor) or value.shape != ref.shape:
            raise CheckFailed(f"the {what} network's weight '{name}' came back with the wrong "
                              "shape: do not replace the networks your classes are given.")
        if not torch.isfinite(value).all():
            raise CheckFailed(f"training made the {what} network's weights NaN/inf (check "
                              "std = exp(logvar / 2) and logits vs probabilities).")
    net.load_state_dict({k: v.to(torch.float32) for k, v in weights.items()})
    return net.eval()


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) summed over every dimension after the first ([N])."""
    lp = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    return lp.reshape(x.shape[0], -1).sum(-1)


@torch.no_grad()
def elbo_terms(encoder_net: nn.Module, decoder_net: nn.Module, x: torch.Tensor, *,
               samples: int = 4, std_from_logvar: float = 0.5, logits_squash: bool = False,
               seed: int = 0, batch_size: int = 500) -> ElboTerms:
    """ELBO terms of ``x`` under the course's model built from the two networks.

    The reconstruction term averages ``samples`` reparameterised draws; the KL is analytic.
    ``std_from_logvar`` and ``logits_squash`` read the same networks as a buggy model would
    (std = exp(c * logvar); logits = sigmoid(output)) to name what a submission trained.
    """
    gen = torch.Generator().manual_seed(seed)
    recs, kls = [], []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        mean, logvar = torch.chunk(encoder_net(xb), 2, dim=-1)
        log_std = std_from_logvar * logvar
        var = torch.exp(2 * log_std)
        kls.append(0.5 * (mean**2 + var - 1 - 2 * log_std).sum(-1))
        rec = torch.zeros(xb.shape[0])
        for _ in range(samples):
            eps = torch.randn(mean.shape, generator=gen)
            logits = decoder_net(mean + torch.exp(log_std) * eps)
            if logits_squash:
                logits = torch.sigmoid(logits)
            rec += bernoulli_log_prob(xb, logits)
        recs.append(rec / samples)
    return ElboTerms(torch.cat(recs), torch.cat(kls))


def _root() -> Any:
    from autograder.paths import course_root
    from vaelib.data import data_root, has_mnist

    root = data_root()
    if not has_mnist(root) and has_mnist(course_root() / "data"):
        root = course_root() / "data"
    return root


def evaluation_images(limit: int) -> torch.Tensor:
    """The first ``limit`` test images, fixed binarization ([limit, 28, 28] float32, CPU)."""
    from vaelib.data import load_split

    return load_split("test", "fixed", root=_root(), limit=limit, download=False).binary()


def control_images(limit: int, first: int = HELD_OUT_FIRST) -> torch.Tensor:
    """``limit`` training images from ``first`` on (never used by a training check), fixed
    binarization: unseen images to compare the evaluation images with."""
    from vaelib.data import binarize, load_mnist_uint8, to_unit

    images, _ = load_mnist_uint8("train", _root(), download=False)
    return binarize(to_unit(images[first:first + limit]), "fixed")


def fits_evaluation_images_better(evaluation: torch.Tensor, control: torch.Tensor
                                  ) -> tuple[float, float]:
    """(mean ELBO gap evaluation - control in nats, its z-score) for per-image ELBOs.

    Networks trained on other images fit both sets alike (gap within a few standard errors);
    networks trained on the evaluation images themselves fit them clearly better.
    """
    a, b = evaluation.double(), control.double()
    gap = float(a.mean() - b.mean())
    se = float((a.var() / a.numel() + b.var() / b.numel()).sqrt())
    return gap, gap / se if se > 0 else math.inf
