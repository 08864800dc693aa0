"""Figures of note 06 (IWAE): the bound against K, the effective sample size, the true
posterior against the VAE's and the IWAE's q, and the encoder gradient's signal-to-noise ratio
(IWAE vs DReG). Two tiny models (M = 2), trained with the ELBO and with the K = 10 IWAE bound,
are trained once per run and shared by all figures."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from notes_figures import FigureContext
from notes_figures._tiny_vae import (
    TinyVAE,
    diag_gaussian,
    iwae_bound,
    latent_grid,
    mnist,
    one_thread,
    train_vae,
)

TRAIN_K = 10
MODELS = ("VAE (K = 1)", f"IWAE (K = {TRAIN_K})")


@lru_cache(maxsize=2)
def trained(fast: bool, seed: int) -> tuple[dict[str, TinyVAE], torch.Tensor]:
    """The ELBO-trained and IWAE-trained models (same initialisation and data), test images."""
    n_train, steps = (1000, 80) if fast else (5000, 1500)
    train, test_x, _ = mnist(n_train, 1000)
    models = {}
    for name, k in zip(MODELS, (1, TRAIN_K), strict=True):
        torch.manual_seed(seed)
        models[name] = TinyVAE(latent_dim=2, hidden=200)
        train_vae(models[name], train, steps, seed=seed, iw_k=k)
    return models, test_x


def chunked_bound(model: TinyVAE, x: torch.Tensor, k: int, chunk: int = 100) -> torch.Tensor:
    """log p_hat_K for each image ``[B]``, drawing the K samples ``chunk`` at a time."""
    total = torch.full((x.shape[0],), -math.inf)
    for start in range(0, k, chunk):
        total = torch.logaddexp(total, torch.logsumexp(
            model.log_weights(x, min(chunk, k - start)), 0))
    return total - math.log(k)


def bound_against_k(ctx: FigureContext) -> None:
    """Mean of log p_hat_K over test images against K (log axis), for both models."""
    import matplotlib.pyplot as plt

    models, test_x = trained(ctx.fast, ctx.seed)
    ks = [1, 10, 100, 500] if ctx.fast else [1, 2, 5, 10, 20, 50, 100, 500, 2000]
    x = test_x[:30] if ctx.fast else test_x[:200]
    torch.manual_seed(ctx.seed)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    with torch.no_grad(), one_thread():
        for colour, (name, model) in zip(("C0", "C1"), models.items(), strict=True):
            values = [chunked_bound(model, x, k) for k in ks]
            mean = np.array([v.mean().item() for v in values])
            err = np.array([v.std().item() / math.sqrt(len(x)) for v in values])
            ax.errorbar(ks, mean, yerr=2 * err, marker="o", ms=4, capsize=2, color=colour,
                        label=f"{name} model")
            ax.axhline(mean[-1], ls="--", lw=0.8, color=colour)
    ax.set_xscale("log")
    ax.set(xlabel="K (samples in the bound)", ylabel="mean of log $\\hat p_K(x)$ (nats)",
           title=f"$\\mathcal{{L}}_K$ on {len(x)} test images; dashed: the largest K "
                 "(close to log p(x))")
    ax.legend(fontsize=8)
    ctx.save(fig, "06_bound_vs_k.png")


def ess_histogram(ctx: FigureContext) -> None:
    """ESS / K over test images, for both models."""
    import matplotlib.pyplot as plt

    models, test_x = trained(ctx.fast, ctx.seed)
    test_x = test_x[:200] if ctx.fast else test_x
    k = 100
    torch.manual_seed(ctx.seed)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    bins = np.linspace(0, 1, 41)
    with torch.no_grad(), one_thread():
        for name, model in models.items():
            w = torch.softmax(model.log_weights(test_x, k), 0)
            ess = 1.0 / (w ** 2).sum(0) / k
            ax.hist(ess.numpy(), bins=bins, alpha=0.6,
                    label=f"{name} model: median {ess.median().item():.2f}")
    ax.set(xlabel=f"ESS / K  (K = {k})", ylabel="test images",
           title=f"effective sample size of q(z|x) as a proposal, {len(test_x)} test images")
    ax.legend(fontsize=8)
    ctx.save(fig, "06_ess_histogram.png")


def true_posteriors(ctx: FigureContext) -> None:
    """p(z | x) on a grid (M = 2 makes it computable) against q(z | x), for both models."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    models, test_x = trained(ctx.fast, ctx.seed)
    images = [0, 1, 2, 3]
    n = 60 if ctx.fast else 120
    fig, axes = plt.subplots(len(models), len(images), figsize=(3 * len(images), 6.2))
    with torch.no_grad(), one_thread():
        for row, (name, model) in enumerate(models.items()):
            for col, i in enumerate(images):
                x = test_x[i:i + 1]
                q = model.posterior(x)
                centre, std = q.mean[0], q.stddev[0]
                half = max(5 * std.max().item(), 0.3)
                axis, gx, gy = latent_grid(half, n)
                z = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1) + centre
                log_joint = (model.likelihood(z).log_prob(x.expand(z.shape[0], -1))
                             + model.prior().log_prob(z)).reshape(n, n)
                post = torch.softmax(log_joint.reshape(-1), 0).reshape(n, n)
                ax = axes[row, col]
                ax.contourf((axis + centre[0]).numpy(), (axis + centre[1]).numpy(), post.numpy(),
                            levels=12, cmap="Greys")
                for scale in (1, 2):
                    ax.add_patch(Ellipse(centre.tolist(), 2 * scale * std[0].item(),
                                         2 * scale * std[1].item(), fill=False, lw=1.2,
                                         color="C3"))
                ax.set(aspect="equal", xticks=[], yticks=[])
                if col == 0:
                    ax.set_ylabel(f"{name} model", fontsize=9)
                if row == 0:
                    ax.set_title(f"test image {i}", fontsize=9)
    fig.suptitle("grey: the model's exact posterior p(z|x) (grid); red: q(z|x) at 1 and 2 "
                 "standard deviations", fontsize=10)
    fig.tight_layout()
    ctx.save(fig, "06_true_posteriors.png")


def encoder_gradient(model: TinyVAE, x: torch.Tensor, k: int, dreg: bool) -> torch.Tensor:
    """One draw of the gradient of the K-sample bound w.r.t. the encoder's last layer, flat."""
    params = model.encoder[-1].weight
    q = model.posterior(x)
    z = q.rsample((k,))
    if dreg:
        stopped = diag_gaussian(torch.cat([q.mean.detach(), 2 * q.stddev.log().detach()], -1))
        log_w = model.likelihood(z).log_prob(x) + model.prior().log_prob(z) - stopped.log_prob(z)
        w = torch.softmax(log_w.detach(), 0)
        surrogate = (w ** 2 * log_w).sum(0).mean()
    else:
        surrogate = iwae_bound(model.likelihood(z).log_prob(x) + model.prior().log_prob(z)
                               - q.log_prob(z)).mean()
    (grad,) = torch.autograd.grad(surrogate, params)
    return grad.reshape(-1)


def gradient_snr(ctx: FigureContext) -> None:
    """|mean| / std of the encoder gradient over repeated draws, against K (log-log)."""
    import matplotlib.pyplot as plt

    models, test_x = trained(ctx.fast, ctx.seed)
    model = models[MODELS[1]]
    x = test_x[:1]
    ks = [1, 3, 10, 30] if ctx.fast else [1, 3, 10, 30, 100, 300]
    draws = 30 if ctx.fast else 200
    torch.manual_seed(ctx.seed)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    with one_thread():
        for dreg, label in ((False, "IWAE gradient"), (True, "DReG gradient")):
            snr = []
            for k in ks:
                grads = torch.stack([encoder_gradient(model, x, k, dreg) for _ in range(draws)])
                ratio = grads.mean(0).abs() / grads.std(0).clamp_min(1e-12)
                snr.append(ratio.mean().item())
            ax.plot(ks, snr, "o-", label=label)
    ax.set(xscale="log", yscale="log", xlabel="K", ylabel="mean |E g| / sd(g)",
           title="signal-to-noise ratio of the encoder gradient (last layer, one test image)")
    ax.legend(fontsize=8)
    ctx.save(fig, "06_encoder_snr.png")


FIGURES = {
    "06_bound_vs_k.png": bound_against_k,
    "06_ess_histogram.png": ess_histogram,
    "06_true_posteriors.png": true_posteriors,
    "06_encoder_snr.png": gradient_snr,
}

