"""Figures of note 08 (hierarchical VAEs): the generative model and the two inference orders,
the precision-weighted merge (1-D, exact), the per-unit KL and active units of a bottom-up
model without warm-up and a top-down model with warm-up, and the per-layer KL during training.
The two tiny two-layer models are trained once per run and shared."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
import torch.distributions as td
from torch import nn

from notes_figures import FigureContext
from notes_figures._tiny_vae import PIXELS, diag_gaussian, mlp, mnist, one_thread

M1, M2 = 16, 4
ACTIVE = 0.01
USED_KL = 0.05


def merge(mu_a: torch.Tensor, logvar_a: torch.Tensor, mu_b: torch.Tensor,
          logvar_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Product of two diagonal Gaussians, normalised: precisions add, means precision-weighted."""
    logvar = -torch.logaddexp(-logvar_a, -logvar_b)
    mu = torch.exp(logvar) * (mu_a * torch.exp(-logvar_a) + mu_b * torch.exp(-logvar_b))
    return mu, logvar


class TwoLayerVAE(nn.Module):
    """p(z2) p(z1 | z2) p(x | z1) with a bottom-up or a top-down (Ladder) posterior."""

    def __init__(self, top_down: bool, hidden: int = 200) -> None:
        super().__init__()
        self.top_down = top_down
        self.p_z1 = mlp(M2, 64, 2 * M1)
        self.p_x = mlp(M1, hidden, PIXELS)
        self.q_z1 = mlp(PIXELS, hidden, 2 * M1)   # bottom-up q(z1|x), or the estimate from x
        self.q_z2 = mlp(PIXELS, hidden, 2 * M2) if top_down else mlp(M1, 64, 2 * M2)

    def unit_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One reparameterised draw: rec [B], per-unit KL terms kl1 [B, M1], kl2 [B, M2], and
        the posterior means of both layers (the dependent layer at the sampled parent)."""
        prior_z2 = td.Normal(torch.zeros(M2), torch.ones(M2))
        if self.top_down:
            q2 = diag_gaussian(self.q_z2(x)).base_dist
            z2 = q2.rsample()
            p1 = diag_gaussian(self.p_z1(z2)).base_dist
            mu_hat, logvar_hat = self.q_z1(x).chunk(2, -1)
            mu, logvar = merge(mu_hat, logvar_hat, p1.loc, 2 * p1.scale.log())
            q1 = td.Normal(mu, torch.exp(0.5 * logvar))
            z1 = q1.rsample()
            kl1 = td.kl_divergence(q1, p1)
        else:
            q1 = diag_gaussian(self.q_z1(x)).base_dist
            z1 = q1.rsample()
            q2 = diag_gaussian(self.q_z2(z1)).base_dist
            z2 = q2.rsample()
            p1 = diag_gaussian(self.p_z1(z2)).base_dist
            kl1 = q1.log_prob(z1) - p1.log_prob(z1)
        kl2 = td.kl_divergence(q2, prior_z2)
        rec = td.Independent(td.Bernoulli(logits=self.p_x(z1)), 1).log_prob(x)
        return {"rec": rec, "kl1": kl1, "kl2": kl2, "mean1": q1.loc, "mean2": q2.loc}


@dataclass
class Trace:
    """Per-step batch means of the two layers' KL and the warm-up weight."""

    kl1: list[float] = field(default_factory=list)
    kl2: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)


def train(model: TwoLayerVAE, data, steps: int, warmup: int, seed: int) -> Trace:
    """Adam (lr 1e-3, batch 100) on -(rec - beta (kl1 + kl2)), beta = min(1, step / warmup)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    trace = Trace()
    step = 0
    with one_thread():
        while step < steps:
            for batch in data.batches(100):
                beta = min(1.0, step / warmup) if warmup else 1.0
                terms = model.unit_terms(batch.reshape(-1, PIXELS))
                kl1, kl2 = terms["kl1"].sum(-1), terms["kl2"].sum(-1)
                loss = -(terms["rec"] - beta * (kl1 + kl2)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                trace.kl1.append(kl1.mean().item())
                trace.kl2.append(kl2.mean().item())
                trace.beta.append(beta)
                step += 1
                if step >= steps:
                    break
    return trace


MODELS = {"bottom-up, no warm-up": (False, 0), "top-down + warm-up": (True, 1)}


@lru_cache(maxsize=2)
def trained(fast: bool, seed: int) -> tuple[dict[str, tuple[TwoLayerVAE, Trace]], torch.Tensor]:
    """Both models (same seed, data and steps) and the test images."""
    n_train, steps = (1000, 100) if fast else (10000, 3000)
    data, test_x, _ = mnist(n_train, 1000)
    out = {}
    for name, (top_down, warm) in MODELS.items():
        torch.manual_seed(seed)
        model = TwoLayerVAE(top_down)
        trace = train(model, data, steps, warm * steps // 3, seed)
        out[name] = (model.eval(), trace)
    return out, test_x


def graphical_models(ctx: FigureContext) -> None:
    """The generative model and the two inference orders, as arrows between nodes."""
    import matplotlib.pyplot as plt

    nodes = {"z2": (0.5, 2.0), "z1": (0.5, 1.0), "x": (0.5, 0.0)}
    labels = {"z2": "$z_2$", "z1": "$z_1$", "x": "$x$"}
    panels = [
        ("generative model\n$p(z_2)\\,p_\\theta(z_1|z_2)\\,p_\\theta(x|z_1)$",
         [("z2", "z1", "C0"), ("z1", "x", "C0")]),
        ("bottom-up inference\n$q(z_1|x)\\,q(z_2|z_1)$",
         [("x", "z1", "C3"), ("z1", "z2", "C3")]),
        ("top-down inference (Ladder VAE)\n$q(z_2|x)\\,q(z_1|z_2, x)$",
         [("x", "z2", "C3"), ("z2", "z1", "C0"), ("x", "z1", "C3")]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    for ax, (title, edges) in zip(axes, panels, strict=True):
        for name, (px, py) in nodes.items():
            ax.add_patch(plt.Circle((px, py), 0.22, fill=name == "x", color="lightgrey",
                                    ec="black"))
            ax.text(px, py, labels[name], ha="center", va="center", fontsize=14)
        for start, end, colour in edges:
            (x0, y0), (x1, y1) = nodes[start], nodes[end]
            bend = 0.0
            if {start, end} == {"x", "z2"}:
                bend = -0.6
            ax.annotate("", xy=(x1, y1 + (0.22 if y1 < y0 else -0.22)),
                        xytext=(x0, y0 + (-0.22 if y1 < y0 else 0.22)),
                        arrowprops=dict(arrowstyle="-|>", color=colour, lw=2,
                                        connectionstyle=f"arc3,rad={bend}"))
        ax.set(xlim=(-0.4, 1.4), ylim=(-0.5, 2.5), aspect="equal", title=title)
        ax.set_axis_off()
    axes[2].text(1.0, 1.0, "blue: the same\nnetwork as\n$p_\\theta(z_1|z_2)$,\nmerged with an\n"
                 "estimate from $x$", fontsize=8, va="center")
    fig.tight_layout()
    ctx.save(fig, "08_graphical_models.png")


def precision_merge(ctx: FigureContext) -> None:
    """The product of a bottom-up estimate and the top-down prior, normalised (1-D)."""
    import matplotlib.pyplot as plt

    z = torch.linspace(-4, 5, 900)
    cases = [((2.0, math.log(0.5 ** 2)), (-0.5, math.log(1.2 ** 2))),
             ((2.0, math.log(1.5 ** 2)), (-0.5, math.log(0.4 ** 2)))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, ((mu_hat, v_hat), (mu_p, v_p)) in zip(axes, cases, strict=True):
        mu, v = merge(torch.tensor(mu_hat), torch.tensor(v_hat), torch.tensor(mu_p),
                      torch.tensor(v_p))
        for (m, lv), label in (((mu_hat, v_hat), "estimate from x, $N(\\hat\\mu, \\hat\\sigma^2)$"),
                               ((mu_p, v_p), "top-down prior $p(z_1|z_2)$"),
                               ((mu.item(), v.item()), "merged $q(z_1|z_2, x)$")):
            density = td.Normal(m, math.exp(0.5 * lv)).log_prob(z).exp()
            ax.plot(z.numpy(), density.numpy(),
                    label=f"{label}: mean {m:.2f}, sd {math.exp(0.5 * lv):.2f}")
        ax.set(xlabel="$z_1$ (one unit)", title="precisions add, means are precision-weighted")
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("density")
    fig.tight_layout()
    ctx.save(fig, "08_precision_merge.png")


def unit_statistics(model: TwoLayerVAE, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-unit mean KL and activity Var_x E_q[z_u | x] of both layers on images ``x``."""
    with torch.no_grad(), one_thread():
        terms = model.unit_terms(x)
    return {"kl1": terms["kl1"].mean(0).numpy(), "kl2": terms["kl2"].mean(0).numpy(),
            "act1": terms["mean1"].var(0).numpy(), "act2": terms["mean2"].var(0).numpy()}


def active_units(ctx: FigureContext) -> None:
    """Per-unit KL bars per layer, active units counted, for both models."""
    import matplotlib.pyplot as plt

    models, test_x = trained(ctx.fast, ctx.seed)
    torch.manual_seed(ctx.seed)
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), gridspec_kw={"width_ratios": [M1, M2 + 2]})
    for row, (name, (model, _)) in enumerate(models.items()):
        stats = unit_statistics(model, test_x)
        for col, layer in enumerate(("1", "2")):
            kl, act = stats["kl" + layer], stats["act" + layer]
            ax = axes[row, col]
            colours = ["C0" if a > ACTIVE else "C3" for a in act]
            ax.bar(np.arange(len(kl)), kl, color=colours)
            ax.set(xticks=np.arange(len(kl)), xticklabels=np.arange(1, len(kl) + 1),
                   ylabel="mean KL (nats)" if col == 0 else None)
            ax.set_title(f"{name}: $z_{layer}$, KL {kl.sum():.1f} nats\n"
                         f"{int((act > ACTIVE).sum())} of {len(act)} active by $A_u$, "
                         f"{int((kl > USED_KL).sum())} with KL > {USED_KL} nats", fontsize=9)
            ax.tick_params(labelsize=7)
    fig.suptitle("per-unit KL on 1,000 test images; blue: active by $A_u = Var_x E_q[z_u|x]$ > "
                 f"{ACTIVE}, red: inactive", fontsize=10)
    fig.tight_layout()
    ctx.save(fig, "08_active_units.png")


def kl_per_layer(ctx: FigureContext) -> None:
    """Each layer's KL during training, and the warm-up weight beta."""
    import matplotlib.pyplot as plt

    models, test_x = trained(ctx.fast, ctx.seed)
    torch.manual_seed(ctx.seed)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, (name, (model, trace)) in zip(axes, models.items(), strict=True):
        with torch.no_grad(), one_thread():
            terms = model.unit_terms(test_x)
        elbo = (terms["rec"] - terms["kl1"].sum(-1) - terms["kl2"].sum(-1)).mean().item()
        window = max(len(trace.kl1) // 50, 1)
        kernel = np.ones(window) / window
        for values, label in ((trace.kl1, "KL of $z_1$"), (trace.kl2, "KL of $z_2$")):
            ax.plot(np.arange(window, len(values) + 1),
                    np.convolve(values, kernel, mode="valid"), label=label)
        ax.set(xlabel="Adam step (batch 100)", title=f"{name}; test ELBO {elbo:.1f} nats")
        twin = ax.twinx()
        twin.plot(trace.beta, color="grey", ls="--", label="$\\beta$ (warm-up)")
        twin.set(ylim=(0, 1.1))
        ax.legend(fontsize=8, loc="lower right")
        twin.legend(fontsize=8, loc="center right")
    axes[0].set_ylabel("nats per image (train batches)")
    fig.tight_layout()
    ctx.save(fig, "08_kl_per_layer.png")


FIGURES = {
    "08_graphical_models.png": graphical_models,
    "08_precision_merge.png": precision_merge,
    "08_active_units.png": active_units,
    "08_kl_per_layer.png": kl_per_layer,
}
