"""Topic 08's probes: what runs next to the notebook's code (torch, vaelib, the API and the
fixtures only). The model probes drive the student's classes with the fixed modules defined
here (one free parameter row per example for the inference modules, an affine p(z1|z2), a
linear Bernoulli decoder over 2-D latents); the training probes train the grader's fixed
networks with the student's classes and warm-up and return their weights."""

from __future__ import annotations

from functools import partial
from typing import Any

import sympy
import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import ProbeContext, call
from autograder.fixtures.distributions import summarize
from autograder.fixtures.modules import IMG
from autograder.fixtures.training import OutputRecorder, finite_loss

D = IMG[0] * IMG[1]
KINDS = {"BottomUpHVAE": "bottom_up", "TopDownHVAE": "top_down"}
M1 = M2 = 2
MODEL_N = 4000
BETA = 0.25
SAMPLE_N = 20_000
TRAIN_M1, TRAIN_M2, TRAIN_H, TRAIN_H2 = 32, 8, 128, 64
TRAIN_STEPS = 1000
TRAIN_WARMUP = 500
TRAIN_LR = 3e-3
TRAIN_BATCH = 100
TRAIN_SUBSET = 10_000
TRAIN_SEED = 0
SMOKE_BETA_STEP, SMOKE_WARMUP = 5, 10

merge = call("precision_weighted_merge", "mu_a", "logvar_a", "mu_b", "logvar_b")


def merge_symbols() -> tuple[sympy.Symbol, sympy.Symbol, sympy.Symbol, sympy.Symbol]:
    """(mu1, v1, mu2, v2) of the written merge question: real means, positive variances."""
    mu1, mu2 = sympy.symbols("mu1 mu2", real=True)
    v1, v2 = sympy.symbols("v1 v2", positive=True)
    return mu1, v1, mu2, v2


def probe_exam_merge(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """merge_gaussians_sympy at the symbols mu1, v1, mu2, v2."""
    return ns["merge_gaussians_sympy"](*merge_symbols())


def probe_exam_merge_other(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    """merge_gaussians_sympy with variances written as exp(log-variance), and with numbers."""
    m1, m2, l1, l2 = sympy.symbols("m1 m2 l1 l2", real=True)
    f = ns["merge_gaussians_sympy"]
    return {"logvar": f(m1, sympy.exp(l1), m2, sympy.exp(l2)),
            "numbers": f(sympy.Integer(1), sympy.Rational(1, 2), sympy.Integer(-2),
                         sympy.Integer(3))}


def probe_analytic_kl(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """analytic_kl_terms(parents_z1, parents_z2) for each factorisation of the inputs (name ->
    (parents of z1, parents of z2)); a returned set travels as a list."""
    f = ns["analytic_kl_terms"]
    out = {}
    for name, (parents_z1, parents_z2) in inputs["factorisations"].items():
        got = f(set(parents_z1), set(parents_z2))
        out[name] = list(got) if isinstance(got, (set, frozenset)) else got
    return out


def probe_conditional(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """net = identity, so the network output is the input h; plus a gradient test."""
    module = ns["GaussianConditional"](nn.Identity()).to(ctx.device)
    out = summarize(module(inputs["h"]), inputs["z"], (2,))
    h = inputs["h"].clone().requires_grad_(True)
    dist = module(h)
    if isinstance(dist, td.Distribution):
        sample = dist.rsample()
        if sample.requires_grad:
            sample.sum().backward()
    out["grad"] = h.grad
    return out


class RowGaussian(nn.Module):
    """u -> N(flat(u) A^T + theta[:, :M], exp(theta[:, M:])): one free row of theta per example."""

    def __init__(self, A: torch.Tensor, theta: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("A", A.clone())
        self.theta = nn.Parameter(theta.clone())

    def forward(self, u: torch.Tensor) -> td.Distribution:
        if u.shape[0] != self.theta.shape[0]:
            raise ValueError(f"an inference module was called on a batch of {u.shape[0]} "
                             f"inputs; expected {self.theta.shape[0]} (one per example)")
        mean, logvar = self.theta.chunk(2, dim=-1)
        mean = u.reshape(u.shape[0], -1) @ self.A.T + mean
        scale = (0.5 * logvar).exp()
        return td.Independent(td.Normal(mean, scale), 1)


class AffineGaussian(nn.Module):
    """z2 -> N(z2 A^T + b, exp(logvar)) with shared parameters (p(z1|z2))."""

    def __init__(self, A: torch.Tensor, b: torch.Tensor, logvar: torch.Tensor) -> None:
        super().__init__()
        self.A, self.b = nn.Parameter(A.clone()), nn.Parameter(b.clone())
        self.logvar = nn.Parameter(logvar.clone())

    def forward(self, z2: torch.Tensor) -> td.Distribution:
        mean = z2 @ self.A.T + self.b
        return td.Independent(td.Normal(mean, torch.exp(0.5 * self.logvar).expand_as(mean)), 1)


class LinearLogits(nn.Module):
    """z1 [..., M1] -> logits W z1 + c, [..., 28, 28]."""

    def __init__(self, W: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("W", W.clone())
        self.register_buffer("c", c.clone())

    def forward(self, z1: torch.Tensor) -> torch.Tensor:
        return (z1 @ self.W.T + self.c).reshape(*z1.shape[:-1], *IMG)


def fixed_modules(inputs: dict[str, Any], kind: str, n: int, dtype: torch.dtype | None = None
                  ) -> dict[str, nn.Module]:
    """enc1, enc2 (n rows), p1 and dec built from model_inputs, for ``kind``."""
    t = {k: (v.to(dtype) if dtype is not None else v) for k, v in inputs.items()}
    return {"enc1": RowGaussian(t["A1"], t["t1"].expand(n, -1)),
            "enc2": RowGaussian(t[f"A2_{kind}"], t["t2"].expand(n, -1)),
            "p1": AffineGaussian(t["Ap"], t["bp"], t["lvp"]),
            "dec": LinearLogits(t["W"], t["c"])}


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def probe_model(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
                symbol: str) -> Any:
    """Terms, per-row gradients of elbo(x).sum(), forward at two betas, posterior shapes, for
    the notebook's class ``symbol``."""
    mods = {k: m.to(ctx.device) for k, m in
            fixed_modules(inputs, KINDS[symbol], MODEL_N).items()}
    model = ns[symbol](mods["enc1"], mods["enc2"], mods["p1"], mods["dec"], M2)
    model = model.to(ctx.device, inputs["x"].dtype)
    x = inputs["x"].expand(MODEL_N, *IMG).contiguous()
    terms = model.elbo_terms(x)
    out: dict[str, Any] = {"terms": {k: _detached(v) for k, v in terms.items()}
                           if isinstance(terms, dict) else _detached(terms)}
    elbo = model.elbo(x)
    out["elbo"] = _detached(elbo)
    if isinstance(elbo, torch.Tensor) and elbo.requires_grad:
        elbo.sum().backward()
    out["grad1"], out["grad2"] = mods["enc1"].theta.grad, mods["enc2"].theta.grad
    with torch.no_grad():
        out["loss"] = _detached(model(x))
        out["loss_beta"] = _detached(model(x, beta=BETA))
        q1, q2 = model.posterior(x)
        out["posterior"] = (_detached(q1.mean), _detached(q2.mean))
    return out


probe_bottom_up = partial(probe_model, symbol="BottomUpHVAE")
probe_top_down = partial(probe_model, symbol="TopDownHVAE")
PROBE_MODEL = {"bottom_up": probe_bottom_up, "top_down": probe_top_down}
"""The model probe of each kind of hierarchy."""


def probe_sample(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    out = {}
    for symbol, kind in KINDS.items():
        mods = {k: m.to(ctx.device) for k, m in fixed_modules(inputs, kind, 1).items()}
        model = ns[symbol](mods["enc1"], mods["enc2"], mods["p1"], mods["dec"], M2)
        out[symbol] = _detached(model.to(ctx.device, inputs["W"].dtype).sample(SAMPLE_N))
    return out


def probe_sample_row(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The first image row of each model's samples (the step pixels; keeps results small)."""
    out = probe_sample(ns, inputs, ctx)
    return {k: v[:, 0] if isinstance(v, torch.Tensor) and tuple(v.shape[1:]) == IMG else v
            for k, v in out.items()}


def probe_warmup(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    f = ns["kl_warmup"]
    n = inputs["warmup_steps"]
    return {"values": [f(s, n) for s in inputs["steps"]], "none": f(5, 0)}


class FixedPosterior(nn.Module):
    """posterior(x) -> (q1, q2) with means = scaled pixels of x and a large fixed std."""

    def __init__(self, scales1: torch.Tensor, scales2: torch.Tensor, std: float) -> None:
        super().__init__()
        self.register_buffer("s1", scales1.clone())
        self.register_buffer("s2", scales2.clone())
        self.std = std

    def means(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = x.reshape(x.shape[0], -1)
        m1 = self.s1.shape[0]
        return u[:, :m1] * self.s1, u[:, m1:m1 + self.s2.shape[0]] * self.s2

    def posterior(self, x: torch.Tensor) -> tuple[td.Distribution, td.Distribution]:
        return tuple(td.Independent(td.Normal(m, torch.full_like(m, self.std)), 1)
                     for m in self.means(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("active_units should use model.posterior(x), not model(x)")


def probe_active(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = FixedPosterior(inputs["s1"], inputs["s2"], inputs["std"]).to(ctx.device)
    data = inputs["data"].to(ctx.device)
    return {"default": ns["active_units"](model, data),
            "low": ns["active_units"](model, data, threshold=0.002)}


def mlp(*sizes: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers[:-1]


def training_nets(kind: str, m1: int = TRAIN_M1, m2: int = TRAIN_M2, hidden: int = TRAIN_H,
                  small: int = TRAIN_H2) -> dict[str, nn.Module]:
    """The grader's fixed networks: enc1 x -> z1, enc2 (z1 or x) -> z2, p1 z2 -> z1, dec."""
    enc2 = ([nn.Flatten(), *mlp(D, hidden, 2 * m2)] if kind == "top_down"
            else mlp(m1, small, 2 * m2))
    return {"enc1": nn.Sequential(nn.Flatten(), *mlp(D, hidden, 2 * m1)),
            "enc2": nn.Sequential(*enc2),
            "p1": nn.Sequential(*mlp(m2, small, 2 * m1)),
            "dec": nn.Sequential(*mlp(m1, hidden, D), nn.Unflatten(-1, IMG))}


def train_student_model(ns: dict[str, Any], kind: str, warmup: int, data: Any, seed: int,
                        steps: int = TRAIN_STEPS) -> dict[str, Any]:
    """Adam on the student's loss with the grader's nets; returns the nets' weights."""
    torch.manual_seed(seed)
    nets = training_nets(kind)
    symbol = "TopDownHVAE" if kind == "top_down" else "BottomUpHVAE"
    cond = ns["GaussianConditional"]
    model = ns[symbol](cond(nets["enc1"]), cond(nets["enc2"]), cond(nets["p1"]), nets["dec"],
                       TRAIN_M2).to(data.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    gen = torch.Generator().manual_seed(seed)
    step, betas = 0, []
    while step < steps:
        for x in data.batches(TRAIN_BATCH, generator=gen):
            beta = ns["kl_warmup"](step, warmup)
            loss = finite_loss(lambda: model(x, beta=beta))  # noqa: B023
            if loss is None:
                return {"diverged_at": step}
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 100 == 0:
                betas.append(float(beta))
            step += 1
            if step == steps:
                break
    return {"weights": {name: {k: v.detach() for k, v in net.state_dict().items()}
                        for name, net in nets.items()}, "betas": betas}


def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train top-down with warm-up and bottom-up without, on training images only."""
    from vaelib.data import load_split

    torch.set_num_threads(1)
    train = load_split("train", "dynamic", root=inputs["root"], device=ctx.device,
                       limit=TRAIN_SUBSET)
    return {"top_down": train_student_model(ns, "top_down", TRAIN_WARMUP, train, TRAIN_SEED),
            "bottom_up": train_student_model(ns, "bottom_up", 0, train, TRAIN_SEED)}


def probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                         ) -> Any:
    """One gradient of each model's loss (beta = kl_warmup(5, 10)) with small fixed networks:
    the beta used, whether the gradient reached every network, the decoder's outputs (logits)
    and the gradient on its output bias. ``inputs["init_seed"]`` (default 0) seeds the
    networks (bench/false_failure_rates.py varies it)."""
    out: dict[str, Any] = {}
    x = inputs["x"].to(ctx.device)
    beta = ns["kl_warmup"](SMOKE_BETA_STEP, SMOKE_WARMUP)
    out["beta"] = float(beta) if isinstance(beta, (int, float, torch.Tensor)) else None
    for kind, symbol in (("top_down", "TopDownHVAE"), ("bottom_up", "BottomUpHVAE")):
        torch.manual_seed(inputs.get("init_seed", 0))
        nets = training_nets(kind, 4, 2, 32, 16)
        cond = ns["GaussianConditional"]
        model = ns[symbol](cond(nets["enc1"]), cond(nets["enc2"]), cond(nets["p1"]),
                           nets["dec"], 2).to(ctx.device)
        recorder = OutputRecorder(nets["dec"])
        loss = finite_loss(lambda: model(x, beta=beta))  # noqa: B023
        recorder.remove()
        if loss is None:
            out[kind] = {"error": True}
            continue
        loss.backward()
        reached = {name: any(p.grad is not None and bool((p.grad != 0).any())
                             for p in net.parameters()) for name, net in nets.items()}
        out[kind] = {"reached": reached, "logits": recorder.outputs,
                     "bias_grad": _detached(nets["dec"][2].bias.grad)}
    return out
