"""Figures of note 04 (gradient estimators): pathwise vs score-function variance against the
dimension (with a baseline), Gumbel-softmax samples and the bias/variance trade-off in the
temperature, and the step function where the pathwise estimator returns zero.
Vectorised NumPy with closed-form per-sample gradients; seconds on a CPU."""

from __future__ import annotations

import math

import numpy as np

from notes_figures import FigureContext


def variance_vs_dimension(ctx: FigureContext) -> None:
    """Single-sample estimators of ∂/∂μ₁ E[f(z)] for f(z) = ½‖z‖² + aᵀz, z ~ N(μ, I), M dims."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed)
    dims = [1, 2, 5, 10, 20, 50, 100, 200]
    reps = 4000 if ctx.fast else 40000
    curves = {"pathwise": [], "score function": [], "score function, baseline E[f]": [],
              "score function, 2 samples, leave-one-out baseline": []}
    for M in dims:
        mu, a = np.full(M, 0.5), np.full(M, 0.3)
        eps = rng.standard_normal((reps, 2, M))
        z = mu + eps

        def f(v, a=a):
            return 0.5 * (v**2).sum(-1) + v @ a

        fz = f(z)
        mean_f = 0.5 * (mu @ mu + M) + a @ mu
        curves["pathwise"].append(np.var(z[:, 0, 0] + a[0]))
        curves["score function"].append(np.var(fz[:, 0] * eps[:, 0, 0]))
        curves["score function, baseline E[f]"].append(np.var((fz[:, 0] - mean_f) * eps[:, 0, 0]))
        loo = 0.5 * ((fz[:, 0] - fz[:, 1]) * eps[:, 0, 0] + (fz[:, 1] - fz[:, 0]) * eps[:, 1, 0])
        curves["score function, 2 samples, leave-one-out baseline"].append(np.var(loo) * 2)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = ["C0o-", "C3s-", "C1^-", "C4v--"]
    for (name, values), style in zip(curves.items(), styles, strict=True):
        ax.loglog(dims, values, style, label=name, ms=5)
    ax.set(xlabel="latent dimension M", ylabel="variance per sample of the ∂/∂μ₁ estimate",
           title="f(z) = ½‖z‖² + aᵀz, z ~ N(μ, I): the exact gradient is μ₁ + a₁ = 0.8")
    ax.legend(fontsize=8)
    ax.text(0.98, 0.03, "leave-one-out variance is per sample\n"
            "(2 × the variance of the 2-sample mean)",
            transform=ax.transAxes, ha="right", fontsize=7)
    fig.tight_layout()
    ctx.save(fig, "04_variance_vs_dimension.png")


def _gumbel_softmax(eta: np.ndarray, tau: float, n: int, rng) -> np.ndarray:
    u = rng.uniform(np.finfo(float).tiny, 1.0, (n, len(eta)))
    logits = (eta - np.log(-np.log(u))) / tau
    logits -= logits.max(1, keepdims=True)
    y = np.exp(logits)
    return y / y.sum(1, keepdims=True)


def gumbel_softmax(ctx: FigureContext) -> None:
    """Relaxed samples on the simplex at four temperatures, and bias/variance against τ."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 1)
    probs = np.array([0.6, 0.3, 0.1])
    eta = np.log(probs)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    taus = [0.1, 0.5, 1.0, 5.0]
    fig = plt.figure(figsize=(14, 7))
    n = 500 if ctx.fast else 2000
    for k, tau in enumerate(taus):
        ax = fig.add_subplot(2, 4, k + 1)
        y = _gumbel_softmax(eta, tau, n, rng)
        ax.scatter(*(y @ corners).T, s=3, alpha=0.3, c=y.argmax(1), cmap="viridis")
        ax.plot(*np.vstack([corners, corners[:1]]).T, "k-", lw=0.8)
        ax.set_title(f"τ = {tau}")
        ax.set_aspect("equal")
        ax.axis("off")
    c = np.array([1.0, -2.0, 3.0])
    exact_value = c @ probs
    exact_grad = probs * (c - exact_value)
    tau_grid = np.logspace(-1.5, 1, 12 if ctx.fast else 30)
    m = 4000 if ctx.fast else 40000
    bias_value, bias_grad, var_grad = [], [], []
    for tau in tau_grid:
        y = _gumbel_softmax(eta, tau, m, rng)
        fy = y @ c
        grads = y * (c - fy[:, None]) / tau
        bias_value.append(abs(fy.mean() - exact_value))
        bias_grad.append(np.linalg.norm(grads.mean(0) - exact_grad))
        var_grad.append(grads.var(0).sum())
    ax = fig.add_subplot(2, 2, 3)
    ax.loglog(tau_grid, bias_value, "C0o-", ms=3, label="|E f(y_τ) − E f(onehot)|")
    ax.loglog(tau_grid, bias_grad, "C3s-", ms=3, label="‖E ∇f(y_τ) − ∇E f(onehot)‖")
    ax.set(xlabel="temperature τ", ylabel="bias",
           title="bias grows with τ (f(y) = cᵀy, π = (0.6, 0.3, 0.1))")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(2, 2, 4)
    ax.loglog(tau_grid, var_grad, "C4o-", ms=3, label="total variance of the per-sample gradient")
    ax.set(xlabel="temperature τ", ylabel="variance", title="variance grows as τ → 0")
    ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "04_gumbel_softmax.png")


def _normal_cdf(x):
    return 0.5 * (1 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2)))


def step_function(ctx: FigureContext) -> None:
    """f(z) = 1[z > 0]: E f = Φ(μ/σ) has slope φ(μ/σ)/σ; the pathwise estimate is exactly 0."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(ctx.seed + 2)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    z = np.linspace(-3, 3, 600)
    mu0, sigma = 0.3, 1.0
    slope = math.exp(-0.5 * (mu0 / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    axes[0].plot(z, (z > 0).astype(float), "k", lw=1.5, label="f(z) = 1[z > 0]: f′ = 0 a.e.")
    axes[0].plot(z, _normal_cdf(z / sigma), "C3", lw=2, label="E f(z), z ~ N(μ, 1), against μ")
    e0 = float(_normal_cdf(mu0 / sigma))
    axes[0].plot(z, e0 + slope * (z - mu0), "C3:", lw=1,
                 label=f"slope at μ = {mu0}: φ(μ)/σ = {slope:.3f}")
    axes[0].set(xlabel="z (black) or μ (red)", ylim=(-0.2, 1.2),
                title="the expectation is smooth although f is a step")
    axes[0].legend(fontsize=8, loc="upper left")
    S, reps = 100, 2000 if ctx.fast else 20000
    eps = rng.standard_normal((reps, S))
    f = (mu0 + sigma * eps > 0).astype(float)
    score = (f * eps / sigma).mean(1)
    baseline = ((f - f.mean(1, keepdims=True)) * eps / sigma).mean(1) * S / (S - 1)
    bins = np.linspace(-0.2, 0.9, 80)
    axes[1].hist(score, bins=bins, alpha=0.5, color="C0", density=True,
                 label=f"score function (sd {score.std():.3f})")
    axes[1].hist(baseline, bins=bins, alpha=0.5, color="C1", density=True,
                 label=f"score function, leave-one-out baseline (sd {baseline.std():.3f})")
    axes[1].axvline(0, color="C3", lw=3, label="pathwise: exactly 0 every time")
    axes[1].axvline(slope, color="k", ls="--", lw=1.5, label=f"true gradient {slope:.3f}")
    axes[1].set(xlabel="estimate of ∂/∂μ E f(z)  (S = 100 samples each)", ylabel="density",
                title=f"{reps} repetitions of each estimator")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    ctx.save(fig, "04_step_function.png")


FIGURES = {
    "04_variance_vs_dimension.png": variance_vs_dimension,
    "04_gumbel_softmax.png": gumbel_softmax,
    "04_step_function.png": step_function,
}
