"""Topic 05: a VAE for binarized MNIST. Checks for the four graded classes.

Model: p(z) = N(0, I_M); q(z|x) = N(mean, diag(exp(logvar))) with [mean, logvar] = net(x);
p(x|z) = prod_pixels Bernoulli(logits = net(z)); ELBO(x) = E_q[log p(x|z)] - KL(q || p).

The ELBO and sampling checks drive the student's ``VAE`` with fixed modules defined here
(a linear Bernoulli decoder over a 2-D latent space), so the judge computes exact
expectations by Gauss-Hermite quadrature and tests the student's Monte Carlo output
statistically (false-failure rate ``FALSE_FAILURE_RATE`` per check): the mean, and the
variance against the exact variance of one draw. Any RNG order and an analytic or Monte Carlo
KL pass.

Probes return raw outputs only; every evaluation (exact moments, the trained networks' test
ELBO) happens in the judges with the grader-only code of ``autograder/trusted`` (see
docs/design.md, "Trust"). The training probe trains the grader's fixed networks through the
student's classes and returns their weights; the judge reads them as the specified model on test
images the child never gets.

The public checks (the student kit's) need none of it: a decoder that ignores z (its ELBO is
-784 log 2 - KL exactly), a decoder reading z_1 only (the KL alone moves q's second coordinate),
pixels that switch at known quantiles of z, and a short training smoke test on random images.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import (
    Check,
    CheckFailed,
    Judge,
    Judgement,
    Probe,
    ProbeContext,
    Task,
)
from autograder.checks.compare import expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.checks.training import nan_parameters
from autograder.payload import DistributionInfo

TOPIC = "05_vae_binary_mnist"
F64 = torch.float64
IMG = (28, 28)
D = IMG[0] * IMG[1]

# ------------------------------------------------------------------ shared helpers


def _is_dist(value: Any) -> bool:
    return isinstance(value, td.Distribution)


def summarize(d: Any, x: torch.Tensor | None = None, sample_shape: tuple[int, ...] = (3,)
              ) -> dict[str, Any]:
    """Probe-side: what a judge needs from a distribution (parameters, shapes, log-probs)."""
    if not _is_dist(d):
        return {"dist": d}
    out: dict[str, Any] = {"dist": d, "mean": d.mean, "stddev": d.stddev,
                           "sample": d.sample(torch.Size(sample_shape))}
    if x is not None:
        out["log_prob"] = d.log_prob(x)
    return out


def expect_dist(got: dict[str, Any], what: str, batch: tuple[int, ...], event: tuple[int, ...],
                base: str, independent_hint: str) -> DistributionInfo:
    """The returned object is an Independent(base) with the right batch and event shapes.

    A diagonal ``MultivariateNormal`` passes here (its values are then checked, so that a
    wrong covariance is named); whether it combines with its partner is the pair check's.
    """
    info = got.get("dist") if isinstance(got, dict) else got
    if not isinstance(info, DistributionInfo):
        raise CheckFailed(f"{what} should return a torch.distributions object, but it returned "
                          f"{_kind(info)}.")
    if tuple(info.event_shape) != event or tuple(info.batch_shape) != batch:
        hint = ""
        if len(info.event_shape) < len(event):
            hint = f" {independent_hint}"
        raise CheckFailed(f"{what} has batch_shape {list(info.batch_shape)} and event_shape "
                          f"{list(info.event_shape)}; expected {list(batch)} and {list(event)}."
                          f"{hint}")
    inner = info.base.type_name if info.base is not None else info.type_name
    if inner != base and not (base == "Normal" and inner == "MultivariateNormal"):
        raise CheckFailed(f"{what} should be built from td.{base}, not {inner}.")
    return info


PAIR = {"GaussianPrior": "GaussianEncoder", "GaussianEncoder": "GaussianPrior"}


def pair_inputs() -> dict[str, Any]:
    """Encoder network output h (identity network: [mean, logvar]) for 6 examples, M = 4."""
    return {"h": torch.randn(6, 8)}


def _pair_probe(own: str) -> Probe:
    """A probe: td.kl_divergence(encoder(h), prior()) with the notebook's own encoder and prior
    (``own`` is the task's symbol); the two distributions' type names, or that the partner
    is not written yet."""

    def probe(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
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

    probe.__name__ = f"probe_pair_{own}"
    return probe


def _detach_value(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value


def _pair_judge(own: str) -> Judge:
    """A judge: the notebook's encoder and prior give td.kl_divergence(q, p) = KL(N(mean,
    diag exp(logvar)) || N(0, I)). A pair without a KL rule fails the task of the member
    that is not the Independent(Normal) the exercise asks for (a consistent pair, e.g. both
    diagonal MultivariateNormals, passes)."""

    def judge(j: Judgement) -> None:
        got = j.got if isinstance(j.got, dict) else {}
        if got.get("partner_missing"):
            return
        types = got.get("types") if isinstance(got.get("types"), dict) else {}
        if "kl_rule_missing" in got:
            if types.get(own) == "Independent" and types.get(PAIR[own]) != "Independent":
                return  # the partner is the odd one out: its own task says so
            raise CheckFailed(
                f"{own} returns a td.{types.get(own)} and {PAIR[own]} a "
                f"td.{types.get(PAIR[own])}: td.kl_divergence has no rule between them, so the "
                "VAE's analytic KL between the encoder and the prior would raise "
                "NotImplementedError. The exercise asks for td.Independent(td.Normal(mean, "
                "std), 1); a td.MultivariateNormal has the same density but combines only with "
                "another MultivariateNormal. Use the same family in both.")
        h = j.inputs["h"].to(F64)
        m = h.shape[-1] // 2
        mean, logvar = h[:, :m], h[:, m:]
        expected = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(-1)
        kl = expect_tensor(got.get("kl"), f"td.kl_divergence({PAIR['GaussianPrior']}(net)(x), "
                           "GaussianPrior(M)())", shape=(h.shape[0],))
        expect_close(kl.to(F64), expected, "KL(q(z|x) || p(z)) of the notebook's own encoder "
                     "and prior", reveal=True, rtol=1e-4, atol=1e-4)

    judge.__name__ = f"judge_pair_{own}"
    return judge


def _kind(value: Any) -> str:
    from autograder.checks.compare import describe

    return describe(value)


# ----------------------------------------------------------------- fixed modules


class FixedPrior(nn.Module):
    """N(0, I_M) with buffers (the probes' own prior; attribute names as in the notebook)."""

    def __init__(self, M: int, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.M = self.latent_dim = M
        self.register_buffer("mean", torch.zeros(M, dtype=dtype))
        self.register_buffer("std", torch.ones(M, dtype=dtype))

    def forward(self) -> td.Distribution:
        return td.Independent(td.Normal(self.mean, self.std), 1)


class RowEncoder(nn.Module):
    """q(z|x_i) = N(theta_i[:M], exp(theta_i[M:])): one free parameter row per example."""

    def __init__(self, theta: torch.Tensor) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())

    def forward(self, x: torch.Tensor) -> td.Distribution:
        if x.shape[0] != self.theta.shape[0]:
            raise ValueError("the encoder was called on a batch of the wrong size")
        mean, logvar = self.theta.chunk(2, dim=-1)
        scale = (0.5 * logvar).exp()
        return td.Independent(td.Normal(mean, scale), 1)


class LinearDecoder(nn.Module):
    """p(x|z) = Bernoulli(logits = W z + c) over 28x28 pixels."""

    def __init__(self, W: torch.Tensor, c: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("W", W.clone())
        self.register_buffer("c", c.clone())

    def forward(self, z: torch.Tensor) -> td.Distribution:
        logits = (z @ self.W.T + self.c).reshape(*z.shape[:-1], *IMG)
        return td.Independent(td.Bernoulli(logits=logits), 2)


# --------------------------------------------------------------------- vae.prior


def prior_inputs() -> dict[str, Any]:
    return {"M": 3, "z": torch.randn(5, 3)}


def probe_prior(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](inputs["M"]).to(ctx.device)
    return summarize(prior(), inputs["z"], (4,))


def judge_prior(j: Judgement) -> None:
    m, z = j.inputs["M"], j.inputs["z"]
    expect_dist(j.got, "GaussianPrior(3)()", (), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that the M latent dimensions "
                "form one event (log_prob sums over them).")
    got = j.got
    expect_close(expect_tensor(got["mean"], "the prior's mean", device=j.device),
                 torch.zeros(m), "the prior's mean", reveal=True)
    expect_close(expect_tensor(got["stddev"], "the prior's stddev", device=j.device),
                 torch.ones(m), "the prior's standard deviation", reveal=True)
    expected = -0.5 * (z**2).sum(-1) - 0.5 * m * math.log(2 * math.pi)
    expect_close(got["log_prob"], expected, "log p(z) of the prior", reveal=True)
    expect_tensor(got["sample"], "prior().sample((4,))", shape=(4, m), device=j.device)


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


def judge_prior_parameters(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    names = [n for key in ("own", "attributes", "through_parent")
             for n in (got.get(key) if isinstance(got.get(key), list) else [])]
    if not all(isinstance(n, str) for n in names):
        raise CheckFailed("could not list the prior's parameters.")
    if names:
        shown = ", ".join(sorted({n.split(".")[-1] for n in names}))
        raise CheckFailed(f"GaussianPrior has trainable parameters ({shown}): the prior "
                          "N(0, I) is fixed, so its mean and standard deviation are buffers, not "
                          "trained — store them with self.register_buffer(...), not "
                          "nn.Parameter (an optimizer given vae.parameters() would move them).")


def probe_prior_dtype(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["GaussianPrior"](2).to(ctx.device, torch.float64)
    return summarize(prior(), None, (3,))


def judge_prior_dtype(j: Judgement) -> None:
    expect_dist(j.got, "GaussianPrior(2)()", (), (2,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    mean = j.got["mean"]
    follows = isinstance(mean, torch.Tensor) and mean.dtype == F64
    if not follows:
        raise CheckFailed("after prior.to(torch.float64) the prior's parameters are still "
                          f"{getattr(mean, 'dtype', '?')}: store the mean and standard deviation "
                          "with self.register_buffer(...) in __init__, so .to(), .double() and "
                          ".cuda() move them with the module (plain attributes, or tensors "
                          "created in forward(), stay float32 on the CPU).")
    expect_tensor(mean, "the prior's mean", device=j.device)


def prior_hidden_inputs() -> dict[str, Any]:
    return {"M": 7, "z": 2.0 * torch.randn(10, 7)}


def judge_prior_reference(j: Judgement) -> None:
    m = j.inputs["M"]
    expect_dist(j.got, f"GaussianPrior({m})()", (), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    expect_close(j.got["log_prob"], j.ref["log_prob"], "log p(z) of the prior", reveal=False)


# ------------------------------------------------------------------- vae.encoder


def encoder_identity_inputs() -> dict[str, Any]:
    h = torch.randn(6, 8)
    return {"h": h, "z": torch.randn(6, 4)}


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


def _encoder_hints(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict, dict]:
    m = h.shape[-1] // 2
    mean, logvar = h[:, :m], h[:, m:]
    std = torch.exp(0.5 * logvar)
    std_hints = {
        "the network's second half is the LOG-VARIANCE: std = exp(logvar / 2); "
        "exp(logvar) is the variance, not the standard deviation (variance/log-variance "
        "confusion)": torch.exp(logvar),
        "the mean and log-variance halves are swapped (the first M outputs are the mean)":
            torch.exp(0.5 * mean),
        "the 1/2 is outside the exponential: std = exp(logvar / 2), not exp(logvar) / 2":
            0.5 * torch.exp(logvar),
        "a standard deviation was passed where a (co)variance is expected (e.g. "
        "covariance_matrix=diag(std)): the covariance is diag(exp(logvar)), the scale "
        "exp(logvar / 2)": torch.exp(0.25 * logvar),
    }
    mean_hints = {"the mean and log-variance halves are swapped (the first M outputs are the "
                  "mean, the last M the log-variance)": logvar}
    return mean, std, mean_hints, std_hints


def judge_encoder_identity(j: Judgement) -> None:
    h, z = j.inputs["h"], j.inputs["z"]
    b, m = h.shape[0], h.shape[1] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (b,), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that log q(z|x) sums over the "
                "M latent dimensions and has shape [B].")
    mean, std, mean_hints, std_hints = _encoder_hints(h)
    got = j.got
    expect_tensor(got["mean"], "q(z|x).mean", device=j.device)
    expect_close(got["mean"], mean, "q(z|x).mean (the first M outputs of the network)",
                 reveal=True, hints=mean_hints)
    expect_close(got["stddev"], std, "q(z|x).stddev (exp(logvar / 2))", reveal=True,
                 hints=std_hints)
    expected_lp = td.Independent(td.Normal(mean, std), 1).log_prob(z)
    expect_close(got["log_prob"], expected_lp, "log q(z|x)", reveal=True)
    grad = got.get("grad")
    if not isinstance(grad, torch.Tensor) or not torch.any(grad != 0):
        raise CheckFailed("q.rsample() carries no gradient back to the network's output: build "
                          "the Normal from the network's output with torch operations (no "
                          ".detach(), .item() or .numpy()).")


def linear_encoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"x": torch.bernoulli(torch.full((5, 3, 4), 0.4)).to(dtype),
            "W": 0.5 * torch.randn(2 * m, 12, dtype=dtype), "b": torch.randn(2 * m, dtype=dtype),
            "z": torch.randn(5, m, dtype=dtype)}


def linear_encoder(ns: dict[str, Any], W: torch.Tensor, b: torch.Tensor,
                   device: torch.device) -> tuple[Any, nn.Linear]:
    """The notebook's ``GaussianEncoder`` around flatten + a linear map with weights W, b."""
    linear = nn.Linear(W.shape[1], W.shape[0]).to(device, W.dtype)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(b)
    return ns["GaussianEncoder"](nn.Sequential(nn.Flatten(), linear)), linear


def probe_encoder_linear(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    encoder, _ = linear_encoder(ns, inputs["W"], inputs["b"], ctx.device)
    return summarize(encoder(inputs["x"]), inputs["z"], (2,))


def judge_encoder_linear(j: Judgement) -> None:
    x, W, b = j.inputs["x"], j.inputs["W"], j.inputs["b"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x) for x of shape [5, 3, 4]", (x.shape[0],), (m,),
                "Normal", "Wrap the Normal in td.Independent(..., 1).")
    h = x.reshape(x.shape[0], -1) @ W.T + b
    mean, std, mean_hints, std_hints = _encoder_hints(h)
    expect_tensor(j.got["mean"], "q(z|x).mean", dtype=x.dtype, device=j.device)
    expect_close(j.got["mean"], mean, "q(z|x).mean", reveal=True, hints=mean_hints)
    expect_close(j.got["stddev"], std, "q(z|x).stddev", reveal=True, hints=std_hints)
    expect_tensor(j.got["log_prob"], "log q(z|x)", shape=(x.shape[0],), device=j.device)
    expect_tensor(j.got["sample"], "q.sample((2,))", shape=(2, x.shape[0], m), device=j.device)


def judge_encoder_reference(j: Judgement) -> None:
    x, W = j.inputs["x"], j.inputs["W"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (x.shape[0],), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    for key, what in (("mean", "q(z|x).mean"), ("stddev", "q(z|x).stddev"),
                      ("log_prob", "log q(z|x)")):
        expect_tensor(j.got[key], what, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


# ------------------------------------------------------------------- vae.decoder


def decoder_inputs(dtype: torch.dtype = torch.float32, m: int = 3) -> dict[str, Any]:
    return {"z": torch.randn(5, m, dtype=dtype), "W": torch.randn(D, m, dtype=dtype),
            "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full((5, *IMG), 0.3)).to(dtype)}


def probe_decoder(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W, c = inputs["W"], inputs["c"]
    linear = nn.Linear(W.shape[1], D).to(ctx.device, W.dtype)
    with torch.no_grad():
        linear.weight.copy_(W)
        linear.bias.copy_(c)
    decoder = ns["BernoulliDecoder"](nn.Sequential(linear, nn.Unflatten(-1, IMG)))
    return summarize(decoder(inputs["z"]), inputs["x"], (2,))


def judge_decoder(j: Judgement) -> None:
    from autograder.trusted.linear_bernoulli import bernoulli_log_prob, linear_logits

    z, W, c, x = (j.inputs[k] for k in ("z", "W", "c", "x"))
    logits = linear_logits(z, W, c)
    _judge_decoder_against(j, torch.sigmoid(logits), bernoulli_log_prob(x, logits))


def decoder_hand_inputs() -> dict[str, Any]:
    """z [3, 1] = 0, log 3, -log 3 and a network giving every pixel the logit z: the pixel
    probabilities are 1/2, 3/4 and 1/4."""
    z = torch.tensor([[0.0], [math.log(3.0)], [-math.log(3.0)]])
    return {"z": z, "W": torch.ones(D, 1), "c": torch.zeros(D),
            "x": torch.bernoulli(torch.full((3, *IMG), 0.3))}


def judge_decoder_hand(j: Judgement) -> None:
    """Image i with k_i ones: log p(x|z) = k_i log p_i + (784 - k_i) log(1 - p_i)."""
    probs = torch.tensor([0.5, 0.75, 0.25])
    ones = j.inputs["x"].sum((-2, -1))
    log_prob = ones * probs.log() + (D - ones) * (1 - probs).log()
    _judge_decoder_against(j, probs[:, None, None].expand(3, *IMG), log_prob)


def _judge_decoder_against(j: Judgement, probs: torch.Tensor, log_prob: torch.Tensor) -> None:
    """An Independent(Bernoulli) over 28x28 pixels with these pixel probabilities and
    log p(x|z) for the inputs' images; its samples are binary."""
    z = j.inputs["z"]
    b = z.shape[0]
    expect_dist(j.got, "BernoulliDecoder(net)(z)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2) so that the 28x28 pixels form "
                "one event: log p(x|z) must sum over both image dimensions and have shape [B].")
    mean = expect_tensor(j.got["mean"], "p(x|z).mean", shape=(b, *IMG), dtype=z.dtype,
                         device=j.device)
    expect_close(mean, probs, "p(x|z).mean (the pixel probabilities sigmoid(logits))",
                 reveal=True, hints={
                     "the network outputs LOGITS: pass them as Bernoulli(logits=...); applying "
                     "a sigmoid first and passing the result as logits treats probabilities "
                     "as logits": torch.sigmoid(probs),
                 })
    expect_close(j.got["log_prob"], log_prob, "log p(x|z) (summed over the 28x28 pixels)",
                 reveal=True, rtol=1e-4, atol=1e-3)
    sample = expect_tensor(j.got["sample"], "p(x|z).sample((2,))", shape=(2, b, *IMG),
                           device=j.device)
    if not torch.all((sample == 0) | (sample == 1)):
        raise CheckFailed("samples of p(x|z) should be binary (0 or 1).")


def judge_decoder_reference(j: Judgement) -> None:
    b = j.inputs["z"].shape[0]
    expect_dist(j.got, "BernoulliDecoder(net)(z)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2).")
    for key, what in (("mean", "p(x|z).mean"), ("log_prob", "log p(x|z)")):
        expect_tensor(j.got[key], what, dtype=j.inputs["z"].dtype, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


# ---------------------------------------------------------------------- vae.elbo
ELBO_N = 4000
KL_RULE_MISSING = "No KL(p || q) is implemented"


def elbo_inputs(dtype: torch.dtype = torch.float32, mean: tuple[float, float] = (1.5, -2.0),
                logvar: tuple[float, float] = (-2.0, -1.0)) -> dict[str, Any]:
    """One image x, replicated ELBO_N times, with a fixed q(z|x) and a linear decoder."""
    return {"W": 0.3 * torch.randn(D, 2, dtype=dtype), "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
            "q_mean": torch.tensor(mean, dtype=dtype), "q_logvar": torch.tensor(logvar,
                                                                                dtype=dtype)}


def _build_vae(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, n: int
               ) -> tuple[nn.Module, RowEncoder, torch.Tensor]:
    dtype = inputs["W"].dtype
    theta = torch.cat([inputs["q_mean"], inputs["q_logvar"]]).expand(n, 4).contiguous()
    encoder = RowEncoder(theta).to(ctx.device)
    decoder = LinearDecoder(inputs["W"], inputs["c"]).to(ctx.device)
    vae = ns["VAE"](FixedPrior(2, dtype).to(ctx.device), decoder, encoder)
    x = inputs["x"].expand(n, *IMG).contiguous()
    return vae, encoder, x


def kl_rule_guard(probe: Probe) -> Probe:
    """``probe``, except that td.kl_divergence's missing-rule error comes back as plain data.

    Only that error (raised inside torch.distributions for a pair of distribution types it
    has no formula for) is caught; a judge turns it into a message naming the cause.
    """

    def guarded(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
        try:
            return probe(ns, inputs, ctx)
        except NotImplementedError as exc:
            if KL_RULE_MISSING in str(exc):
                return {"kl_rule_missing": str(exc)[:200]}
            raise

    guarded.__name__ = probe.__name__
    return guarded


def fail_on_missing_kl_rule(got: Any) -> None:
    """CheckFailed naming td.kl_divergence's registry when a guarded probe hit it."""
    if isinstance(got, dict) and isinstance(got.get("kl_rule_missing"), str):
        raise CheckFailed(
            f"td.kl_divergence raised NotImplementedError ({got['kl_rule_missing']}): it has no "
            "formula for this pair of distribution types. Return td.Independent(td.Normal(...), "
            "1) from both the encoder and the prior, as the exercises ask, or use the Monte "
            "Carlo KL log q(z|x) - log p(z) at the same z.")


@kl_rule_guard
def probe_elbo(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, x = _build_vae(ns, inputs, ctx, ELBO_N)
    elbo = vae.elbo(x)
    return {"elbo": elbo.detach() if isinstance(elbo, torch.Tensor) else elbo,
            "loss": (lambda v: v.detach() if isinstance(v, torch.Tensor) else v)(vae(x))}


def _elbo_draws(j: Judgement, key: str = "elbo") -> torch.Tensor:
    fail_on_missing_kl_rule(j.got)
    got = j.got.get(key) if isinstance(j.got, dict) else j.got
    if isinstance(got, torch.Tensor) and got.dim() == 0:
        raise CheckFailed("elbo(x) returned a single number: it must return one ELBO per example"
                          f", shape [B] = [{ELBO_N}] (do not average over the batch in elbo; "
                          "forward() takes the mean).")
    values = expect_tensor(got, "elbo(x)", shape=(ELBO_N,), dtype=j.inputs["W"].dtype,
                           device=j.device)
    expect_finite(values, "elbo(x)")
    return values.detach().to(F64)


def _rounding(value: float) -> float:
    """Slack for float32 rounding of per-draw values of size ``value``."""
    return 1e-5 * abs(value) + 1e-6


def single_draw_bound(inputs: dict[str, Any]) -> tuple[float, float]:
    """(largest exact variance of one ELBO draw over the accepted KL forms, the sample-variance
    threshold of ELBO_N such draws at false-failure rate FALSE_FAILURE_RATE).

    The sample variance of n iid draws has standard deviation sqrt((mu4 - sigma^4) / n)
    (mu4: the exact fourth central moment); the threshold is sigma^2 + t * that, with t the
    one-sided normal quantile at FALSE_FAILURE_RATE / 10, widened by a quarter for the
    right skew of a sample variance.
    """
    from autograder.trusted.linear_bernoulli import draw_moments

    t = normal_threshold(FALSE_FAILURE_RATE / 10)
    limits = []
    for var, m4 in draw_moments(inputs).values():
        spread = math.sqrt(max(m4 - var**2, 0.0) / ELBO_N)
        limits.append((var, var + 1.25 * t * spread + 1e-4 * var + 1e-6))
    return max(v for v, _ in limits), max(limit for _, limit in limits)


def judge_elbo_value(j: Judgement) -> None:
    from autograder.trusted.linear_bernoulli import exact_terms

    values = _elbo_draws(j)
    t = exact_terms(j.inputs)
    expected = t["rec"] - t["kl"]
    mean = float(values.mean())
    se = float(values.std() / math.sqrt(ELBO_N))
    limit = normal_threshold()
    if abs(mean - expected) > limit * (se + _rounding(expected)):
        raise CheckFailed(_elbo_mean_message(mean, se, expected, t, limit))
    exact_var, var_limit = single_draw_bound(j.inputs)
    sample_var = float(values.var())
    if sample_var > var_limit:
        raise CheckFailed(
            f"the {ELBO_N} draws of elbo(x) vary far more than a single-sample ELBO estimate "
            f"can: their variance is {sample_var:.4g}, while one reparameterised draw (analytic "
            f"or Monte Carlo KL) has variance at most {exact_var:.4g} on this model (threshold "
            f"{var_limit:.4g} at false-failure rate {FALSE_FAILURE_RATE:g}). Is something random "
            "added to the ELBO? elbo(x) = log p(x|z) - KL with one z = q.rsample().")


def _elbo_mean_message(mean: float, se: float, expected: float, t: dict[str, float],
                       limit: float) -> str:
    m = 2
    hints = {
        "the KL term has the wrong sign: ELBO = E_q[log p(x|z)] - KL(q || p)": t["rec"] + t["kl"],
        "the KL term is missing": t["rec"],
        "the KL is averaged over the latent dimensions where it must be summed":
            t["rec"] - t["kl"] / m,
        "KL(p || q) was used; the ELBO needs KL(q || p) (KL direction)": t["rec"] - t["rkl"],
        "the KL has a spurious factor 2 (a missing 1/2)": t["rec"] - 2 * t["kl"],
        "the reconstruction term is averaged over pixels where it must be summed":
            t["rec"] / D - t["kl"],
        "z was drawn from the prior p(z) inside elbo: the reconstruction term needs "
        "z ~ q(z|x), z = q.rsample() with q = self.encoder(x)": t["rec_prior"] - t["kl"],
    }
    named = [text for text, value in hints.items()
             if abs(mean - value) <= limit * (se + _rounding(value))]
    if se == 0.0:
        named.append("elbo(x) gave exactly the same value for every draw: z must be a random "
                     "(reparameterised) sample z = q.rsample(), not the mean of q")
    message = (f"the average of {ELBO_N} draws of elbo(x) is {mean:.3f} ± {se:.3f}, but the "
               f"exact ELBO is {expected:.3f} (z = {abs(mean - expected) / (se + 1e-12):.1f} "
               f"standard errors; threshold {limit:.1f} at false-failure rate "
               f"{FALSE_FAILURE_RATE:g}).")
    if named:
        message += f" Likely cause: {named[0]}."
    return message


def judge_forward(j: Judgement) -> None:
    """The loss against -E[elbo]: the tolerance comes from the exact single-draw variance,
    so noise added to the ELBO cannot widen it."""
    from autograder.trusted.linear_bernoulli import exact_terms

    t = exact_terms(j.inputs)
    exact_var, _ = single_draw_bound(j.inputs)
    _judge_forward_against(j, t["rec"] - t["kl"], exact_var)


def _judge_forward_against(j: Judgement, expected: float, exact_var: float) -> None:
    """The loss is -``expected`` (the exact ELBO) within the noise that ELBO_N draws of
    variance at most ``exact_var`` allow."""
    _elbo_draws(j)
    loss = j.got.get("loss")
    if isinstance(loss, torch.Tensor) and loss.numel() != 1:
        raise CheckFailed(f"vae(x) returned a tensor of shape {list(loss.shape)}: forward must "
                          "return the scalar loss -elbo(x).mean() (averaged over the batch).")
    loss = expect_tensor(loss, "vae(x)", device=j.device)
    value = float(loss)
    tol = normal_threshold() * (math.sqrt(exact_var / ELBO_N) + _rounding(expected))
    if abs(value + expected) <= tol:
        return
    if abs(value - expected) <= tol:
        raise CheckFailed("vae(x) returns +ELBO: the loss to minimise is the NEGATIVE ELBO, "
                          "-elbo(x).mean().")
    if abs(value + expected * ELBO_N) <= tol * ELBO_N:
        raise CheckFailed("vae(x) sums the ELBO over the batch: the loss is the batch MEAN, "
                          "-elbo(x).mean(), so that the learning rate does not depend on the "
                          "batch size.")
    raise CheckFailed(f"vae(x) = {value:.3f}, but -E[elbo(x)] = {-expected:.3f} (tolerance "
                      f"{tol:.3f}): forward should return -elbo(x).mean().")


def elbo_hand_inputs() -> dict[str, Any]:
    """A decoder that ignores z (W = 0, logits c = 0: every pixel has probability 1/2), so
    E_q[log p(x|z)] = -784 log 2 exactly, and q = N((1.5, -2), diag(exp(-2), exp(-1)))."""
    inputs = elbo_inputs()
    inputs["W"], inputs["c"] = torch.zeros(D, 2), torch.zeros(D)
    return inputs


def elbo_hand_terms() -> tuple[dict[str, float], float]:
    """For ``elbo_hand_inputs``, by hand: the reconstruction term, KL(q || p), KL(p || q) and the
    variance of one draw of the Monte Carlo KL log q(z) - log p(z) (the largest over the
    accepted forms: an analytic KL gives 0). Per latent dimension with variance v:
    KL = ½(mean² + v - 1 - log v), reverse ½((1 + mean²)/v - 1 + log v), and
    Var[(z² - u²)/2] = (v - 1)²/2 + mean² v for z = mean + sqrt(v) u."""
    v1, v2 = math.exp(-2.0), math.exp(-1.0)
    rec = -D * math.log(2.0)
    terms = {"rec": rec, "rec_prior": rec,
             "kl": 0.5 * ((2.25 + v1 - 1 + 2) + (4 + v2 - 1 + 1)),
             "rkl": 0.5 * ((3.25 / v1 - 1 - 2) + (5 / v2 - 1 - 1))}
    return terms, (v1 - 1) ** 2 / 2 + 2.25 * v1 + (v2 - 1) ** 2 / 2 + 4 * v2


def judge_elbo_hand(j: Judgement) -> None:
    values = _elbo_draws(j)
    t, var = elbo_hand_terms()
    expected = t["rec"] - t["kl"]
    mean = float(values.mean())
    se = math.sqrt(var / ELBO_N)
    limit = normal_threshold()
    if abs(mean - expected) > limit * (se + _rounding(expected)):
        raise CheckFailed(_elbo_mean_message(mean, se, expected, t, limit))


def judge_forward_hand(j: Judgement) -> None:
    t, var = elbo_hand_terms()
    _judge_forward_against(j, t["rec"] - t["kl"], var)


def grad_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """q far from p = N(0, I), so that the KL's gradient is large against the Monte Carlo
    noise of the reconstruction term's: dropping either part is detected."""
    inputs = elbo_inputs(dtype, (2.0, -1.5), (-1.5, 0.8))
    inputs["W"] = 0.3 * torch.randn(D, 2, dtype=dtype)
    return inputs


@kl_rule_guard
def probe_grad(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
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


def _grad_z(grad: torch.Tensor, expected: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-coordinate mean of per-example gradients and max |z| against ``expected``."""
    g = grad.to(F64)
    mean, se = g.mean(0), g.std(0) / math.sqrt(g.shape[0])
    return mean, float(((mean - expected).abs() / (se + 1e-6)).max())


def judge_grad(j: Judgement) -> None:
    from autograder.trusted.linear_bernoulli import expected_grads

    fail_on_missing_kl_rule(j.got)
    got = j.got if isinstance(j.got, dict) else {}
    parts = expected_grads(j.inputs)
    limit = normal_threshold(FALSE_FAILURE_RATE / 8)
    grad = got.get("elbo")
    if grad is None:
        raise CheckFailed("no gradient reached the encoder from elbo(x): it must depend on q's "
                          "parameters through a reparameterised sample z = q.rsample() "
                          "(.sample() cuts the gradient) and through the KL term.")
    grad = expect_tensor(grad, "the encoder's gradient", shape=(ELBO_N, 4))
    expect_finite(grad, "the encoder's gradient")
    _check_gradient(grad, parts, limit, "elbo(x).sum()")
    if not got.get("loss_has_grad") or got.get("loss") is None:
        raise CheckFailed("vae(x) returns a loss that carries no gradient: return "
                          "-self.elbo(x).mean() as a tensor (no .detach(), .item(), float() or "
                          ".data), so that loss.backward() trains the encoder and decoder.")
    loss_grad = expect_tensor(got["loss"], "the gradient of vae(x)", shape=(ELBO_N, 4))
    mean, z = _grad_z(-ELBO_N * loss_grad, parts["elbo"])
    if z > limit:
        raise CheckFailed(f"the gradient of the loss vae(x) is not that of -elbo(x).mean() "
                          f"(max z = {z:.1f}, threshold {limit:.1f}): forward must return "
                          "-self.elbo(x).mean(), differentiable all the way to the encoder.")


def grad_hand_inputs() -> dict[str, Any]:
    """An all-ones image and logits = z_1 for every pixel (z_2 unused): the reconstruction
    term pulls q's first mean up, and only the KL acts on q's second coordinate."""
    inputs = elbo_inputs(torch.float32, (2.0, -1.5), (-1.5, 0.8))
    inputs["W"] = torch.cat([torch.ones(D, 1), torch.zeros(D, 1)], dim=1)
    inputs["c"] = torch.zeros(D)
    inputs["x"] = torch.ones(IMG)
    return inputs


def judge_grad_hand(j: Judgement) -> None:
    """Per-example gradients w.r.t. q's [mean, logvar] (ELBO_N draws each), by hand.

    mean_1: d log p(x|z)/dz_1 = 784 sigmoid(-z_1) > 0, about 94 on average here, minus the
    KL's 2: far above 20. mean_2 and logvar_2 get the KL's gradient only: exactly -mean_2 = 1.5
    and -(v_2 - 1)/2 with an analytic KL; with a Monte Carlo KL at the reparameterised z, one
    draw has mean that value and variance v_2 (mean_2) or v_2 (mean_2² + 2 v_2)/4 (logvar_2).
    """
    fail_on_missing_kl_rule(j.got)
    got = j.got if isinstance(j.got, dict) else {}
    grad = got.get("elbo")
    if grad is None:
        raise CheckFailed("no gradient reached the encoder from elbo(x): it must depend on q's "
                          "parameters through a reparameterised sample z = q.rsample() "
                          "(.sample() cuts the gradient) and through the KL term.")
    _check_hand_gradient(j, expect_tensor(grad, "the encoder's gradient", shape=(ELBO_N, 4)),
                         "elbo(x).sum()")
    if not got.get("loss_has_grad") or got.get("loss") is None:
        raise CheckFailed("vae(x) returns a loss that carries no gradient: return "
                          "-self.elbo(x).mean() as a tensor (no .detach(), .item(), float() or "
                          ".data), so that loss.backward() trains the encoder and decoder.")
    loss_grad = expect_tensor(got["loss"], "the gradient of vae(x)", shape=(ELBO_N, 4))
    _check_hand_gradient(j, -ELBO_N * loss_grad, "the loss vae(x) (times -B)")


def _check_hand_gradient(j: Judgement, grad: torch.Tensor, what: str) -> None:
    expect_finite(grad, f"the encoder's gradient from {what}")
    mean2, logvar2 = float(j.inputs["q_mean"][1]), float(j.inputs["q_logvar"][1])
    v2 = math.exp(logvar2)
    g = grad.to(F64).mean(0)
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    if float(g[0]) <= 20.0:
        raise CheckFailed(f"the reconstruction term of {what} passes no gradient to q's mean "
                          f"(average {float(g[0]):.2f}; log p(x|z) pulls it up by about 94 on "
                          "this model): z must be drawn with q.rsample() (the reparameterisation "
                          "trick, z = mean + std * eps), not q.sample(), which is detached, "
                          "and passed to the decoder.")
    for index, exact, var, name in (
            (1, -mean2, v2, "the second mean"),
            (3, -0.5 * (v2 - 1.0), v2 * (mean2**2 + 2 * v2) / 4, "the second log-variance")):
        tol = limit * math.sqrt(var / ELBO_N) + 1e-4
        value = float(g[index])
        if abs(value - exact) <= tol:
            continue
        cause = ("the KL term passes no gradient (compute it from q's parameters, "
                 "td.kl_divergence(q, prior), or as log q(z|x) - log p(z) at the "
                 "reparameterised z = q.rsample(), not at a detached q.sample() draw)"
                 if abs(value) <= tol else
                 "the KL enters with the wrong sign (ELBO = E_q[log p(x|z)] - KL(q || p))"
                 if abs(value + exact) <= tol else "the KL term's gradient is wrong")
        raise CheckFailed(f"the gradient of {what} w.r.t. {name} of q, which only the KL term "
                          f"reaches on this model, averages {value:.3f}; -dKL/d{name.split()[-1]}"
                          f" = {exact:.3f} (tolerance {tol:.3f}). Likely cause: {cause}.")


def _check_gradient(grad: torch.Tensor, parts: dict[str, torch.Tensor], limit: float,
                    what: str) -> None:
    mean, z = _grad_z(grad, parts["elbo"])
    if z <= limit:
        return
    if _grad_z(grad, torch.zeros(4, dtype=F64))[1] <= limit or not torch.any(grad != 0):
        raise CheckFailed(f"{what} passes no gradient to the encoder: z must be drawn with "
                          "q.rsample() (the reparameterisation trick, z = mean + std * eps), not "
                          "q.sample(), which is detached; a Monte Carlo KL must use that same z.")
    if _grad_z(grad, parts["kl"])[1] <= limit:
        raise CheckFailed(f"the reconstruction term of {what} passes no gradient to the "
                          "encoder: z must be drawn with q.rsample() (the reparameterisation "
                          "trick, z = mean + std * eps), not q.sample(), which is detached.")
    if _grad_z(grad, parts["rec"])[1] <= limit:
        raise CheckFailed(f"the KL term of {what} passes no gradient to the encoder: compute it "
                          "from q's parameters (td.kl_divergence(q, prior)) or as "
                          "log q(z|x) - log p(z) at the reparameterised z = q.rsample() used for "
                          "the reconstruction, not at a detached q.sample() draw.")
    raise CheckFailed(f"the average gradient of {what} with respect to the encoder's "
                      f"[mean, logvar] is {[round(v, 3) for v in mean.tolist()]}, expected "
                      f"{[round(v, 3) for v in parts['elbo'].tolist()]} (max z = {z:.1f}, "
                      f"threshold {limit:.1f}): is z = q.rsample() passed to the decoder, and "
                      "the KL computed from q?")


# -------------------------------------------------------------------- vae.sample
SAMPLE_N = 20_000


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    inputs = elbo_inputs(dtype)
    inputs["W"] = 1.5 * torch.randn(D, 2, dtype=dtype)
    return inputs


def probe_sample(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    vae, _, _ = _build_vae(ns, inputs, ctx, 1)
    return vae.sample(SAMPLE_N)


def judge_sample(j: Judgement) -> None:
    from autograder.trusted.linear_bernoulli import pixel_marginals

    _judge_sample_against(j, pixel_marginals(j.inputs["W"], j.inputs["c"]))


SHARP = 200.0  # logits SHARP * (z_k - a): pixel = 1 exactly when z_k > a, up to ~1e-5


def sample_hand_inputs() -> dict[str, Any]:
    """Three groups of pixels with marginals known by hand: logits 200 (z_1 - 1) (p = P(z_1 >
    1)), 200 (z_2 + 1/2) (p = P(z_2 > -1/2)) and log 3 whatever z (p = 3/4)."""
    inputs = elbo_inputs()
    third = D // 3
    W, c = torch.zeros(D, 2), torch.full((D,), math.log(3.0))
    W[:third, 0], c[:third] = SHARP, -SHARP
    W[third:2 * third, 1], c[third:2 * third] = SHARP, 0.5 * SHARP
    inputs["W"], inputs["c"] = W, c
    return inputs


def judge_sample_hand(j: Judgement) -> None:
    """Marginals P(z_1 > 1) = erfc(1/√2)/2, P(z_2 > -1/2) = erfc(-1/(2√2))/2 and 3/4; a
    sigmoid of slope 200 moves the first two by about 1e-5, 0.004 standard errors here."""
    third = D // 3
    p = torch.full((D,), 0.75, dtype=F64)
    p[:third] = 0.5 * math.erfc(1 / math.sqrt(2))
    p[third:2 * third] = 0.5 * math.erfc(-0.5 / math.sqrt(2))
    _judge_sample_against(j, p.reshape(IMG))


def _judge_sample_against(j: Judgement, p: torch.Tensor) -> None:
    """sample(SAMPLE_N) is binary [n, 28, 28] with pixel frequencies ``p`` (one test per pixel;
    false-failure rate FALSE_FAILURE_RATE over all of them)."""
    W, c = j.inputs["W"], j.inputs["c"]
    got = j.got
    if isinstance(got, torch.Tensor) and tuple(got.shape) == (SAMPLE_N, 1, *IMG):
        raise CheckFailed("sample(n) has a spurious dimension of size 1: draw z with "
                          "prior().sample(torch.Size([n])), shape [n, M].")
    x = expect_tensor(got, f"sample({SAMPLE_N})", shape=(SAMPLE_N, *IMG), dtype=W.dtype,
                      device=j.device)
    if not torch.all((x == 0) | (x == 1)):
        raise CheckFailed("sample(n) returned non-binary values: return samples x ~ p(x|z) "
                          "(decoder(z).sample()), not the pixel probabilities decoder(z).mean.")
    freq = x.to(F64).mean(0)
    se = (p * (1 - p) / SAMPLE_N).sqrt().clamp_min(1e-12)
    stat = ((freq - p).abs() / se).max()
    limit = normal_threshold(FALSE_FAILURE_RATE / D)
    if stat <= limit:
        return
    at_zero = torch.sigmoid(c.to(F64)).reshape(IMG)
    hint = ""
    if float(((freq - at_zero).abs() / se).max()) <= limit:
        hint = (" The pixel frequencies match z = 0 for every sample: draw z ~ p(z) with "
                "prior().sample(), not its mean.")
    raise CheckFailed(f"the pixel frequencies of sample(n) do not match the model's marginal "
                      f"p(x_d = 1) = E_z[sigmoid(logit_d(z))] (largest deviation {stat:.1f} "
                      f"standard errors, threshold {limit:.1f}): draw z from the prior, then x "
                      f"from decoder(z).{hint}")


# ------------------------------------------------------------------ vae.training
TRAIN_STEPS = 300
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
CHECK_BATCH = 256
TEST_SUBSET = 1_000
CONTROL_SUBSET = 10_000  # unseen training images 50 000-59 999: the memorisation control
TRAIN_M = 8
ELBO_THRESHOLD = -170.0
TRAINING_RUNS = 22
"""Correct trainings measured against the threshold (docs/grading/training-checks.md)."""
LOSS_EVERY = 5
CONSISTENCY_NATS = 2.0  # elbo(x) vs the grader's ELBO at the trained weights


def mnist_root_inputs() -> dict[str, Any]:
    """The MNIST root as the grading process sees it: a child reads the *training* files
    there (the sandbox lets it read nothing else); judges read the test split."""
    from autograder.paths import course_root
    from vaelib.data import data_root, has_mnist

    root = data_root()
    if not has_mnist(root) and has_mnist(course_root() / "data"):
        root = course_root() / "data"
    return {"root": str(root.resolve())}


def training_inputs() -> dict[str, Any]:
    """Training images only: grey levels to train on, and a fixed-binarized batch of other
    training images on which the trained classes' own elbo(x) is recorded (for diagnosis)."""
    from autograder.paths import course_root
    from vaelib.data import binarize, data_root, has_mnist, load_mnist_uint8, to_unit

    root = data_root()
    if not has_mnist(root) and has_mnist(course_root() / "data"):
        root = course_root() / "data"
    images, _ = load_mnist_uint8("train", root, download=False)
    held = images[TRAIN_SUBSET:TRAIN_SUBSET + CHECK_BATCH]
    return {"train": images[:TRAIN_SUBSET].clone(),
            "check_x": binarize(to_unit(held), "fixed")}


def _mlp(sizes: tuple[int, ...]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers[:-1]


def training_networks() -> tuple[nn.Module, nn.Module]:
    """The grader's fixed encoder (784 -> 256 -> 2M) and decoder (M -> 256 -> 784) nets, seeded."""
    torch.manual_seed(0)
    enc_net = nn.Sequential(nn.Flatten(), *_mlp((D, 256, 2 * TRAIN_M)))
    dec_net = nn.Sequential(*_mlp((TRAIN_M, 256, D)), nn.Unflatten(-1, IMG))
    return enc_net, dec_net


def _weights(net: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in net.state_dict().items()}


@kl_rule_guard
def probe_training(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
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
    out["encoder"], out["decoder"] = _weights(enc_net), _weights(dec_net)
    if "stopped" not in out:
        with torch.no_grad():
            elbo = model.elbo(inputs["check_x"].to(dev))
        out["check_elbo"] = elbo.detach() if isinstance(elbo, torch.Tensor) else None
    return out


def judge_training(j: Judgement) -> None:
    """Rebuild the grader's model from the returned weights and evaluate it on test images."""
    from autograder.trusted.vae_mnist import (
        control_images,
        elbo_terms,
        evaluation_images,
        fits_evaluation_images_better,
        load_weights,
    )

    fail_on_missing_kl_rule(j.got)
    got = j.got if isinstance(j.got, dict) else {}
    stopped = got.get("stopped")
    steps = got.get("steps")
    if stopped == "no_grad":
        raise CheckFailed("vae(x) returned a loss that carries no gradient, so training cannot "
                          "start: return -self.elbo(x).mean() as a tensor (no .detach(), "
                          ".item() or float()).")
    enc_net, dec_net = training_networks()
    load_weights(enc_net, got.get("encoder"), "encoder")
    load_weights(dec_net, got.get("decoder"), "decoder")
    if stopped == "diverged":
        raise CheckFailed(f"training diverged: the loss became NaN/inf at step {steps}. "
                          + _training_diagnosis(got, enc_net, dec_net, j.inputs))
    terms = elbo_terms(enc_net, dec_net, evaluation_images(TEST_SUBSET))
    elbo = float(terms.elbo.mean())
    if not (math.isfinite(elbo) and elbo <= 0.0):
        raise CheckFailed(f"the test ELBO came out as {elbo:.3g}, which is impossible for "
                          "binary images (log p(x|z) <= 0 and KL >= 0).")
    control = elbo_terms(enc_net, dec_net, control_images(CONTROL_SUBSET)).elbo
    gap, z = fits_evaluation_images_better(terms.elbo, control)
    if z > normal_threshold():
        raise CheckFailed(f"the trained networks fit the test images {gap:.1f} nats better than "
                          f"unseen training images ({z:.1f} standard errors): they were trained "
                          "on the test set, which the check never gives to your code. Train on "
                          "the batches vae(x) receives.")
    if elbo < ELBO_THRESHOLD:
        raise CheckFailed(
            f"after {TRAIN_STEPS} Adam steps (batch {TRAIN_BATCH}, M = {TRAIN_M}, fixed networks) "
            f"the grader's test ELBO of the trained networks is {_nats(elbo)} nats "
            f"(reconstruction {_nats(terms.rec.mean())}, KL {_nats(terms.kl.mean())}); a correct "
            f"VAE reaches above {ELBO_THRESHOLD:.0f}. "
            + _training_diagnosis(got, enc_net, dec_net, j.inputs))
    _expect_consistent_elbo(got.get("check_elbo"), enc_net, dec_net, j.inputs["check_x"])


SMOKE_STEPS = 15
SMOKE_M = 2


def smoke_inputs() -> dict[str, Any]:
    """A batch of 32 random binary images (pixels on with probability 0.1); no MNIST."""
    return {"x": torch.bernoulli(torch.full((32, *IMG), 0.1))}


@kl_rule_guard
def probe_training_smoke(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
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
            out["bad_loss"] = _kind(loss)
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


def judge_training_smoke(j: Judgement) -> None:
    """The loss is a positive scalar with gradients in both networks, and it falls."""
    fail_on_missing_kl_rule(j.got)
    got = j.got if isinstance(j.got, dict) else {}
    if "bad_loss" in got:
        raise CheckFailed(f"vae(x) returned {got['bad_loss']}: forward must return the scalar "
                          "loss -self.elbo(x).mean() as a tensor that carries gradients (no "
                          ".detach(), .item() or float()).")
    losses = got.get("losses")
    if not isinstance(losses, list) or len(losses) != SMOKE_STEPS:
        raise CheckFailed("the training steps did not complete.")
    if not all(math.isfinite(v) for v in losses):
        raise CheckFailed("the loss became NaN/inf within a few Adam steps on one batch.")
    if min(losses) < 0:
        raise CheckFailed("the loss went negative, but -ELBO >= 0 for binary images (log p(x|z) "
                          "<= 0 and KL >= 0): forward must return the NEGATIVE ELBO, "
                          "-self.elbo(x).mean().")
    for name in ("encoder", "decoder"):
        if not got.get(name):
            raise CheckFailed(f"the loss vae(x) passes no gradient to the {name} network: is the "
                              f"{name}'s output used, through torch operations (z = q.rsample() "
                              "for the encoder), in elbo(x)?")
    first, last = losses[0], sum(losses[-3:]) / 3
    if not last < 0.9 * first:
        raise CheckFailed(f"{SMOKE_STEPS} Adam steps (lr 0.05) on one batch of 32 images took the "
                          f"loss from {first:.1f} to {last:.1f} only: a working VAE fits a batch "
                          "of images whose pixels are mostly 0 quickly. Check that the loss is "
                          "-elbo(x).mean() and that the decoder's outputs are used as logits.")


def _nats(value: Any) -> str:
    """A number of nats for a message: one decimal, or 3 significant digits when huge."""
    value = float(value)
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def _readings(enc_net: nn.Module, dec_net: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """ELBO terms of ``x`` under buggy readings of the networks, by the bug's description."""
    from autograder.trusted.vae_mnist import elbo_terms

    return {
        "the decoder's outputs were squashed by a sigmoid and then used as logits "
        "(probabilities passed as logits)": elbo_terms(enc_net, dec_net, x, logits_squash=True),
        "the encoder's log-variance was used as a log standard deviation (std = exp(logvar) "
        "instead of exp(logvar / 2))": elbo_terms(enc_net, dec_net, x, std_from_logvar=1.0),
    }


def _expect_consistent_elbo(check: Any, enc_net: nn.Module, dec_net: nn.Module,
                            x: torch.Tensor) -> None:
    """The student's elbo(x) with the trained networks is the specified model's ELBO.

    Both are averages over CHECK_BATCH images (the grader's with 4 samples each): a correct
    elbo differs by Monte Carlo noise only (measured: -0.02 ± 0.29 nats for the reference).
    This ties the trained weights to the student's classes.
    """
    from autograder.trusted.vae_mnist import elbo_terms

    if not isinstance(check, torch.Tensor) or tuple(check.shape) != (x.shape[0],):
        raise CheckFailed(f"after training, elbo(x) on {x.shape[0]} images did not return one "
                          f"value per image (got {_kind(check)}).")
    got = float(check.to(F64).mean())
    own = float(elbo_terms(enc_net, dec_net, x).elbo.mean())
    if abs(got - own) <= CONSISTENCY_NATS:
        return
    named = [text for text, terms in _readings(enc_net, dec_net, x).items()
             if abs(got - float(terms.elbo.mean())) <= CONSISTENCY_NATS]
    cause = f" Likely cause: {named[0]}." if named else ""
    raise CheckFailed(f"after training, your elbo(x) averages {got:.2f} nats on training images, "
                      f"but the specified model with the same networks gives {own:.2f} (tolerance "
                      f"{CONSISTENCY_NATS:g}): your classes do not compute this model's ELBO."
                      f"{cause}")


def _training_diagnosis(got: dict[str, Any], enc_net: nn.Module, dec_net: nn.Module,
                        inputs: dict[str, Any]) -> str:
    """The most specific cause the trained networks and the loss trace point to."""
    from autograder.trusted.vae_mnist import elbo_terms

    x = inputs["check_x"]
    own = elbo_terms(enc_net, dec_net, x)
    unchanged = [what for net, initial, what in zip(
        (enc_net, dec_net), training_networks(), ("encoder", "decoder"), strict=True)
        if all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 initial.state_dict().values(), strict=True))]
    if len(unchanged) == 2:
        return ("The networks' weights did not change during training: the loss vae(x) has "
                "zero gradient (forward must return -self.elbo(x).mean()).")
    if unchanged:
        return (f"The {unchanged[0]} network's weights did not change during training: the "
                f"loss vae(x) does not depend on it (is the {unchanged[0]}'s output used, "
                "through torch operations, in elbo(x)?).")
    losses = [v for v in got.get("losses", []) if isinstance(v, float) and math.isfinite(v)]
    check = got.get("check_elbo")
    check_mean = (float(check.to(F64).mean()) if isinstance(check, torch.Tensor)
                  and check.shape == own.elbo.shape else None)
    if losses and min(losses) < 0:
        if check_mean is not None and check_mean > 0:
            return ("Your elbo(x) is positive, which is impossible for binary images: the KL "
                    "sign is wrong, it must be subtracted (ELBO = log p(x|z) - KL).")
        return ("The loss went negative, but -ELBO >= 0 for binary images: forward must return "
                "the NEGATIVE ELBO, -self.elbo(x).mean().")
    kl = float(own.kl.mean()) if torch.isfinite(own.kl).all() else math.inf
    if kl > 500:
        return (f"The KL of the trained encoder is {kl:.3g} nats: training increased it, so the "
                "KL enters the loss with the wrong sign (ELBO = log p(x|z) - KL).")
    readings = _readings(enc_net, dec_net, x)
    best = max(readings, key=lambda k: float(readings[k].elbo.mean()))
    if float(readings[best].elbo.mean()) > float(own.elbo.mean()) + 20:
        return f"The networks fit a different model than the specified one: {best}."
    if kl < 1.0:
        return (f"The encoder collapsed onto the prior (KL = {kl:.2f} nats): it received only "
                "the KL's gradient. Draw z with q.rsample() (reparameterised), not q.sample().")
    if check_mean is not None and abs(check_mean - float(own.elbo.mean())) > 20:
        return (f"Your elbo(x) on training images is {check_mean - float(own.elbo.mean()):+.1f} "
                "nats away from the ELBO of the specified model with the same networks: check "
                "each term of elbo(x).")
    return ("Check that z = q.rsample(), that the KL is subtracted, and that the decoder "
            "receives logits.")


# ------------------------------------------------------------------------- tasks
# Where a check needing grader-only code was public before the student kit, it stays first
# (now hidden): its diagnosis leads the task's message in grading, as it did.
TASKS = (
    Task("vae.prior", TOPIC, ("GaussianPrior",), 1.0, (
        Check("standard normal over R^M as one event", probe_prior, judge_prior, prior_inputs),
        Check("parameters are buffers that follow .to(dtype/device)", probe_prior_dtype,
              judge_prior_dtype),
        Check("no trainable parameters (buffers, not trained)", probe_prior_parameters,
              judge_prior_parameters, weight=2.0),
        Check("log p(z) matches the reference (M = 7)", probe_prior, judge_prior_reference,
              prior_hidden_inputs, hidden=True),
        Check("with the notebook's GaussianEncoder, td.kl_divergence(q, p) is KL(q || N(0, I))",
              _pair_probe("GaussianPrior"), _pair_judge("GaussianPrior"), pair_inputs),
    ), description="p(z) = N(0, I_M)", companions=("GaussianEncoder",)),
    Task("vae.encoder", TOPIC, ("GaussianEncoder",), 2.0, (
        Check("mean and std = exp(logvar / 2) from the network output", probe_encoder_identity,
              judge_encoder_identity, encoder_identity_inputs),
        Check("shapes with a flattening linear network", probe_encoder_linear,
              judge_encoder_linear, linear_encoder_inputs),
        Check("matches the reference in float64", probe_encoder_linear, judge_encoder_reference,
              lambda: linear_encoder_inputs(F64, m=4), hidden=True, seed=5),
        Check("with the notebook's GaussianPrior, td.kl_divergence(q, p) is KL(q || N(0, I))",
              _pair_probe("GaussianEncoder"), _pair_judge("GaussianEncoder"), pair_inputs),
    ), description="q(z|x) = N(mean, exp(logvar))", companions=("GaussianPrior",)),
    Task("vae.decoder", TOPIC, ("BernoulliDecoder",), 2.0, (
        Check("Bernoulli(logits) over 28x28 pixels as one event", probe_decoder, judge_decoder,
              decoder_inputs, hidden=True),
        Check("Bernoulli(logits) over 28x28 pixels as one event: logits 0, ±log 3 by hand",
              probe_decoder, judge_decoder_hand, decoder_hand_inputs),
        Check("matches the reference in float64", probe_decoder, judge_decoder_reference,
              lambda: decoder_inputs(F64, m=5), hidden=True, seed=11),
    ), description="p(x|z) = prod Bernoulli(logits)"),
    Task("vae.elbo", TOPIC, ("VAE",), 3.0, (
        Check(f"E[elbo(x)] equals the exact ELBO (false-failure rate {FALSE_FAILURE_RATE:g})",
              probe_elbo, judge_elbo_value, elbo_inputs, hidden=True),
        Check("forward(x) is the loss -elbo(x).mean()", probe_elbo, judge_forward, elbo_inputs,
              hidden=True),
        Check("gradients reach the encoder through a reparameterised z", probe_grad,
              judge_grad, grad_inputs, hidden=True),
        Check(f"decoder ignoring z: E[elbo(x)] = -784 log 2 - KL(q || p) (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probe_elbo, judge_elbo_hand, elbo_hand_inputs),
        Check("decoder ignoring z: forward(x) is the loss -elbo(x).mean()", probe_elbo,
              judge_forward_hand, elbo_hand_inputs),
        Check("gradients: the reconstruction term's through a reparameterised z, the KL's "
              "exactly", probe_grad, judge_grad_hand, grad_hand_inputs),
        Check("E[elbo(x)] is exact in float64 for another posterior", probe_elbo,
              judge_elbo_value, lambda: elbo_inputs(F64, (-0.5, 1.0), (-3.0, 0.5)),
              hidden=True, seed=17),
    ), timeout_s=90.0, description="ELBO = E_q[log p(x|z)] - KL(q || p)"),
    Task("vae.sample", TOPIC, ("VAE",), 1.0, (
        Check("pixel frequencies match the model's marginal", probe_sample, judge_sample,
              sample_inputs, hidden=True),
        Check("pixel frequencies match marginals known by hand (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probe_sample, judge_sample_hand, sample_hand_inputs),
        Check("pixel frequencies match in float64 for another decoder", probe_sample,
              judge_sample, lambda: sample_inputs(F64), hidden=True, seed=23),
    ), description="ancestral sampling z ~ p(z), x ~ p(x|z)"),
    Task("vae.training", TOPIC, ("VAE",), 3.0, (
        Check(f"trains on MNIST: test ELBO > {ELBO_THRESHOLD:g} after {TRAIN_STEPS} steps "
              f"(measured false-failure rate 0/{TRAINING_RUNS}, margin over 25 nats)",
              probe_training, judge_training, training_inputs, hidden=True),
        Check(f"smoke test: {SMOKE_STEPS} Adam steps on one batch lower a positive loss that "
              "reaches both networks (measured false-failure rate 0/200)", probe_training_smoke,
              judge_training_smoke, smoke_inputs,
              weight=0.25),
    ), timeout_s=150.0, extra_symbols=("GaussianPrior", "GaussianEncoder", "BernoulliDecoder"),
        description="the four classes train a working VAE"),
)
