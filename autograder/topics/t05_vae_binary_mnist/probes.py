"""Topic 05's probes: what runs next to the notebook's code (torch, vaelib, the API and the
fixtures only). The probes that call ``elbo``/``forward`` go through ``kl_rule_guarded``, so a
pair of distributions without a KL rule comes back as data the judges can name."""

from __future__ import annotations

from functools import partial
from typing import Any

import sympy
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
    return smoke_steps(model, (inputs["x"],), enc_net, dec_net)


def smoke_steps(model: nn.Module, args: tuple[torch.Tensor, ...], enc_net: nn.Module,
                dec_net: nn.Module) -> dict[str, Any]:
    """SMOKE_STEPS Adam steps (lr 0.05) of the two networks on the loss model(*args): the
    losses, and whether the first step's gradient reached each network."""
    optimizer = torch.optim.Adam([*enc_net.parameters(), *dec_net.parameters()], lr=0.05)
    out: dict[str, Any] = {"losses": []}
    for step in range(SMOKE_STEPS):
        loss = model(*args)
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


# ------------------------------------------------------------------ exam practice (sympy)
def exam_symbols() -> dict[str, Any]:
    """The symbols both written questions are called with (their names are the arguments')."""
    return {"SE": sympy.Symbol("SE", positive=True), "D": sympy.Symbol("D", positive=True,
                                                                      integer=True),
            "sigma2": sympy.Symbol("sigma2", positive=True), "x": sympy.Symbol("x", real=True),
            "beta": sympy.Symbol("beta", positive=True)}


def probe_nll_symbolic(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """gaussian_decoder_nll(SE, D, sigma2) with symbols."""
    s = exam_symbols()
    return ns["gaussian_decoder_nll"](s["SE"], s["D"], s["sigma2"])


def renamed_symbols(nll: bool) -> tuple[Any, ...]:
    """The second instance's arguments: the same kinds of symbols under other names, so that an
    answer built from symbols of its own (not its arguments) shows."""
    if nll:
        return (sympy.Symbol("E2", positive=True), sympy.Symbol("N", positive=True, integer=True),
                sympy.Symbol("s2", positive=True))
    return (sympy.Symbol("u", real=True), sympy.Symbol("s2", positive=True),
            sympy.Symbol("b", positive=True))


def probe_nll_renamed(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """gaussian_decoder_nll with other symbols (E2, N, s2)."""
    return ns["gaussian_decoder_nll"](*renamed_symbols(True))


def probe_beta_symbolic(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """beta_vae_optimum(x, sigma2, beta) with symbols."""
    s = exam_symbols()
    return ns["beta_vae_optimum"](s["x"], s["sigma2"], s["beta"])


def probe_beta_renamed(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """beta_vae_optimum with other symbols (u, s2, b)."""
    return ns["beta_vae_optimum"](*renamed_symbols(False))


# ------------------------------------------------------------- conditional VAE (vae.conditional)
CLASSES = 10
CVAE_N = 2000
"""Examples of the CVAE's ELBO check and samples of its sampling check."""
PATTERN_PIXELS = 700
"""The CVAE sampling check's label-driven pixels; the rest are coin flips."""
LABEL_STEPS = 150
LABEL_SAMPLES = 50


class NetInputError(ValueError):
    """A fixed network got an input of the wrong width (e.g. the label was left out)."""


class RecordingLinear(nn.Module):
    """A fixed linear network [B, n_in] -> [B, n_out] (28x28 when ``image``) that records every
    input it receives, so that a judge sees what the notebook's classes fed it."""

    def __init__(self, W: torch.Tensor, b: torch.Tensor, image: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(W.shape[1], W.shape[0]).to(W.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(W)
            self.linear.bias.copy_(b)
        self.image = image
        self.inputs: list[torch.Tensor] = []

    def forward(self, h: Any) -> torch.Tensor:
        shape = list(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
        if not isinstance(h, torch.Tensor) or h.dim() != 2 or h.shape[1] != self.linear.in_features:
            raise NetInputError(f"{shape}|{self.linear.in_features}")
        self.inputs.append(h.detach().clone())
        out = self.linear(h)
        return out.unflatten(-1, IMG) if self.image else out


def cvae_parts(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
               ) -> tuple[RecordingLinear, RecordingLinear, Any, Any]:
    """The fixed encoder and decoder networks, and the notebook's conditional classes around
    them (moved to the check's device)."""
    enc_net = RecordingLinear(inputs["We"], inputs["be"]).to(ctx.device)
    dec_net = RecordingLinear(inputs["Wd"], inputs["cd"], image=True).to(ctx.device)
    return (enc_net, dec_net, ns["ConditionalEncoder"](enc_net).to(ctx.device),
            ns["ConditionalDecoder"](dec_net).to(ctx.device))


def net_input_guarded(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
                      probe: Probe) -> Any:
    """``probe``'s result, or which fixed network got an input of the wrong width (data)."""
    try:
        return probe(ns, inputs, ctx)
    except NetInputError as exc:
        shape, width = str(exc).split("|")
        return {"net_input_error": shape, "expected_width": int(width)}


def _probe_cvae_encoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    enc_net, _, encoder, _ = cvae_parts(ns, inputs, ctx)
    out = summarize(encoder(inputs["x"], inputs["y"]), inputs["z"], (2,))
    out["net_inputs"] = enc_net.inputs
    return out


def _probe_cvae_decoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """p(x|z, y) for the inputs' labels, and the mean for other labels at the same z."""
    _, dec_net, _, decoder = cvae_parts(ns, inputs, ctx)
    out = summarize(decoder(inputs["z"], inputs["y"]), inputs["x"], (2,))
    other = decoder(inputs["z"], inputs["y_other"])
    out["other_mean"] = other.mean if isinstance(other, td.Distribution) else other
    out["net_inputs"] = dec_net.inputs
    return out


def _probe_cvae_elbo(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """elbo(x, y), what the decoder network was fed meanwhile, q's parameters, and the loss."""
    enc_net, dec_net, encoder, decoder = cvae_parts(ns, inputs, ctx)
    model = ns["CVAE"](FixedPrior(inputs["M"], inputs["Wd"].dtype).to(ctx.device), decoder,
                       encoder)
    x, y = inputs["x"].to(ctx.device), inputs["y"].to(ctx.device)
    elbo = model.elbo(x, y)
    out = {"elbo": _detach_value(elbo), "decoder_inputs": list(dec_net.inputs),
           "encoder_inputs": list(enc_net.inputs)}
    out["loss"] = _detach_value(model(x, y))
    return out


def _probe_cvae_sample(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """sample(digit, n) and what the decoder network was fed."""
    _, dec_net, encoder, decoder = cvae_parts(ns, inputs, ctx)
    model = ns["CVAE"](FixedPrior(inputs["M"]).to(ctx.device), decoder, encoder)
    return {"x": _detach_value(model.sample(inputs["digit"], CVAE_N)),
            "decoder_inputs": dec_net.inputs}


def linear_cvae(ns: dict[str, Any], ctx: ProbeContext) -> tuple[nn.Module, nn.Module, Any]:
    """The notebook's CVAE around two linear networks (M = SMOKE_M) and the grader's prior."""
    enc_net = nn.Linear(D + CLASSES, 2 * SMOKE_M).to(ctx.device)
    dec_net = nn.Sequential(nn.Linear(SMOKE_M + CLASSES, D), nn.Unflatten(-1, IMG)).to(ctx.device)
    model = ns["CVAE"](FixedPrior(SMOKE_M).to(ctx.device), ns["ConditionalDecoder"](dec_net),
                       ns["ConditionalEncoder"](enc_net)).to(ctx.device)
    return enc_net, dec_net, model


def _probe_cvae_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """SMOKE_STEPS Adam steps of the notebook's CVAE around two linear networks on one batch."""
    enc_net, dec_net, model = linear_cvae(ns, ctx)
    args = (inputs["x"].to(ctx.device), inputs["y"].to(ctx.device))
    return smoke_steps(model, args, enc_net, dec_net)


def _probe_cvae_labels(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the notebook's CVAE (grader's linear networks) on images drawn from ten label
    patterns, then sample LABEL_SAMPLES images of each digit: [10, n, 28, 28]."""
    torch.manual_seed(0)
    enc_net, dec_net, model = linear_cvae(ns, ctx)
    optimizer = torch.optim.Adam([*enc_net.parameters(), *dec_net.parameters()], lr=0.03)
    x, y = inputs["x"].to(ctx.device), inputs["y"].to(ctx.device)
    for step in range(LABEL_STEPS):
        rows = slice((step * 100) % x.shape[0], (step * 100) % x.shape[0] + 100)
        loss = model(x[rows], y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return [_detach_value(model.sample(k, LABEL_SAMPLES)) for k in range(CLASSES)]


probe_cvae_encoder = partial(net_input_guarded, probe=_probe_cvae_encoder)
probe_cvae_decoder = partial(net_input_guarded, probe=_probe_cvae_decoder)
probe_cvae_elbo = partial(net_input_guarded, probe=partial(kl_rule_guarded,
                                                           probe=_probe_cvae_elbo))
probe_cvae_sample = partial(net_input_guarded, probe=_probe_cvae_sample)
probe_cvae_smoke = partial(net_input_guarded, probe=partial(kl_rule_guarded,
                                                            probe=_probe_cvae_smoke))
probe_cvae_labels = partial(net_input_guarded, probe=partial(kl_rule_guarded,
                                                             probe=_probe_cvae_labels))
