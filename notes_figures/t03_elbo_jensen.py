"""Figures of note 03 (the ELBO): Jensen's gap on the concave log, the ELBO against log p(x)
as q moves, the log-weights behind the estimators, and the gap a mean-field q cannot close on
a correlated posterior. PPCA closed forms (NumPy), seconds on a CPU."""

from __future__ import annotations

import numpy as np

from notes_figures import FigureContext
from notes_figures.gaussian_shapes import ellipse

# the mock-exam PPCA model of topic 01 and a data point
W1, B1, S2_1, X1 = np.array([[1.0], [2.0]]), np.array([1.0, -1.0]), 2.0, np.array([2.0, 1.0])


def _log_marginal(x, W, b, sigma2):
    C = W @ W.T + sigma2 * np.eye(len(b))
    r = x - b
    _, logdet = np.linalg.slogdet(C)
    return -0.5 * (len(b) * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(C, r))


def _posterior(x, W, b, sigma2):
    A = W.T @ W + sigma2 * np.eye(W.shape[1])
    return np.linalg.solve(A, W.T @ (x - b)), sigma2 * np.linalg.inv(A)


def _kl(mq, Sq, mp, Sp):
    """KL(N(mq, Sq) || N(mp, Sp))."""
    P = np.linalg.inv(Sp)
    d = mp - mq
    return 0.5 * (np.trace(P @ Sq) + d @ P @ d - len(mq)
                  + np.linalg.slogdet(Sp)[1] - np.linalg.slogdet(Sq)[1])


def jensen(ctx: FigureContext) -> None:
    """log E[w] ≥ E[log w]: the two-point example and a spread of w."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    w = np.linspace(0.05, 5, 400)
    ax = axes[0]
    ax.plot(w, np.log(w), "k", lw=2, label="log w")
    a, b = 0.5, 4.0
    ax.plot([a, b], np.log([a, b]), "C0-", lw=1.5, label="chord")
    ax.scatter([a, b], np.log([a, b]), c="C0", zorder=3)
    m = (a + b) / 2
    ax.scatter([m], [np.log(m)], c="C3", s=50, zorder=3, label=f"log E[w] = {np.log(m):.3f}")
    ax.scatter([m], [np.mean(np.log([a, b]))], c="C0", s=50, marker="s", zorder=3,
               label=f"E[log w] = {np.mean(np.log([a, b])):.3f}")
    ax.annotate("", xy=(m, np.mean(np.log([a, b]))), xytext=(m, np.log(m)),
                arrowprops=dict(arrowstyle="<->", color="C3"))
    ax.text(m + 0.1, 0.55, "Jensen gap", color="C3")
    ax.set(xlabel="w", ylabel="log w", ylim=(-1.5, 1.8),
           title="w ∈ {½, 4} with probability ½ each")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    spreads = np.linspace(0.01, 1.5, 40)
    n = 2000 if ctx.fast else 20000
    eps = rng.standard_normal(n)
    gaps = [np.log(np.mean(np.exp(s * eps))) - np.mean(s * eps) for s in spreads]
    ax.plot(spreads, gaps, "C3o", ms=3, label="Monte Carlo, log w ~ N(0, s²)")
    ax.plot(spreads, spreads**2 / 2, "k-", lw=1, label="exact: s²/2")
    ax.set(xlabel="spread s of log w", ylabel="log E[w] − E[log w]",
           title="the gap grows with the spread of w;\nit is zero only when w is constant")
    ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "03_jensen_gap.png")


def elbo_vs_logpx(ctx: FigureContext) -> None:
    """PPCA mock exam: ELBO(q) as q's scale and mean move away from the posterior."""
    import matplotlib.pyplot as plt

    logpx = _log_marginal(X1, W1, B1, S2_1)
    mp, Sp = _posterior(X1, W1, B1, S2_1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    c = np.exp(np.linspace(np.log(0.05), np.log(6), 300))
    elbo_c = np.array([logpx - _kl(mp, ci * Sp, mp, Sp) for ci in c])
    axes[0].axhline(logpx, color="k", lw=1.5, label=f"log p(x) = {logpx:.3f}")
    axes[0].plot(c, elbo_c, "C3", lw=2, label="ELBO of q = N(μ_post, c Σ_post)")
    axes[0].fill_between(c, elbo_c, logpx, color="C3", alpha=0.15,
                         label="gap = KL(q‖p(z|x)) = ½(c − 1 − log c)")
    axes[0].set(xscale="log", xlabel="scale c of q's variance (log axis)", ylabel="nats",
                ylim=(logpx - 2.5, logpx + 0.3), title="tight only at the posterior, c = 1")
    axes[0].legend(fontsize=8, loc="lower center")
    delta = np.linspace(-3, 3, 300) * np.sqrt(Sp[0, 0])
    for k, ci in enumerate((1.0, 0.3, 3.0)):
        elbo_d = [logpx - _kl(mp + dd, ci * Sp, mp, Sp) for dd in delta]
        axes[1].plot(mp[0] + delta, elbo_d, f"C{k + 2}", lw=2, label=f"c = {ci}")
    axes[1].axhline(logpx, color="k", lw=1.5, label="log p(x)")
    axes[1].axvline(mp[0], color="k", ls=":", lw=1)
    axes[1].set(xlabel="mean μ of q", ylabel="nats", ylim=(logpx - 5, logpx + 0.3),
                title="moving the mean costs ½Δ²/Σ_post (Mahalanobis)")
    axes[1].legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    ctx.save(fig, "03_elbo_vs_logpx.png")


def log_weights(ctx: FigureContext) -> None:
    """Log-weights log p(x, z) − log q(z): a spike at log p(x) for the posterior, a spread for a
    worse q, and the log-mean-exp estimate climbing to log p(x) as S grows."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 1)
    logpx = _log_marginal(X1, W1, B1, S2_1)
    mp, Sp = _posterior(X1, W1, B1, S2_1)
    sp = np.sqrt(Sp[0, 0])

    def log_w(z, mq, sq):
        log_prior = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        r = X1[None] - z[:, None] * W1[:, 0] - B1
        log_lik = -0.5 * (r**2).sum(1) / S2_1 - np.log(2 * np.pi * S2_1)
        log_q = -0.5 * ((z - mq) / sq) ** 2 - np.log(sq) - 0.5 * np.log(2 * np.pi)
        return log_prior + log_lik - log_q

    qs = {"q = posterior": (mp[0], sp), "q wider, shifted": (mp[0] + 0.5, 2.0 * sp)}
    n = 5000 if ctx.fast else 50000
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    mq, sq = qs["q wider, shifted"]
    lw = log_w(mq + sq * rng.standard_normal(n), mq, sq)
    axes[0].hist(lw, bins=np.linspace(logpx - 8, logpx + 1, 150), density=True, alpha=0.5,
                 color="C1", label=f"q wider, shifted: mean (ELBO) = {lw.mean():.3f}")
    lw_post = log_w(mp[0] + sp * rng.standard_normal(n), mp[0], sp)
    axes[0].axvline(lw_post.mean(), color="C0", lw=5, alpha=0.6,
                    label=f"q = posterior: all {n} log-weights = {lw_post.mean():.3f} "
                          f"(sd {lw_post.std():.0e})")
    axes[0].axvline(logpx, color="k", lw=1, ls="--", label=f"log p(x) = {logpx:.3f}")
    axes[0].set(xlabel="log w = log p(x, z) − log q(z)", ylabel="density",
                title="the posterior gives every sample the same log-weight")
    axes[0].legend(fontsize=8, loc="upper left")
    sizes = np.unique(np.logspace(0, 3, 13).astype(int))
    lmes, elbos = [], []
    for S in sizes:
        reps = max(100, (20_000 if ctx.fast else 400_000) // S)
        lw = log_w(mq + sq * rng.standard_normal(reps * S), mq, sq).reshape(reps, S)
        m = lw.max(1, keepdims=True)
        lmes.append((m[:, 0] + np.log(np.mean(np.exp(lw - m), 1))).mean())
        elbos.append(lw.mean(1).mean())
    axes[1].axhline(logpx, color="k", lw=1.5, label="log p(x)")
    axes[1].plot(sizes, elbos, "C1s-", ms=4, label="ELBO estimate (mean of log w)")
    axes[1].plot(sizes, lmes, "C3o-", ms=4, label="E[log mean_S w] (the IWAE bound, topic 06)")
    axes[1].set(xscale="log", xlabel="samples S", ylabel="nats",
                title="more samples: the ELBO does not move,\nlog-mean-exp climbs to log p(x)")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    ctx.save(fig, "03_log_weights.png")


def mean_field(ctx: FigureContext) -> None:
    """A correlated 2-D posterior, the best factorised q, and the gap −½ log(1 − ρ²)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    W = np.array([[1.0, 1.0], [1.0, 0.4], [0.3, 1.0]])
    b, sigma2, x = np.zeros(3), 0.5, np.array([1.5, 0.8, 1.0])
    mp, Sp = _posterior(x, W, b, sigma2)
    Lam = np.linalg.inv(Sp)
    Sq = np.diag(1 / np.diag(Lam))
    rho = Sp[0, 1] / np.sqrt(Sp[0, 0] * Sp[1, 1])
    ax = axes[0]
    ax.plot(*ellipse(mp, Sp).T, "C2", lw=2, label=f"posterior p(z|x), ρ = {rho:.2f}")
    ax.plot(*ellipse(mp, Sq).T, "C3", lw=2, label="best factorised q (variances 1/Λᵢᵢ)")
    ax.plot(*ellipse(mp, np.diag(np.diag(Sp))).T, "C0--", lw=1,
            label="factorised q with the marginal variances")
    ax.set_aspect("equal")
    ax.set(xlabel="z₁", ylabel="z₂",
           title=f"PPCA, M = 2: the smallest gap left\nis KL = {_kl(mp, Sq, mp, Sp):.3f} nats")
    ax.legend(fontsize=8, loc="lower right")
    r = np.linspace(0, 0.99, 200)
    axes[1].plot(r, -0.5 * np.log(1 - r**2), "C3", lw=2)
    axes[1].scatter([abs(rho)], [_kl(mp, Sq, mp, Sp)], c="k", zorder=3,
                    label="the PPCA example on the left")
    axes[1].set(xlabel="posterior correlation |ρ|", ylabel="gap log p(x) − max ELBO (nats)",
                title="mean-field gap −½ log(1 − ρ²): no amount\nof optimisation closes it")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "03_mean_field_gap.png")


FIGURES = {
    "03_jensen_gap.png": jensen,
    "03_elbo_vs_logpx.png": elbo_vs_logpx,
    "03_log_weights.png": log_weights,
    "03_mean_field_gap.png": mean_field,
}
