"""Topic 07's probes: what runs next to the notebook's code (torch, vaelib, the API and the
fixtures only). Mixture probes return behaviour (log densities at the grader's points, samples,
weights, component means and standard deviations), never parameters by position."""

from __future__ import annotations

from typing import Any

import sympy
import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import ProbeContext, call
from autograder.fixtures.modules import IMG, LinearDecoder, RowEncoder, linear_encoder
from autograder.fixtures.training import OutputRecorder, finite_loss

F64 = torch.float64
D = IMG[0] * IMG[1]
SAMPLE_N = 4000
"""How many samples the mixture probes draw."""
FIT_STEPS = 150
ELBO_N = 4000
BIG_N = 10_000
BIG_M = 8
BIG_STRIDE = 97
HOLE_CHECK_POINTS = 16
TRAIN_M = 2
TRAIN_H = 256
TRAIN_STEPS = 600
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
MOG_K = 10
VAMP_K = 50


def _detach(value: Any) -> Any:
    """A copy that no later in-place update (an optimiser step) can change."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def probe_mixture(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return _detach(ns["log_mixture_density"](inputs["z"], inputs["means"], inputs["logvars"],
                                             inputs["logits"]))


def mixture_parts(d: Any) -> dict[str, Any]:
    """Probe-side: weights, component means and standard deviations of a mixture object."""
    if not isinstance(d, td.MixtureSameFamily):
        return {}
    comp = d.component_distribution
    return {"probs": _detach(d.mixture_distribution.probs), "means": _detach(comp.mean),
            "stds": _detach(comp.stddev)}


def summarize_mixture(d: Any, z: torch.Tensor, n_samples: int) -> dict[str, Any]:
    """Probe-side: the distribution's description, parts, log-probs and samples."""
    out: dict[str, Any] = {"dist": d, "is_mixture": isinstance(d, td.MixtureSameFamily)}
    if isinstance(d, td.Distribution):
        out.update(mixture_parts(d))
        out["log_prob"] = _detach(d.log_prob(z))
        out["sample"] = _detach(d.sample(torch.Size([n_samples])))
    return out


def probe_mog(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    dtype = getattr(torch, inputs["dtype"])
    prior = ns["MoGPrior"](inputs["M"], inputs["K"]).to(ctx.device, dtype)
    return summarize_mixture(prior(), inputs["z"], SAMPLE_N)


def probe_mog_fit(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Maximum likelihood on the grader's data by Adam on prior.parameters()."""
    prior = ns["MoGPrior"](inputs["M"], inputs["K"]).to(ctx.device)
    before = mixture_parts(prior())
    params = list(prior.parameters())
    if not params:
        return {"before": before, "after": before, "n_params": 0}
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(FIT_STEPS):
        loss = -prior().log_prob(inputs["data"]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"before": before, "after": mixture_parts(prior()), "n_params": len(params)}


def probe_mog_dtype(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["MoGPrior"](2, 3).to(ctx.device, F64)
    return _detach(prior().log_prob(torch.zeros(4, 2, dtype=F64, device=ctx.device)))


class _Recorder(nn.Module):
    """Wraps the notebook's encoder and records every input it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> Any:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def _vamp_encoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                  ) -> tuple[_Recorder, nn.Linear]:
    encoder, linear = linear_encoder(ns, inputs["W"], inputs["b"], ctx.device)
    return _Recorder(encoder), linear


def probe_vamp(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    encoder, _ = _vamp_encoder(ns, inputs, ctx)
    vamp = ns["VampPrior"](inputs["M"], inputs["K"], encoder, inputs["pseudo_init"])
    out = summarize_mixture(vamp(), inputs["z"], SAMPLE_N)
    out["seen"] = encoder.seen[0] if encoder.seen else None
    return out


def probe_vamp_learning(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    encoder, linear = _vamp_encoder(ns, inputs, ctx)
    vamp = ns["VampPrior"](inputs["M"], inputs["K"], encoder, inputs["pseudo_init"])
    loss = -vamp().log_prob(inputs["z"]).mean()
    out: dict[str, Any] = {"calls": len(encoder.seen)}
    if loss.requires_grad:
        loss.backward()
    out["encoder_grad"] = _detach(linear.weight.grad)
    with torch.no_grad():
        before = mixture_parts(vamp()).get("means")
        linear.bias[: inputs["M"]] += 1.0
        shifted = mixture_parts(vamp()).get("means")
        linear.bias[: inputs["M"]] -= 1.0
    out["shift"] = shifted - before if isinstance(before, torch.Tensor) and isinstance(
        shifted, torch.Tensor) else None
    # Pull the prior towards far-away points: the pseudo-inputs must move, and stay in [0, 1].
    linear.requires_grad_(False)
    params = [p for p in vamp.parameters() if p.requires_grad]
    encoder.seen.clear()
    vamp()
    start = encoder.seen[-1] if encoder.seen else None
    if params:
        optimizer = torch.optim.Adam(params, lr=0.5)
        for _ in range(20):
            loss = -vamp().log_prob(inputs["z_far"]).mean()
            if not loss.requires_grad:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    encoder.seen.clear()
    vamp()
    out["start"], out["end"] = start, (encoder.seen[-1] if encoder.seen else None)
    out["n_params"] = len(params)
    return out


class Holder(nn.Module):
    """The model elbo_mc_kl receives: encoder, decoder and prior attributes."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, prior: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder, self.prior = encoder, decoder, prior


def _mixture_module(logits: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor
                    ) -> nn.Module:
    """A learnable mixture prior built for one probe (local on purpose: not importable)."""

    class _Prior(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Parameter(logits.clone())
            self.b = nn.Parameter(means.clone())
            self.c = nn.Parameter(logvars.clone())

        def forward(self) -> td.Distribution:
            comp = td.Independent(td.Normal(self.b, torch.exp(0.5 * self.c)), 1)
            return td.MixtureSameFamily(td.Categorical(logits=self.a), comp)

    return _Prior()


def _is_wrong_kl(exc: NotImplementedError) -> bool:
    return "KL(p || q)" in str(exc) or "kl_divergence" in str(exc)


def probe_elbo(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    theta = torch.cat([inputs["q_mean"], inputs["q_logvar"]]).expand(ELBO_N, 4).contiguous()
    encoder = RowEncoder(theta).to(ctx.device)
    prior = _mixture_module(inputs["p_logits"], inputs["p_means"], inputs["p_logvars"])
    model = Holder(encoder, LinearDecoder(inputs["W"], inputs["c"]), prior).to(ctx.device)
    x = inputs["x"].expand(ELBO_N, *IMG).contiguous()
    try:
        elbo = ns["elbo_mc_kl"](model, x)
    except NotImplementedError as exc:
        if _is_wrong_kl(exc):
            return {"kl_error": str(exc)[:200]}
        raise
    out: dict[str, Any] = {"elbo": _detach(elbo)}
    if isinstance(elbo, torch.Tensor) and elbo.requires_grad:
        elbo.sum().backward()
    out["encoder_grad"] = encoder.theta.grad
    out["prior_grads"] = [p.grad for p in prior.parameters()]
    return out


def probe_aggregate(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return _detach(ns["aggregate_posterior_log_density"](inputs["z"], inputs["q_means"],
                                                         inputs["q_logvars"]))


def probe_aggregate_big(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    try:
        out = probe_aggregate(ns, inputs, ctx)
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or "memory" in str(exc).lower():
            return {"oom": True}
        raise
    if isinstance(out, torch.Tensor) and out.shape == (BIG_N,):
        return {"shape": list(out.shape), "dtype": str(out.dtype), "every": out[::BIG_STRIDE]}
    return {"value": out}


def hole_prior(inputs: dict[str, Any]) -> td.Distribution:
    """The prior handed to hole_fraction: N(0, I), or a two-component mixture."""
    if inputs["p_logits"].numel() == 0:
        zeros = torch.zeros(2, dtype=inputs["q_means"].dtype, device=inputs["q_means"].device)
        return td.Independent(td.Normal(zeros, torch.ones_like(zeros)), 1)
    comp = td.Independent(td.Normal(inputs["p_means"], torch.exp(0.5 * inputs["p_logvars"])),
                          1)
    return td.MixtureSameFamily(td.Categorical(logits=inputs["p_logits"]), comp)


def probe_holes(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """hole_fraction's value; with it, when the notebook's aggregate_posterior_log_density is
    loaded (hole_fraction uses it), its values at the first encoded means (None if it fails)."""
    value = ns["hole_fraction"](hole_prior(inputs), inputs["q_means"], inputs["q_logvars"],
                                inputs["n"], inputs["ratio"])
    aggregate = ns.get("aggregate_posterior_log_density")
    if not callable(aggregate):
        return _detach(value)
    try:
        at_means = _detach(aggregate(inputs["q_means"][:HOLE_CHECK_POINTS], inputs["q_means"],
                                     inputs["q_logvars"]))
    except Exception:  # noqa: BLE001 - judged as "could not be evaluated"
        at_means = None
    return {"fraction": _detach(value), "aggregate": at_means}


def train_nets(m: int = TRAIN_M, h: int = TRAIN_H) -> tuple[nn.Module, nn.Module]:
    """The grader's fixed encoder and decoder networks for the training check."""
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, h), nn.ReLU(), nn.Linear(h, 2 * m))
    decoder = nn.Sequential(nn.Linear(m, h), nn.ReLU(), nn.Linear(h, D), nn.Unflatten(-1, IMG))
    return encoder, decoder


def _train_one(ns: dict[str, Any], kind: str, train: Any, device: torch.device
               ) -> dict[str, Any]:
    torch.manual_seed(0)
    enc_net, dec_net = train_nets()
    encoder = _Recorder(ns["GaussianEncoder"](enc_net))
    if kind == "standard":
        prior = ns["GaussianPrior"](TRAIN_M)
    elif kind == "mog":
        prior = ns["MoGPrior"](TRAIN_M, MOG_K)
    else:
        gen = torch.Generator().manual_seed(0)
        init = train.intensities(torch.randperm(len(train), generator=gen)[:VAMP_K])
        prior = ns["VampPrior"](TRAIN_M, VAMP_K, encoder, init)
    model = Holder(encoder, ns["BernoulliDecoder"](dec_net), prior).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    step, losses = 0, []
    while step < TRAIN_STEPS:
        for x in train.batches(TRAIN_BATCH, generator=gen):
            encoder.seen.clear()
            loss = finite_loss(lambda: -ns["elbo_mc_kl"](model, x).mean())  # noqa: B023
            if loss is None:
                return {"diverged_at": step}
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1
            if step == TRAIN_STEPS:
                break
    encoder.seen.clear()
    with torch.no_grad():
        d = model.prior()
    out: dict[str, Any] = {"encoder": dict(enc_net.state_dict()),
                           "decoder": dict(dec_net.state_dict()), "losses": losses[::50],
                           "prior": mixture_parts(d)}
    if kind == "vamp":
        out["pseudo_inputs"] = encoder.seen[-1] if encoder.seen else None
    return out


def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Train the grader's fixed networks with the three priors; return weights and priors."""
    from vaelib.data import load_split

    train = load_split("train", "dynamic", root=inputs["root"], device=ctx.device,
                       limit=TRAIN_SUBSET)
    return {kind: _train_one(ns, kind, train, ctx.device)
            for kind in ("standard", "mog", "vamp")}


def probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                         ) -> Any:
    """One gradient of -elbo_mc_kl(model, x).mean() with small fixed networks and each learned
    prior: whether it reached encoder, decoder and prior, whether the loss was finite, the
    decoder's outputs (logits) and the gradient on its output bias.

    ``inputs["init_seed"]`` (default 0) seeds the networks and the prior's initialisation
    (bench/false_failure_rates.py varies it)."""
    out = {}
    x = inputs["x"].to(ctx.device)
    for kind in ("mog", "vamp"):
        torch.manual_seed(inputs.get("init_seed", 0))
        enc_net, dec_net = train_nets(TRAIN_M, 32)
        encoder = ns["GaussianEncoder"](enc_net)
        prior = ns["MoGPrior"](TRAIN_M, 3) if kind == "mog" else ns["VampPrior"](
            TRAIN_M, 4, encoder, inputs["pseudo_init"])
        model = Holder(encoder, ns["BernoulliDecoder"](dec_net), prior).to(ctx.device)
        recorder = OutputRecorder(dec_net)
        loss = finite_loss(lambda: -ns["elbo_mc_kl"](model, x).mean())  # noqa: B023
        recorder.remove()
        if loss is None:
            out[kind] = {"error": True}
            continue
        loss.backward()
        shared = {id(p) for p in enc_net.parameters()}
        parts = {"encoder": list(enc_net.parameters()), "decoder": list(dec_net.parameters()),
                 "prior": [p for p in prior.parameters() if id(p) not in shared]}
        reached = {name: any(p.grad is not None and bool((p.grad != 0).any())
                             for p in params) for name, params in parts.items()}
        out[kind] = {"reached": reached, "logits": recorder.outputs,
                     "bias_grad": _detach(dec_net[2].bias.grad)}
    return out


surgery = call("elbo_surgery_terms", "q", "p")


def probe_gaussian_prior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """best_gaussian_prior on lists of sympy numbers, or of symbols mu_i (real), v_i
    (positive)."""
    n = inputs.get("n_symbolic", 0)
    if n:
        means = [sympy.Symbol(f"mu_{i}", real=True) for i in range(1, n + 1)]
        variances = [sympy.Symbol(f"v_{i}", positive=True) for i in range(1, n + 1)]
    else:
        means = [sympy.Integer(v) for v in inputs["means"]]
        variances = [sympy.Integer(v) for v in inputs["variances"]]
    return ns["best_gaussian_prior"](means, variances)
