"""Figures of note 05 (a VAE for binarized MNIST): the 2-D latent space with posterior
ellipses and holes, the decoded grid, reconstructions and samples, the ELBO's two terms
during training. One tiny VAE (M = 2) is trained once per run and shared by all four."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from notes_figures import FigureContext
from notes_figures._tiny_vae import (
    History,
    TinyVAE,
    aggregate_log_density,
    image_rows_figure,
    latent_grid,
    mnist,
    train_vae,
)
from vaelib.plots import image_grid

HOLE_RATIO = 0.1


@lru_cache(maxsize=2)
def trained(fast: bool, seed: int) -> tuple[TinyVAE, History, torch.Tensor, torch.Tensor]:
    """The topic's VAE (M = 2), its training trace, and the test images and labels."""
    n_train, steps = (1000, 200) if fast else (10000, 4000)
    train, test_x, test_y = mnist(n_train, 1000)
    torch.manual_seed(seed)
    model = TinyVAE(latent_dim=2, hidden=200)
    history = train_vae(model, train, steps, seed=seed, test_x=test_x,
                        test_every=max(steps // 20, 1))
    return model, history, test_x, test_y


def latent_space(ctx: FigureContext) -> None:
    """Posterior means and 2-sigma ellipses of test images; the aggregate posterior and holes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    model, _, test_x, test_y = trained(ctx.fast, ctx.seed)
    with torch.no_grad():
        q = model.posterior(test_x)
        mean, std = q.mean, q.stddev
        axis, gx, gy = latent_grid(3.5, 60 if ctx.fast else 140)
        points = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
        log_q = aggregate_log_density(points, q).reshape(gx.shape)
        log_p = model.prior().log_prob(points).reshape(gx.shape)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    ax = axes[0]
    sc = ax.scatter(mean[:, 0].numpy(), mean[:, 1].numpy(), c=test_y.numpy(), cmap="tab10", s=4,
                    vmin=-0.5, vmax=9.5)
    for i in range(0, 1000, 25):
        ax.add_patch(Ellipse(mean[i].tolist(), 4 * std[i, 0].item(), 4 * std[i, 1].item(),
                             fill=False, lw=0.8, color=plt.cm.tab10(int(test_y[i]))))
    for r in (1, 2, 3):
        ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", lw=0.8, color="grey"))
    ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), aspect="equal", xlabel="$z_1$", ylabel="$z_2$",
           title="posterior means, 2$\\sigma$ ellipses of every 25th image;\n"
                 "dashed: N(0, I) at 1, 2, 3 standard deviations")
    fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax = axes[1]
    holes = ((log_q < log_p + math.log(HOLE_RATIO)) & (log_p > -2 - math.log(2 * math.pi)))
    axis, log_q, holes = axis.numpy(), log_q.numpy(), holes.float().numpy()
    im = ax.pcolormesh(axis, axis, log_q, cmap="viridis", vmin=log_q.max() - 12,
                       shading="auto")
    ax.contourf(axis, axis, holes, levels=[0.5, 1.5], colors="none", hatches=["////"])
    ax.contour(axis, axis, holes, levels=[0.5], colors="white", linewidths=0.8)
    ax.add_patch(plt.Circle((0, 0), 2, fill=False, ls="--", lw=0.8, color="white"))
    fig.colorbar(im, ax=ax, label="log q(z), aggregate posterior of 1,000 test images")
    ax.set(aspect="equal", xlabel="$z_1$", ylabel="$z_2$",
           title=f"hatched: holes, q(z) < {HOLE_RATIO} p(z)\n"
                 "inside 2$\\sigma$ of the prior (dashed)")
    fig.tight_layout()
    ctx.save(fig, "05_latent_space.png")


def decoded_grid(ctx: FigureContext) -> None:
    """Decoder means p(x = 1 | z) on a regular grid of latent points."""
    import matplotlib.pyplot as plt

    model, _, _, _ = trained(ctx.fast, ctx.seed)
    n = 15
    axis, gx, gy = latent_grid(3.0, n)
    points = torch.stack([gx.flip(0).reshape(-1), gy.flip(0).reshape(-1)], 1)
    with torch.no_grad():
        images = torch.sigmoid(model.decoder(points)).reshape(-1, 28, 28)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(image_grid(images, n).numpy(), cmap="gray_r", vmin=0, vmax=1,
              extent=(-3.2, 3.2, -3.2, 3.2))
    ax.set(xlabel="$z_1$", ylabel="$z_2$",
           title="decoder means p(x_d = 1 | z) on a grid over $[-3, 3]^2$")
    ctx.save(fig, "05_decoded_grid.png")


def reconstructions_and_samples(ctx: FigureContext) -> None:
    """Test images, their reconstructions, decoder means of prior samples, binary samples."""
    model, _, test_x, _ = trained(ctx.fast, ctx.seed)
    n = 12
    gen = torch.Generator().manual_seed(ctx.seed)
    with torch.no_grad():
        recon = torch.sigmoid(model.decoder(model.posterior(test_x[:n]).mean))
        z = torch.randn(n, 2, generator=gen)
        means = torch.sigmoid(model.decoder(z))
        binary = torch.bernoulli(means, generator=gen)
    rows = [("test images (fixed binarization)", test_x[:n]),
            ("reconstructions: decoder mean at the posterior mean", recon),
            ("samples: decoder mean at z ~ N(0, I)", means),
            ("samples: x ~ p(x | z), the same z", binary)]
    ctx.save(image_rows_figure(rows, 10, 4.6), "05_reconstructions_samples.png")


def elbo_terms(ctx: FigureContext) -> None:
    """The ELBO and its two terms during training (running mean) and on the test images."""
    import matplotlib.pyplot as plt

    _, history, _, _ = trained(ctx.fast, ctx.seed)
    rec, kl = np.array(history.rec), np.array(history.kl)
    window = max(len(rec) // 40, 1)
    kernel = np.ones(window) / window

    def smooth(values: np.ndarray) -> np.ndarray:
        return np.convolve(values, kernel, mode="valid")

    steps = np.arange(window, len(rec) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.plot(steps, smooth(rec - kl), label="ELBO = reconstruction - KL (train batches)")
    ax.plot(steps, smooth(rec), label="reconstruction term $E_q \\log p(x|z)$")
    ax.plot(history.test_steps, np.array(history.test_rec) - np.array(history.test_kl), "o",
            ms=3, label="ELBO, test images")
    ax.set(xlabel="Adam step (batch 100)", ylabel="nats per image",
           ylim=(min(smooth(rec - kl)[len(steps) // 10:].min(), -250) - 5, None))
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(steps, smooth(kl), color="C3", label="KL(q(z|x) || p(z)) (train batches)")
    ax.plot(history.test_steps, history.test_kl, "o", ms=3, color="C2", label="KL, test images")
    ax.set(xlabel="Adam step (batch 100)", ylabel="nats per image")
    ax.legend(fontsize=8)
    fig.suptitle("the two terms of the ELBO while training (M = 2)", fontsize=10)
    fig.tight_layout()
    ctx.save(fig, "05_elbo_terms.png")


FIGURES = {
    "05_latent_space.png": latent_space,
    "05_decoded_grid.png": decoded_grid,
    "05_reconstructions_samples.png": reconstructions_and_samples,
    "05_elbo_terms.png": elbo_terms,
}

