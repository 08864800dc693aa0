"""Figures of note 07 (learned priors): why KL(q(z) || p) does not see holes (1-D, exact), the
aggregate posterior against the N(0, I), mixture and VampPrior priors (M = 2), and decoded
samples of each prior with the VampPrior's pseudo-inputs. The three tiny models are trained
once per run and shared."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from notes_figures import FigureContext
from notes_figures._tiny_vae import (
    TinyVAE,
    aggregate_log_density,
    image_rows_figure,
    latent_grid,
    mnist,
    one_thread,
    train_vae,
)

PRIORS = {"standard": "N(0, I)", "mog": "mixture of 10 Gaussians", "vamp": "VampPrior, K = 20"}
HOLE_RATIO = 0.1


def kl_directions(ctx: FigureContext) -> None:
    """A two-bump aggregate posterior with a hole at 0 against N(0, 1): both KL integrands."""
    import matplotlib.pyplot as plt

    z = np.linspace(-5, 5, 4001)
    dz = z[1] - z[0]

    def normal(mean: float, sd: float) -> np.ndarray:
        return np.exp(-0.5 * ((z - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))

    p = normal(0, 1)
    q = 0.5 * normal(-1.7, 0.4) + 0.5 * normal(1.7, 0.4)
    forward = q * np.log(q / p)   # integrand of KL(q || p)
    reverse = p * np.log(p / q)   # integrand of KL(p || q)
    fig, axes = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    hole = (q < HOLE_RATIO * p) & (p > 0.02)  # holes: where the prior has mass, q has not
    for ax in axes:
        ax.fill_between(z, 0, 1, where=hole, color="grey", alpha=0.2,
                        transform=ax.get_xaxis_transform(), label=f"hole: q < {HOLE_RATIO} p")
    axes[0].plot(z, p, label="prior p(z) = N(0, 1)")
    axes[0].plot(z, q, label="aggregate posterior q(z)")
    axes[0].set(ylabel="density")
    axes[0].legend(fontsize=8)
    axes[1].plot(z, forward, color="C1",
                 label=f"q log(q/p): KL(q || p) = {forward.sum() * dz:.2f} nats")
    axes[1].plot(z, reverse, color="C2",
                 label=f"p log(p/q): KL(p || q) = {reverse.sum() * dz:.2f} nats")
    axes[1].axhline(0, color="black", lw=0.5)
    axes[1].set(xlabel="z", ylabel="integrand", ylim=(-0.3, 1.2))
    axes[1].legend(fontsize=8)
    in_hole = (forward * hole).sum() * dz, (reverse * hole).sum() * dz
    axes[1].set_title(f"inside the hole: KL(q || p) collects {in_hole[0]:.3f} nats, "
                      f"KL(p || q) {in_hole[1]:.2f} nats", fontsize=9)
    fig.tight_layout()
    ctx.save(fig, "07_kl_directions.png")


@lru_cache(maxsize=2)
def trained(fast: bool, seed: int) -> tuple[dict[str, TinyVAE], torch.Tensor, torch.Tensor]:
    """One tiny VAE (M = 2) per prior, same data and steps; the test images and labels."""
    n_train, steps = (1000, 80) if fast else (5000, 2500)
    train, test_x, test_y = mnist(n_train, 1000)
    models = {}
    for kind in PRIORS:
        torch.manual_seed(seed)
        pseudo = train.intensities(torch.randperm(len(train))[:20])
        models[kind] = TinyVAE(latent_dim=2, hidden=200, prior=kind, k=10, pseudo_init=pseudo)
        train_vae(models[kind], train, steps, seed=seed)
    return models, test_x, test_y


def hole_fraction(log_q, prior, n: int) -> float:
    """Pr_{z ~ prior}[q(z) < HOLE_RATIO prior(z)] from ``n`` prior samples."""
    z = prior.sample((n,))
    return (log_q(z) < prior.log_prob(z) + math.log(HOLE_RATIO)).float().mean().item()


def priors_vs_aggregate(ctx: FigureContext) -> None:
    """Posterior means of test images over the contours of each learned prior."""
    import matplotlib.pyplot as plt

    models, test_x, test_y = trained(ctx.fast, ctx.seed)
    torch.manual_seed(ctx.seed)
    lim = 4.0
    axis, gx, gy = latent_grid(lim, 60 if ctx.fast else 150)
    points = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    with torch.no_grad(), one_thread():
        for ax, (kind, model) in zip(axes, models.items(), strict=True):
            q = model.posterior(test_x)
            prior = model.prior()
            log_prior = prior.log_prob(points).reshape(gx.shape)
            ax.contourf(axis.numpy(), axis.numpy(),
                        log_prior.clamp_min(log_prior.max() - 10).numpy(), levels=12,
                        cmap="Greys", alpha=0.8)
            ax.scatter(q.mean[:, 0].numpy(), q.mean[:, 1].numpy(), c=test_y.numpy(), cmap="tab10",
                       s=3, vmin=-0.5, vmax=9.5)
            n = 2000 if ctx.fast else 20000

            def log_q(z: torch.Tensor, q=q) -> torch.Tensor:
                return aggregate_log_density(z, q)

            holes = hole_fraction(log_q, prior, n)
            standard = model.prior_kind == "standard"
            baseline = 0.0 if standard else hole_fraction(log_q, models["standard"].prior(), n)
            extra = "" if standard else f"; N(0, I) on this encoder: {baseline:.0%}"
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel="$z_1$",
                   ylabel="$z_2$")
            ax.set_title(f"prior: {PRIORS[kind]}\nholes (q < {HOLE_RATIO} p, z ~ p): "
                         f"{holes:.0%}{extra}", fontsize=9)
    fig.suptitle("grey: log p(z) of the prior (10 nats shown); dots: posterior means of 1,000 "
                 "test images, the support of the aggregate posterior", fontsize=10)
    fig.tight_layout()
    ctx.save(fig, "07_priors_vs_aggregate.png")


def prior_samples(ctx: FigureContext) -> None:
    """Decoder means at 16 prior samples per model, and the VampPrior's pseudo-inputs."""
    models, _, _ = trained(ctx.fast, ctx.seed)
    torch.manual_seed(ctx.seed)
    n = 16
    rows = []
    with torch.no_grad():
        for kind, model in models.items():
            z = model.prior().sample((n,))
            rows.append((f"samples, prior {PRIORS[kind]}", torch.sigmoid(model.decoder(z))))
        pseudo = models["vamp"].prior.pseudo_inputs()[:n]
        rows.append(("the VampPrior's pseudo-inputs $u_k$ (learned images)", pseudo))
    ctx.save(image_rows_figure(rows, 11, 1.35 * len(rows) + 0.4), "07_prior_samples.png")


FIGURES = {
    "07_kl_directions.png": kl_directions,
    "07_priors_vs_aggregate.png": priors_vs_aggregate,
    "07_prior_samples.png": prior_samples,
}
