"""Small plotting helpers for image models."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def image_grid(images: torch.Tensor, rows: int) -> torch.Tensor:
    """[N, H, W] -> one [rows*H, cols*W] image (N must be a multiple of rows)."""
    images = images.detach().cpu().float()
    n, h, w = images.shape
    cols = n // rows
    return images[: rows * cols].reshape(rows, cols, h, w).permute(0, 2, 1, 3).reshape(
        rows * h, cols * w)


def show_images(images: torch.Tensor, rows: int = 1, title: str = "", ax=None):
    """Show a grid of grey images; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 1.2 * images.shape[0] / rows), 1.3 * rows))
    ax.imshow(image_grid(images, rows), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def plot_curve(values: Sequence[float], smooth: int = 50, ylabel: str = "ELBO", ax=None):
    """A raw curve with its running mean over ``smooth`` steps; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    v = torch.tensor(list(values), dtype=torch.float64)
    ax.plot(v.numpy(), alpha=0.3, label="per batch")
    if len(v) >= smooth:
        kernel = torch.ones(smooth, dtype=torch.float64) / smooth
        running = torch.nn.functional.conv1d(v[None, None], kernel[None, None])[0, 0]
        ax.plot(range(smooth - 1, len(v)), running.numpy(), label=f"mean of {smooth}")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def scatter_latent(z: torch.Tensor, labels: torch.Tensor, ax=None, s: float = 2.0):
    """2-D latent codes coloured by digit; returns the axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    z, labels = z.detach().cpu(), labels.detach().cpu()
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=s, vmin=-0.5, vmax=9.5)
    ax.figure.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return ax
