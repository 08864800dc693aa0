"""Topic 05's probes: what runs next to the notebook's code (torch, vaelib, the API and the
fixtures only). The probes that call ``elbo``/``forward`` go through ``kl_rule_guarded``, so a
pair of distributions without a KL rule comes back as data the judges can name."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import Probe, ProbeContext
from autograder.fixtures.distributions import describe, summarize
from autograder.fixtures.modules import (
    IMG,
    FixedPrior,
    LinearDecoder,
    RowEncoder,
    linear_encoder,
    mlp,
)
from autograder.fixtures.training import nan_parameters

D = IMG[0] * IMG[1]
ELBO_N = 4000
"""How many draws of elbo(x) the ELBO and gradient checks take."""
SAMPLE_N = 20_000
KL_RULE_MISSING = "No KL(p || q) is implemented"
TRAIN_STEPS = 300
TRAIN_BATCH = 128
TRAIN_M = 8
LOSS_EVERY = 5
SMOKE_STEPS = 15
SMOKE_M = 2
PAIR = {"GaussianPrior": "GaussianEncoder", "GaussianEncoder": "GaussianPrior"}


def _is_dist(value: Any) -> bool:
    return isinstance(value, td.Distribution)


def _detach_value(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def probe_pair(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *, own: str
               ) -> Any:
    """td.kl_divergence(encoder(h), prior()) with the notebook's own encoder and prior (``own``
    is the task's symbol); the two distributions' type names, or that the partner is not
    written yet."""
    h = inputs["h"].to(ctx.device)

    def build(name: str) -> Any:
        if name == "GaussianEncoder":
            return ns[name](nn.Identity()).to(ctx.device)(h)
        return ns[name](h.shape[-1] // 2).to(ctx.device)()

    made = {own: build(own)}  # the task's own class: its errors are the task's
    try:
        made[PAIR[own]] = build(PAIR[own])
    except (KeyError, NotImplementedError):
        return {"partner_missing": True}
    q, p = made["GaussianEncoder"], made["GaussianPrior"]
    out: dict[str, Any] = {"types": {"GaussianEncoder": type(q).__name__,
                                     "GaussianPrior": type(p).__name__}}
    try:
        out["kl"] = _detach_value(td.kl_divergence(q, p))
    except NotImplementedError as exc:
        if KL_RULE_MISSING not in str(exc):
            raise
        out["kl_rule_missing"] = str(exc)[:200]
    return out


pair_with_encoder = partial(probe_pair, own="GaussianPrior")
pair_with_prior = partial(probe_pair, own="GaussianEncoder")


def probe_prior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](inputs["M"]).to(ctx.device)
    return summarize(prior(), inputs["z"], (4,))


def probe_prior_parameters(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    """Names of the prior's trainable tensors: its own, and as seen through a parent module.

    The parent is how ``VAE`` holds the prior (an attribute of an ``nn.Module``); its
    ``parameters()`` is what an optimizer receives. ``nn.Module``'s own methods are called, so
    a prior that overrides ``parameters()`` does not hide anything.
    """
    prior = ns["GaussianPrior"](3).to(ctx.device)
    holder = nn.Module()
    holder.prior = prior
    attributes = [name for name, value in vars(prior).items() if isinstance(value, nn.Parameter)]
    return {"own": [name for name, _ in nn.Module.named_parameters(prior)],
            "attributes": attributes,
            "through_parent": [name for name, _ in nn.Module.named_parameters(holder)]}


def probe_prior_dtype(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](2).to(ctx.device, torch.float64)
    return summarize(prior(), None, (3,))


def probe_encoder_identity(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> Any:
    """net = identity, so the 'network output' is the input h itself; plus a gradient test."""
    encoder = ns["GaussianEncoder"](nn.Identity()).to(ctx.device)
    out = summarize(encoder(inputs["h"]), inputs["z"], (2,))
    h = inputs["h"].clone().requires_grad_(True)
    q = encoder(h)
    z = q.rsample() if _is_dist(q) else None
    if z is not None and z.requires_grad:
        z.sum().backward()
    out["grad"] = h.grad
    return out


def probe_encoder_linear(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    encoder, _ = linear_encoder(ns, inputs["W"], inputs["b"], ctx.device)
    return summarize(encoder(inputs["x"]), inputs["z"], (2,))


def probe_decoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W, c = inputs["W"], inputs["c"]
    linear = nn.Linear(W.shape[1], D).to(ctx.device, W.dtype)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(c)
    decoder = ns["BernoulliDecoder"](nn.Sequential(linear, nn.Unflatten(-1, IMG)))
    return summarize(decoder(inputs["z"]), inputs["x"], (2,))


def _build_vae(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, n: int
               ) -> tuple[nn.Module, RowEncoder, torch.Tensor]:
    dtype = inputs["W"].dtype
    theta = torch.cat([inputs["q_mean"], inputs["q_logvar"]]).expand(n, 4).contiguous()
    encoder = RowEncoder(theta).to(ctx.device)
    decoder = LinearDecoder(inputs["W"], inputs["c"]).to(ctx.device)
    vae = ns["VAE"](FixedPrior(2, dtype).to(ctx.device), decoder, encoder)
    x = inputs["x"].expand(n, *IMG).contiguous()
    return vae, encoder, x


def kl_rule_guarded(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
                    probe: Probe) -> Any:
    """``probe``'s result, except that td.kl_divergence's missing-rule error comes back as
    plain data.

    Only that error (raised inside torch.distributions for a pair of distribution types it
    has no formula for) is caught; a judge turns it into a message naming the cause.
    """
    try:
        return probe(ns, inputs, ctx)
    except NotImplementedError as exc:
        if KL_RULE_MISSING in str(exc):
            return {"kl_rule_missing": str(exc)[:200]}
        raise


def _probe_elbo(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, x = _build_vae(ns, inputs, ctx, ELBO_N)
    elbo = vae.elbo(x)
    return {"elbo": elbo.detach() if isinstance(elbo, torch.Tensor) else elbo,
            "loss": (lambda v: v.detach() if isinstance(v, torch.Tensor) else v)(vae(x))}


def _probe_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Per-example gradients of elbo(x).sum() and of the loss vae(x) w.r.t. [mean, logvar]."""
    out: dict[str, Any] = {}
    vae, encoder, x = _build_vae(ns, inputs, ctx, ELBO_N)
    elbo = vae.elbo(x)
    if isinstance(elbo, torch.Tensor) and elbo.requires_grad:
        elbo.sum().backward()
    out["elbo"] = encoder.theta.grad
    vae, encoder, x = _build_vae(ns, inputs, ctx, ELBO_N)
    loss = vae(x)
    out["loss_has_grad"] = isinstance(loss, torch.Tensor) and loss.requires_grad
    if out["loss_has_grad"]:
        loss.sum().backward()
    out["loss"] = encoder.theta.grad
    return out


def probe_sample(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, _ = _build_vae(ns, inputs, ctx, 1)
    return vae.sample(SAMPLE_N)


def training_networks() -> tuple[nn.Module, nn.Module]:
    """The grader's fixed encoder (784 -> 256 -> 2M) and decoder (M -> 256 -> 784) nets, seeded."""
    torch.manual_seed(0)
    enc_net = nn.Sequential(nn.Flatten(), *mlp((D, 256, 2 * TRAIN_M)))
    dec_net = nn.Sequential(*mlp((TRAIN_M, 256, D)), nn.Unflatten(-1, IMG))
    return enc_net, dec_net


def weights_of(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in net.state_dict().items()}


def _probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the grader's fixed nets through the student's classes; return the nets' weights.

    Nothing is evaluated here: the judge reads the weights with its own model, on images
    this process never receives.
    """
    from vaelib.data import MNISTSplit

    dev = ctx.device
    images = inputs["train"].to(dev)
    train = MNISTSplit(images, torch.zeros(images.shape[0], dtype=torch.long, device=dev))
    enc_net, dec_net = (net.to(dev) for net in training_networks())
    model = ns["VAE"](ns["GaussianPrior"](TRAIN_M), ns["BernoulliDecoder"](dec_net),
                      ns["GaussianEncoder"](enc_net)).to(dev)
    optimizer = torch.optim.Adam([*enc_net.parameters(), *dec_net.parameters()], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {"losses": []}
    step = 0
    while step < TRAIN_STEPS and "stopped" not in out:
        for x in train.batches(TRAIN_BATCH, generator=gen):
            try:
                loss = model(x)
            except ValueError as exc:
                if not nan_parameters(exc):
                    raise
                out["stopped"] = "diverged"
                break
            if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
                out["stopped"] = "no_grad"
            elif not torch.isfinite(loss):
                out["stopped"] = "diverged"
            if "stopped" in out:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % LOSS_EVERY == 0:
                out["losses"].append(float(loss.detach()))
            step += 1
            if step == TRAIN_STEPS:
                break
    out["steps"] = step
    out["encoder"], out["decoder"] = weights_of(enc_net), weights_of(dec_net)
    if "stopped" not in out:
        with torch.no_grad():
            elbo = model.elbo(inputs["check_x"].to(dev))
        out["check_elbo"] = elbo.detach() if isinstance(elbo, torch.Tensor) else None
    return out


def _probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                         ) -> Any:
    """SMOKE_STEPS Adam steps of the student's classes around two linear networks on one batch:
    the losses, and whether the first step's gradient reached each network."""
    enc_net = nn.Sequential(nn.Flatten(), nn.Linear(D, 2 * SMOKE_M)).to(ctx.device)
    dec_net = nn.Sequential(nn.Linear(SMOKE_M, D), nn.Unflatten(-1, IMG)).to(ctx.device)
    model = ns["VAE"](ns["GaussianPrior"](SMOKE_M), ns["BernoulliDecoder"](dec_net),
                      ns["GaussianEncoder"](enc_net)).to(ctx.device)
    optimizer = torch.optim.Adam([*enc_net.parameters(), *dec_net.parameters()], lr=0.05)
    out: dict[str, Any] = {"losses": []}
    for step in range(SMOKE_STEPS):
        loss = model(inputs["x"])
        if not (isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1):
            out["bad_loss"] = describe(loss)
            break
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            for name, net in (("encoder", enc_net), ("decoder", dec_net)):
                out[name] = any(p.grad is not None and bool(torch.any(p.grad != 0))
                                for p in net.parameters())
        optimizer.step()
        out["losses"].append(float(loss.detach()))
    return out


probe_elbo = partial(kl_rule_guarded, probe=_probe_elbo)
probe_grad = partial(kl_rule_guarded, probe=_probe_grad)
probe_training = partial(kl_rule_guarded, probe=_probe_training)
probe_training_smoke = partial(kl_rule_guarded, probe=_probe_training_smoke)
