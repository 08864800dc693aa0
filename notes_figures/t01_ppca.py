"""Figures of note 01 (probabilistic PCA): the generative picture, posterior shrinkage and
posterior ellipses, and the maximum-likelihood fit. Closed forms only (NumPy), seconds on a CPU."""

from __future__ import annotations

import numpy as np

from notes_figures import FigureContext
from notes_figures.gaussian_shapes import ellipse


def _posterior(x: np.ndarray, W: np.ndarray, b: np.ndarray, sigma2: float):
    """PPCA posterior means [N, M] and shared covariance [M, M]; A = WᵀW + σ²I."""
    A = W.T @ W + sigma2 * np.eye(W.shape[1])
    return np.linalg.solve(A, W.T @ (x - b).T).T, sigma2 * np.linalg.inv(A)


def _mle(X: np.ndarray, M: int):
    """Tipping & Bishop's closed-form maximum-likelihood PPCA (R = I)."""
    b = X.mean(0)
    S = (X - b).T @ (X - b) / len(X)
    lam, U = np.linalg.eigh(S)
    lam, U = lam[::-1], U[:, ::-1]
    sigma2 = lam[M:].mean()
    return U[:, :M] * np.sqrt(lam[:M] - sigma2), b, sigma2, lam


def generative(ctx: FigureContext) -> None:
    """p(z) on a line, the linear map W z + b, the noise circles and the marginal ellipse."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed)
    W, b, sigma2 = np.array([[2.0], [1.0]]), np.array([1.0, -1.0]), 0.3
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    z_grid = np.linspace(-3, 3, 300)
    axes[0].plot(z_grid, np.exp(-z_grid**2 / 2) / np.sqrt(2 * np.pi), "k")
    z_marks = np.array([-1.5, 0.0, 1.0])
    axes[0].scatter(z_marks, np.zeros(3), c=["C0", "C1", "C2"], s=60, zorder=3)
    axes[0].set(title="1. draw z ~ N(0, 1)", xlabel="z", ylabel="p(z)")
    line = b + np.linspace(-3, 3, 2)[:, None] * W.T
    for ax in axes[1:]:
        ax.plot(*line.T, "k-", lw=1.5, label="b + W z")
        ax.set_aspect("equal")
        ax.set(xlim=(-6, 8), ylim=(-5, 3), xlabel="x₁", ylabel="x₂")
    for k, z in enumerate(z_marks):
        centre = b + W[:, 0] * z
        axes[1].scatter(*centre, c=f"C{k}", s=60, zorder=3)
        pts = centre + np.sqrt(sigma2) * rng.standard_normal((40, 2))
        axes[1].scatter(*pts.T, c=f"C{k}", s=6, alpha=0.5)
        axes[1].plot(*ellipse(centre, sigma2 * np.eye(2)).T, f"C{k}-", lw=1)
    axes[1].set_title("2. x = W z + b + σ ε: an isotropic\n"
                      "noise cloud around each point of the line")
    n = 300 if ctx.fast else 1500
    X = (rng.standard_normal((n, 1)) @ W.T) + b + np.sqrt(sigma2) * rng.standard_normal((n, 2))
    C = W @ W.T + sigma2 * np.eye(2)
    axes[2].scatter(*X.T, s=4, alpha=0.3, c="C7", label="samples of p(x)")
    for k in (1, 2):
        axes[2].plot(*ellipse(b, C, k).T, "C3-", lw=1.5, label="marginal N(b, WWᵀ + σ²I)"
                     if k == 1 else None)
    axes[2].legend(loc="lower right", fontsize=8)
    axes[2].set_title("3. the marginal: a Gaussian elongated\nalong W (1σ and 2σ contours)")
    fig.tight_layout()
    ctx.save(fig, "01_ppca_generative.png")


def shrinkage(ctx: FigureContext) -> None:
    """Posterior means W E[z|x] + b against the orthogonal projection, at a large σ²."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 1)
    W, b = np.array([[1.0], [0.5]]), np.array([1.0, -1.0])
    u = W[:, 0] / np.linalg.norm(W)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, sigma2 in zip(axes, (0.05, 1.0), strict=True):
        z = np.array([-2.2, -1.2, 1.3, 2.4])
        offsets = np.array([1.0, -0.8, 0.9, -1.1])[:, None] * np.array([-u[1], u[0]])
        x = b + z[:, None] * W[:, 0] + offsets + 0.1 * rng.standard_normal((4, 2))
        mean, cov = _posterior(x, W, b, sigma2)
        recon = b + mean @ W.T
        proj = b + ((x - b) @ u)[:, None] * u
        line = b + np.linspace(-3.5, 3.5, 2)[:, None] * W.T
        ax.plot(*line.T, "k-", lw=1)
        ax.scatter(*x.T, c="C0", s=40, label="data point x", zorder=3)
        ax.scatter(*proj.T, marker="+", s=140, c="C2", label="orthogonal projection (PCA)",
                   zorder=4)
        ax.scatter(*recon.T, marker="x", s=80, c="C3", label="W E[z|x] + b (PPCA)", zorder=4)
        sd = np.sqrt(cov[0, 0]) * np.linalg.norm(W)
        for xi, p, r in zip(x, proj, recon, strict=True):
            ax.plot(*np.stack([xi, p]).T, "C2:", lw=1)
            ax.annotate("", xy=r, xytext=p, arrowprops=dict(arrowstyle="->", color="C3", lw=1.5))
            ax.plot(*np.stack([r - 2 * sd * u, r + 2 * sd * u]).T, "C3-", lw=6, alpha=0.25)
        ax.scatter(*b, marker="*", s=200, c="k", label="b", zorder=5)
        wtw = float((W.T @ W)[0, 0])
        factor = wtw / (wtw + sigma2)
        ax.set_title(f"σ² = {sigma2}: shrinkage factor WᵀW/(WᵀW+σ²) = {factor:.2f}")
        ax.set_aspect("equal")
        ax.set(xlim=(-2.5, 4.5), ylim=(-3.2, 1.6))
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].text(0.02, 0.02, "shaded bars: W times the ±2 sd posterior interval of z",
                 transform=axes[1].transAxes, fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "01_ppca_shrinkage.png")


def posterior_ellipses(ctx: FigureContext) -> None:
    """Two-dimensional latent space: the prior, and posteriors of a few x at two noise levels."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 2)
    W = np.array([[2.0, 0.0], [0.6, 0.8], [0.0, 0.5], [1.0, -0.4]])
    b = np.zeros(4)
    z_true = np.array([[1.5, 1.0], [-1.0, 1.5], [0.5, -1.8]])
    eps = rng.standard_normal((3, 4))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, sigma2 in zip(axes, (0.1, 1.0), strict=True):
        x = z_true @ W.T + b + np.sqrt(sigma2) * eps
        mean, cov = _posterior(x, W, b, sigma2)
        ax.plot(*ellipse(np.zeros(2), np.eye(2)).T, "k--", lw=1, label="prior N(0, I), 2 sd")
        for k in range(3):
            ax.plot(*ellipse(mean[k], cov).T, f"C{k}-", lw=2,
                    label="posterior p(z|x), 2 sd" if k == 0 else None)
            ax.scatter(*mean[k], c=f"C{k}", s=40)
            ax.scatter(*z_true[k], c=f"C{k}", marker="s", s=30, alpha=0.6)
            ax.plot(*np.stack([z_true[k], mean[k]]).T, f"C{k}:", lw=1)
        ax.set_aspect("equal")
        ax.set(xlim=(-2.6, 2.6), ylim=(-2.6, 2.6), xlabel="z₁", ylabel="z₂",
               title=f"σ² = {sigma2}: posterior covariance σ²A⁻¹ (same for every x)")
    axes[0].legend(loc="lower left", fontsize=8)
    axes[1].text(0.02, 0.95, "squares: the z that generated x\ndots: posterior means",
                 transform=axes[1].transAxes, fontsize=8, va="top")
    fig.tight_layout()
    ctx.save(fig, "01_ppca_posterior_ellipses.png")


def ml_fit(ctx: FigureContext) -> None:
    """The ML fit: its marginal against the data, and the eigenvalue spectrum with σ̂²."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 3)
    n = 300 if ctx.fast else 2000
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    W2, b2 = np.array([[1.6], [0.9]]), np.array([0.5, 0.5])
    X = rng.standard_normal((n, 1)) @ W2.T + b2 + np.sqrt(0.25) * rng.standard_normal((n, 2))
    W, b, sigma2, lam = _mle(X, 1)
    C = W @ W.T + sigma2 * np.eye(2)
    axes[0].scatter(*X.T, s=4, alpha=0.3, c="C7", label="data")
    for k in (1, 2):
        axes[0].plot(*ellipse(b, C, k).T, "C3-", lw=1.5,
                     label="ML marginal N(b̂, ŴŴᵀ + σ̂²I)" if k == 1 else None)
    u = W[:, 0] / np.linalg.norm(W)
    pca = b + np.linspace(-4, 4, 2)[:, None] * np.sqrt(lam[0]) * u
    axes[0].plot(*pca.T, "C0-", lw=1, label="principal direction (PCA)")
    axes[0].plot(*(b + np.stack([-W[:, 0], W[:, 0]])).T, "k-", lw=3,
                 label=f"± Ŵ: length √(λ₁ − σ̂²) = {np.linalg.norm(W):.2f}")
    axes[0].set_aspect("equal")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[0].set_title(f"D = 2, M = 1: σ̂² = λ₂ = {sigma2:.3f} (true 0.25)")
    D, M = 10, 3
    W10 = rng.standard_normal((D, M)) * np.array([1.5, 1.0, 0.6])
    X10 = rng.standard_normal((n, M)) @ W10.T + np.sqrt(0.3) * rng.standard_normal((n, D))
    _, _, s2_10, lam10 = _mle(X10, M)
    j = np.arange(1, D + 1)
    axes[1].semilogy(j[:M], lam10[:M], "o", c="C0", ms=9, label="retained: λⱼ = (ŴᵀŴ)ⱼ + σ̂²")
    axes[1].semilogy(j[M:], lam10[M:], "o", c="C7", ms=9,
                     label="discarded: their mean is σ̂²")
    axes[1].axhline(s2_10, color="C3", ls="--", lw=1.5, label="σ̂², the noise in every direction")
    for k in range(M):
        axes[1].annotate("", xy=(j[k], s2_10), xytext=(j[k], lam10[k]),
                         arrowprops=dict(arrowstyle="<->", color="C0", lw=1))
    axes[1].set(xlabel="eigenvalue index j", ylabel="eigenvalue λⱼ of S (log scale)",
                title=f"D = {D}, M = {M}: σ̂² = {s2_10:.3f} (true 0.3)", xticks=j)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "01_ppca_ml_fit.png")


FIGURES = {
    "01_ppca_generative.png": generative,
    "01_ppca_shrinkage.png": shrinkage,
    "01_ppca_posterior_ellipses.png": posterior_ellipses,
    "01_ppca_ml_fit.png": ml_fit,
}
