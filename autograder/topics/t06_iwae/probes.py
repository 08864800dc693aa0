"""Topic 06's probes and fixed modules: what runs next to the notebook's code (torch, vaelib,
the API and the fixtures only).

Log weights are laid out [K, B]: sample index first, example second. Most checks drive the
student's code with a PPCA model on tiny 3x4 "images" (p(z) = N(0, I_2), p(x|z) =
N(W z + b, s^2 I)), an encoder linear in x (``LinearEncoder``) or one free row of q's
parameters per example (``RowEncoder``).
"""

from __future__ import annotations

import math
from typing import Any

import sympy
import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import ProbeContext
from autograder.fixtures.modules import FixedPrior, mlp
from autograder.fixtures.training import nan_parameters

IMG = (3, 4)
D = IMG[0] * IMG[1]
M = 2
NOISE = 0.5
LW_K = 5
GRAD_K = 2
MODEL_K = 7
MONO_KS = (1, 8, 64)
TRAIN_STEPS = 300
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
TRAIN_M = 8
TRAIN_K = 5
MNIST_IMG = (28, 28)
MNIST_D = 784
LL_K, LL_CHUNK = 5000, 300
CHUNK_K, CHUNK_SIZE = 400, 20
DREG_K, DREG_CALLS = 10, 20


class GaussianImageDecoder(nn.Module):
    """p(x|z) = N(W z + b, s^2 I) over 3x4 images, for z of any leading shape [..., M]."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, s: float, learn: bool = False) -> None:
        super().__init__()
        self.s = s
        self.max_rows = 0
        if learn:
            self.W, self.b = nn.Parameter(W.clone()), nn.Parameter(b.clone())
        else:
            self.register_buffer("W", W.clone())
            self.register_buffer("b", b.clone())

    def forward(self, z: torch.Tensor) -> td.Distribution:
        self.max_rows = max(self.max_rows, z.reshape(-1, z.shape[-1]).shape[0])
        mean = (z @ self.W.T + self.b).reshape(*z.shape[:-1], *IMG)
        return td.Independent(td.Normal(mean, torch.full_like(mean, self.s),
                                         validate_args=False), 2)


class LinearEncoder(nn.Module):
    """q(z|x) = N(A flat(x) + c, diag exp(logvar)): linear in x, so any repeat order works."""

    def __init__(self, A: torch.Tensor, c: torch.Tensor, logvar: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("A", A.clone())
        self.register_buffer("c", c.clone())
        self.register_buffer("logvar", logvar.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        mean = x.reshape(*x.shape[:-2], D) @ self.A.T + self.c
        return td.Independent(td.Normal(mean, torch.exp(0.5 * self.logvar).expand_as(mean)), 1)


class RowEncoder(nn.Module):
    """q(z|x_i) = N(theta_i[:M], exp(theta_i[M:])): one free parameter row per example (a batch
    that repeats the examples r times, x.repeat(r, ...), reuses the rows in the same order)."""

    def __init__(self, theta: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        n = self.theta.shape[0]
        if x.shape[0] % n:
            raise ValueError("the encoder was called on a batch of the wrong size")
        theta = self.theta.repeat(x.shape[0] // n, 1)
        mean, logvar = theta.chunk(2, dim=-1)
        scale = (0.5 * logvar).exp()
        return td.Independent(td.Normal(mean, scale), 1)


class Model(nn.Module):
    """A topic-05-style model: ``prior()``, ``encoder(x)``, ``decoder(z)``."""

    def __init__(self, prior: nn.Module, decoder: nn.Module, encoder: nn.Module) -> None:
        super().__init__()
        self.prior, self.decoder, self.encoder = prior, decoder, encoder


class MLPEncoder(nn.Module):
    """q(z|x) = N(mean, exp(logvar)) with [mean, logvar] = net(x): the grader's own encoder."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> td.Distribution:
        mean, logvar = self.net(x).chunk(2, dim=-1)
        return td.Independent(td.Normal(mean, (0.5 * logvar).exp()), 1)


class MLPDecoder(nn.Module):
    """p(x|z) = Bernoulli(logits = net(z)) over 28x28 pixels: the grader's own decoder."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> td.Distribution:
        return td.Independent(td.Bernoulli(logits=self.net(z)), 2)


def linear_model(inputs: dict[str, Any], ctx: ProbeContext, learn: bool = False) -> Model:
    """The PPCA model with the linear encoder of ``inputs``, on the probe's device."""
    dtype = inputs["W"].dtype
    decoder = GaussianImageDecoder(inputs["W"], inputs["b"], NOISE, learn)
    encoder = LinearEncoder(inputs["A"], inputs["c"], inputs["logvar"])
    return Model(FixedPrior(M, dtype), decoder, encoder).to(ctx.device)


def row_model(inputs: dict[str, Any], ctx: ProbeContext, learn: bool = False
              ) -> tuple[Model, RowEncoder]:
    dtype = inputs["W"].dtype
    encoder = RowEncoder(inputs["theta"])
    decoder = GaussianImageDecoder(inputs["W"], inputs["b"], NOISE, learn)
    return Model(FixedPrior(M, dtype), decoder, encoder).to(ctx.device), encoder


def detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def probe_log_weights(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    return detached(ns["log_importance_weights"](model, inputs["x"], inputs.get("k", LW_K)))


def probe_log_weights_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    model, encoder = row_model(inputs, ctx)
    log_w = ns["log_importance_weights"](model, inputs["x"], GRAD_K)
    if isinstance(log_w, torch.Tensor) and log_w.requires_grad:
        log_w.sum().backward()
    return encoder.theta.grad


def probe_bound(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return {"full": detached(ns["iwae_bound"](inputs["log_w"])),
            "one": detached(ns["iwae_bound"](inputs["log_w"][:1]))}


def probe_model_exact(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    base = linear_model(inputs, ctx)
    model = ns["IWAE"](base.prior, base.decoder, base.encoder, inputs.get("k", MODEL_K))
    x = inputs["x"]
    return {"elbo": detached(model.elbo(x)), "loss": detached(model(x)),
            "sample": detached(model.sample(3))}


def probe_model_mono(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    base = linear_model(inputs, ctx)
    return [detached(ns["IWAE"](base.prior, base.decoder, base.encoder, k).elbo(inputs["x"]))
            for k in MONO_KS]


def probe_loglik(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    k, chunk = inputs.get("k", LL_K), inputs.get("chunk", LL_CHUNK)
    value = ns["estimate_log_likelihood"](model, inputs["x"], k, chunk)
    return {"value": detached(value), "max_rows": model.decoder.max_rows}


def probe_loglik_chunks(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    model = linear_model(inputs, ctx)
    fn = ns["estimate_log_likelihood"]
    return {"whole": detached(fn(model, inputs["x"], CHUNK_K, CHUNK_K)),
            "chunked": detached(fn(model, inputs["x"], CHUNK_K, CHUNK_SIZE))}


def probe_ess(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return detached(ns["effective_sample_size"](inputs["log_w"]))


def gradient_runs(surrogate: Any, inputs: dict[str, Any], ctx: ProbeContext, calls: int
                  ) -> dict[str, Any]:
    """Per-row encoder gradients [calls * rows, 2M] and decoder gradients [calls, D*M + D]."""
    enc, dec = [], []
    for _ in range(calls):
        model, encoder = row_model(inputs, ctx, learn=True)
        value = surrogate(model, inputs["x"], DREG_K)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            return {"error": "shape", "shape": list(getattr(value, "shape", []))}
        if not value.requires_grad:
            return {"error": "grad"}
        params = (encoder.theta, model.decoder.W, model.decoder.b)
        grads = torch.autograd.grad(value.reshape(()), params, allow_unused=True)
        if any(g is None for g in grads):
            return {"error": "unused", "which": [g is None for g in grads]}
        enc.append(grads[0].detach() * inputs["x"].shape[0])
        dec.append(torch.cat([grads[1].reshape(-1), grads[2].reshape(-1)]).detach())
    return {"enc": torch.cat(enc), "dec": torch.stack(dec)}


def probe_dreg(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return gradient_runs(ns["dreg_surrogate"], inputs, ctx, DREG_CALLS)


def probe_dreg_flat(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return {"prior": gradient_runs(ns["dreg_surrogate"], inputs, ctx, 1),
            "shift": gradient_runs(ns["dreg_surrogate"], dict(inputs, theta=inputs[
                "theta_shift"]), ctx, 1)}


def training_nets() -> tuple[nn.Module, nn.Module]:
    """The fixed encoder and decoder networks of the training check (seeded initialisation)."""
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Flatten(), *mlp((MNIST_D, 256, 2 * TRAIN_M)))
    dec = nn.Sequential(*mlp((TRAIN_M, 256, MNIST_D)), nn.Unflatten(-1, MNIST_IMG))
    return enc, dec


def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the grader's fixed networks with the student's IWAE; return the trained weights."""
    from vaelib.data import load_split
    from vaelib.training import train

    dev = ctx.device
    data = load_split("train", "dynamic", root=inputs["root"], device=dev, limit=TRAIN_SUBSET)
    enc_net, dec_net = training_nets()
    model = ns["IWAE"](FixedPrior(TRAIN_M), MLPDecoder(dec_net), MLPEncoder(enc_net),
                       TRAIN_K).to(dev)
    try:
        log = train(model, data, epochs=math.ceil(TRAIN_STEPS * TRAIN_BATCH / len(data)),
                    batch_size=TRAIN_BATCH, lr=1e-3, max_steps=TRAIN_STEPS, progress=False,
                    generator=torch.Generator().manual_seed(0))
    except ValueError as exc:
        if not nan_parameters(exc):
            raise
        return {"diverged_at": -1, "error": str(exc).splitlines()[0][:200]}
    bad = [i for i, v in enumerate(log.losses) if not math.isfinite(v)]
    if bad:
        return {"diverged_at": bad[0]}
    return {"encoder": {k: v.detach().cpu() for k, v in enc_net.state_dict().items()},
            "decoder": {k: v.detach().cpu() for k, v in dec_net.state_dict().items()},
            "losses": log.losses[::50]}


def probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """One gradient of IWAE(...)(x) for a tiny PPCA batch: whether it reached encoder and
    decoder, and the gradient on the decoder's bias."""
    model, encoder = row_model(inputs, ctx, learn=True)
    iwae = ns["IWAE"](model.prior, model.decoder, encoder, 5).to(ctx.device)
    loss = iwae(inputs["x"])
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
        return {"error": f"forward(x) returned {type(loss).__name__} "
                         f"{list(getattr(loss, 'shape', []))}"}
    if not bool(torch.isfinite(loss)):
        return {"error": f"the loss is {float(loss)} at the start"}
    loss.backward()
    reached = {name: p.grad is not None and bool((p.grad != 0).any())
               for name, p in (("encoder", encoder.theta), ("decoder W", model.decoder.W),
                               ("decoder b", model.decoder.b))}
    return {"reached": reached, "b_grad": detached(model.decoder.b.grad).clone()}




# ------------------------------------------------------------------ exam practice
FIRST_K_ARGS = ("prior_1", "lik_0", "lik_1", "q_1", "threshold", "k_max")


def probe_first_k(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """iwae_first_k_above(prior_1, lik_0, lik_1, q_1, threshold, k_max); a sympy integer
    comes back as an int."""
    got = ns["iwae_first_k_above"](*(inputs[name] for name in FIRST_K_ARGS))
    if isinstance(got, sympy.Integer):
        return int(got)
    return got


def gap_arguments(kind: str) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
    """(m, s2, K) of one instance: ``public`` (-3, log 5, 10), ``numbers`` (-90, 9/4, 50) or
    ``symbols`` (mu real, tau2 positive, n a positive integer)."""
    if kind == "public":
        return sympy.Integer(-3), sympy.log(sympy.Integer(5)), sympy.Integer(10)
    if kind == "numbers":
        return sympy.Integer(-90), sympy.Rational(9, 4), sympy.Integer(50)
    return (sympy.Symbol("mu", real=True), sympy.Symbol("tau2", positive=True),
            sympy.Symbol("n", positive=True, integer=True))


def probe_gap(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *, kind: str
              ) -> Any:
    """iwae_lognormal_limit_and_gap(m, s2, K) at the instance ``kind`` (``gap_arguments``)."""
    return ns["iwae_lognormal_limit_and_gap"](*gap_arguments(kind))
