"""Figures of note 02 (KL divergences): the asymmetry in 1-D, forward vs reverse KL with a
factorised q on a correlated Gaussian (Bishop, PRML Fig. 10.2) and on a bimodal target
(Fig. 10.3 style) from several starting points, and reverse-KL fits as two modes move apart.

Every KL is computed by quadrature on a grid and minimised with L-BFGS from fixed starting
points, so the figures are deterministic and take seconds."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

from notes_figures import FigureContext
from notes_figures.gaussian_shapes import ellipse


def _log_normal(x: np.ndarray, mu: float, s: float) -> np.ndarray:
    return -0.5 * ((x - mu) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)


def _kl_grid(log_a: np.ndarray, log_b: np.ndarray, cell: float) -> float:
    """KL(a || b) by a Riemann sum over grid cells of area ``cell``."""
    a = np.exp(log_a)
    return float(np.sum(a * (log_a - log_b)) * cell)


def asymmetry_1d(ctx: FigureContext) -> None:
    """KL(q||p) and KL(p||q) for two 1-D Gaussians, against the width ratio and the shift."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.9))
    r = np.linspace(0.05, 3.0, 400)
    axes[0].plot(r, 0.5 * (r**2 - 1) - np.log(r), "C3", lw=2,
                 label="KL(q‖p) = ½(r² − 1) − log r")
    axes[0].plot(r, 0.5 * (1 / r**2 - 1) + np.log(r), "C0", lw=2,
                 label="KL(p‖q) = ½(1/r² − 1) + log r")
    axes[0].axvline(1, color="k", lw=0.8, ls=":")
    axes[0].set(xlabel="r = s_q / s_p (equal means)", ylabel="nats", ylim=(0, 4),
                title="width mismatch: both are zero only at r = 1")
    axes[0].legend(fontsize=8)
    d = np.linspace(-3, 3, 300)
    for sq, c in ((0.5, "C3"), (1.0, "k"), (2.0, "C0")):
        kl_qp = np.log(1 / sq) + (sq**2 + d**2) / 2 - 0.5
        kl_pq = np.log(sq) + (1 + d**2) / (2 * sq**2) - 0.5
        axes[1].plot(d, kl_qp, c, lw=2, label=f"KL(q‖p), s_q = {sq}")
        axes[1].plot(d, kl_pq, c, lw=1.2, ls="--", label=f"KL(p‖q), s_q = {sq}")
    axes[1].set(xlabel="mean shift μ_q − μ_p  (s_p = 1)", ylabel="nats", ylim=(0, 6),
                title="the direction decides whose width\nscales the shift penalty")
    axes[1].legend(fontsize=7, ncol=2)
    x = np.linspace(-5, 5, 1000)
    p = np.exp(_log_normal(x, 0, 1))
    q = np.exp(_log_normal(x, 1.5, 0.5))
    log_ratio = _log_normal(x, 1.5, 0.5) - _log_normal(x, 0, 1)
    axes[2].fill_between(x, p, alpha=0.3, color="C0", label="p = N(0, 1)")
    axes[2].fill_between(x, q, alpha=0.3, color="C3", label="q = N(1.5, 0.5²)")
    axes[2].plot(x, q * log_ratio, "C3", lw=1.5, label="q log(q/p): integrand of KL(q‖p)")
    axes[2].plot(x, -p * log_ratio, "C0", lw=1.5, label="p log(p/q): integrand of KL(p‖q)")
    axes[2].axhline(0, color="k", lw=0.5)
    axes[2].set(xlabel="x", ylim=(-0.5, 3.3), title="each direction weighs the log-ratio\n"
                "by its own first argument")
    axes[2].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    ctx.save(fig, "02_kl_asymmetry_1d.png")


def _grid_2d(n: int, lim: float = 4.0):
    t = np.linspace(-lim, lim, n)
    X, Y = np.meshgrid(t, t, indexing="xy")
    return X, Y, (t[1] - t[0]) ** 2


def _log_q_factorised(X, Y, theta):
    m1, m2, ls1, ls2 = theta
    return _log_normal(X, m1, np.exp(ls1)) + _log_normal(Y, m2, np.exp(ls2))


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _reverse_kl(log_p_fn, theta) -> float:
    """KL(q||p) for a factorised Gaussian q = N(m, diag(e^{2 ls})) by Gauss-Hermite
    quadrature under q (exact entropy), so q cannot escape a fixed grid."""
    m1, m2, ls1, ls2 = theta
    Z1, Z2 = np.meshgrid(m1 + np.exp(ls1) * _NODES, m2 + np.exp(ls2) * _NODES, indexing="ij")
    expected_log_p = float(np.sum(np.outer(_WEIGHTS, _WEIGHTS) * log_p_fn(Z1, Z2)))
    entropy = 1 + np.log(2 * np.pi) + ls1 + ls2
    return -entropy - expected_log_p


def _fit_factorised(log_p_fn, X, Y, cell, theta0, direction):
    """Minimise KL(q||p) ("reverse") or KL(p||q) ("forward") over a factorised Gaussian q."""
    log_p = log_p_fn(X, Y)

    def objective(theta):
        if direction == "reverse":
            return _reverse_kl(log_p_fn, theta)
        return _kl_grid(log_p, _log_q_factorised(X, Y, theta), cell)

    return minimize(objective, np.asarray(theta0, float), method="L-BFGS-B").x


def correlated(ctx: FigureContext) -> None:
    """Bishop Fig. 10.2: a factorised q fitted to a correlated Gaussian, both directions."""
    import matplotlib.pyplot as plt

    mean, rho = np.array([0.0, 0.0]), 0.9
    cov = np.array([[1.0, rho], [rho, 1.0]])
    prec = np.linalg.inv(cov)
    X, Y, cell = _grid_2d(120 if ctx.fast else 240)

    def log_p(A, B):
        pts = np.stack([A - mean[0], B - mean[1]], -1)
        return (-0.5 * np.einsum("...i,ij,...j->...", pts, prec, pts)
                - np.log(2 * np.pi) - 0.5 * np.log(np.linalg.det(cov)))

    starts = [(1.5, -1.0, 0.5, -0.5), (-1.0, 1.5, -1.0, 0.3), (0.5, 0.5, 0.0, 0.0)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    closed = {"reverse": np.sqrt(1 / np.diag(prec)), "forward": np.sqrt(np.diag(cov))}
    for ax, direction in zip(axes, ("reverse", "forward"), strict=True):
        ax.plot(*ellipse(mean, cov).T, "C2", lw=2, label="p (ρ = 0.9)")
        for k, start in enumerate(starts):
            theta = _fit_factorised(log_p, X, Y, cell, start, direction)
            q_cov = np.diag(np.exp(2 * theta[2:]))
            ax.plot(*ellipse(theta[:2], q_cov).T, "C3", lw=2 - 0.5 * k, alpha=0.8,
                    label="fitted factorised q (3 starts)" if k == 0 else None)
            ax.scatter(*start[:2], marker="o", facecolor="none", edgecolor="C7", s=40,
                       label="starting means" if k == 0 else None)
        s = closed[direction]
        name = "KL(q‖p): variances 1/Λᵢᵢ = 1 − ρ²" if direction == "reverse" else \
            "KL(p‖q): variances Σᵢᵢ = 1"
        ax.set_title(f"minimise {name}\nclosed form s = ({s[0]:.2f}, {s[1]:.2f})", fontsize=10)
        ax.set_aspect("equal")
        ax.set(xlim=(-3, 3), ylim=(-3, 3), xlabel="z₁", ylabel="z₂")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    ctx.save(fig, "02_kl_correlated_gaussian.png")


def _log_mixture_2d(X, Y, centres, s):
    comps = [_log_normal(X, cx, s) + _log_normal(Y, cy, s) for cx, cy in centres]
    return logsumexp(np.stack(comps), axis=0) - np.log(len(centres))


def bimodal(ctx: FigureContext) -> None:
    """Fig. 10.3 style: a two-mode target; forward fit between the modes, reverse fits on one."""
    import matplotlib.pyplot as plt

    centres, s = [(-1.8, -1.8), (1.8, 1.8)], 0.6
    X, Y, cell = _grid_2d(120 if ctx.fast else 240, lim=4.5)

    def log_p_fn(A, B):
        return _log_mixture_2d(A, B, centres, s)

    log_p = log_p_fn(X, Y)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax in axes:
        ax.contour(X, Y, np.exp(log_p), levels=5, colors="C2", linewidths=1)
        ax.set_aspect("equal")
        ax.set(xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), xlabel="z₁", ylabel="z₂")
    theta = _fit_factorised(log_p_fn, X, Y, cell, (0.3, -0.2, 0.0, 0.0), "forward")
    axes[0].plot(*ellipse(theta[:2], np.diag(np.exp(2 * theta[2:]))).T, "C0", lw=2)
    axes[0].set_title("minimise KL(p‖q): q covers both modes\n(and the empty space between them)",
                      fontsize=10)
    starts = [(-0.5, -1.0, 0.3, 0.3), (0.8, 0.2, 0.3, 0.3), (0.4, 0.6, 0.3, 0.3),
              (-1.0, 0.5, 0.3, 0.3)]
    for start in starts:
        theta = _fit_factorised(log_p_fn, X, Y, cell, start, "reverse")
        axes[1].plot(*ellipse(theta[:2], np.diag(np.exp(2 * theta[2:]))).T, "C3", lw=2)
        axes[1].annotate("", xy=theta[:2], xytext=start[:2],
                         arrowprops=dict(arrowstyle="->", color="C7", lw=1))
        axes[1].scatter(*start[:2], marker="o", facecolor="none", edgecolor="C7", s=40)
    axes[1].set_title("minimise KL(q‖p) from 4 starts: each q locks\nonto the mode nearest its "
                      "start", fontsize=10)
    fig.tight_layout()
    ctx.save(fig, "02_kl_bimodal.png")


def separation(ctx: FigureContext) -> None:
    """Reverse-KL Gaussian fits to ½N(−d/2, 1) + ½N(d/2, 1) as the separation d grows: the
    broad fit (start at 0) and the one-mode fit (start on a mode); the better one is solid."""
    import matplotlib.pyplot as plt

    x = np.linspace(-8, 8, 1600)
    seps = [1.0, 3.0, 5.0, 6.0]
    fig, axes = plt.subplots(1, len(seps) + 1, figsize=(17, 3.5))
    d_grid = np.linspace(0.0, 7.0, 8 if ctx.fast else 36)
    best_width, switch = [], None
    for d in sorted(set(d_grid.tolist()) | set(seps)):
        def objective(theta, d=d):
            z = theta[0] + np.exp(theta[1]) * _NODES
            log_pz = logsumexp(np.stack([_log_normal(z, -d / 2, 1), _log_normal(z, d / 2, 1)]),
                               0) - np.log(2)
            return -(0.5 + 0.5 * np.log(2 * np.pi) + theta[1]) - float(_WEIGHTS @ log_pz)

        fits = [minimize(objective, np.array(t0), method="L-BFGS-B")
                for t0 in ([0.0, np.log(2.0)], [d / 2 + 0.1, 0.0])]
        best = min(fits, key=lambda r: r.fun)
        if d in d_grid:
            best_width.append((d, np.exp(best.x[1])))
            if switch is None and best is fits[1] and abs(best.x[0]) > 0.5:
                switch = d
        if d in seps:
            ax = axes[seps.index(d)]
            log_p = logsumexp(np.stack([_log_normal(x, -d / 2, 1), _log_normal(x, d / 2, 1)]),
                              0) - np.log(2)
            ax.fill_between(x, np.exp(log_p), alpha=0.3, color="C2", label="p")
            for fit, name in zip(fits, ("broad start", "start on a mode"), strict=True):
                m, sd = fit.x[0], np.exp(fit.x[1])
                ax.plot(x, np.exp(_log_normal(x, m, sd)), "C3" if fit is best else "C7",
                        lw=2 if fit is best else 1.2, ls="-" if fit is best else "--",
                        label=f"{name}: KL(q‖p) = {fit.fun:.3f}")
            ax.set(xlim=(-7, 7), title=f"modes {d:g} sd apart")
            ax.legend(fontsize=7, loc="upper left")
    d_arr, w_arr = np.array(best_width).T
    axes[-1].plot(d_arr, w_arr, "C3o-", ms=3, label="s_q of the better reverse-KL fit")
    axes[-1].plot(d_arr, np.sqrt(1 + d_arr**2 / 4), "C0--", label="s of p (moment matching)")
    axes[-1].set(xlabel="separation d (component sd 1)", ylabel="standard deviation",
                 title="one broad q covers both modes\n"
                 + (f"until d ≈ {switch:.1f}, then one mode" if switch else "at every d shown"))
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    ctx.save(fig, "02_reverse_kl_separation.png")


FIGURES = {
    "02_kl_asymmetry_1d.png": asymmetry_1d,
    "02_kl_correlated_gaussian.png": correlated,
    "02_kl_bimodal.png": bimodal,
    "02_reverse_kl_separation.png": separation,
}
