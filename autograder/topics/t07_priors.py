"""Topic 07: learned priors. Checks for the mixture density, the MoG and Vamp priors, the
Monte Carlo-KL ELBO, the aggregate posterior, the hole fraction and a training run.

Everything a judge computes beyond the raw outputs of the student's functions (mixture and
aggregate densities, exact ELBOs, hole fractions, the test ELBO of trained models) comes from
the grader-only ``autograder/trusted/priors.py``, imported inside hidden judges; public checks
use closed forms of tiny cases. Mixture checks compare behaviour (log densities at the
grader's points, moments of samples), never parameters by position, so
any component order, softmax or log_softmax weights, ``MixtureSameFamily`` or a hand-written
logsumexp, and any pseudo-input parameterisation that stays in [0, 1] pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.distributions as td
from torch import nn

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task
from autograder.checks.compare import describe, expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold, z_statistic
from autograder.checks.training import (
    BIAS_COSINE_MIN,
    OutputRecorder,
    bias_gradient_cosine,
    finite_loss,
)
from autograder.payload import DistributionInfo
from autograder.topics.t05_vae_binary_mnist import (
    IMG,
    LinearDecoder,
    RowEncoder,
    linear_encoder,
    mnist_root_inputs,
)

TOPIC = "07_priors"
F64 = torch.float64
D = IMG[0] * IMG[1]


def _detach(value: Any) -> Any:
    """A copy that no later in-place update (an optimiser step) can change."""
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def _trusted() -> Any:
    from autograder.trusted import priors

    return priors


# ------------------------------------------------------------- log_mixture_density


def mixture_inputs(dtype: torch.dtype = torch.float32, n: int = 6, k: int = 4, m: int = 3
                   ) -> dict[str, Any]:
    return {"z": 1.5 * torch.randn(n, m, dtype=dtype), "means": torch.randn(k, m, dtype=dtype),
            "logvars": torch.empty(k, m, dtype=dtype).uniform_(-1.0, 1.0),
            "logits": torch.randn(k, dtype=dtype) + 1.5}


def far_mixture_inputs() -> dict[str, Any]:
    inputs = mixture_inputs()
    inputs["z"] = inputs["z"] + 40.0
    inputs["logvars"] = inputs["logvars"] - 1.0
    return inputs


def probe_mixture(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return _detach(ns["log_mixture_density"](inputs["z"], inputs["means"], inputs["logvars"],
                                             inputs["logits"]))


def _expected_mixture(inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    tp = _trusted()
    args = [inputs[k].to(F64) for k in ("z", "means", "logvars", "logits")]
    dtype = inputs["z"].dtype
    expected = tp.mixture_log_density(*args[:3], torch.log_softmax(args[3], -1)).to(dtype)
    hints = {k: v.to(dtype) for k, v in tp.mixture_bug_values(*args).items()}
    return expected, hints


def judge_mixture(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    expect_tensor(j.got, "log_mixture_density(z, means, logvars, logits)", shape=(n,),
                  dtype=j.inputs["z"].dtype, device=j.device)
    expected, hints = _expected_mixture(j.inputs)
    expect_close(j.got, expected, "log sum_k pi_k N(z; mu_k, diag exp(logvar_k))",
                 reveal=not j.hidden, hints=hints)


def judge_mixture_far(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    got = expect_tensor(j.got, "log_mixture_density at distant z", shape=(n,),
                        dtype=j.inputs["z"].dtype, device=j.device)
    if bool(torch.isneginf(got).any()):
        raise CheckFailed("log_mixture_density is -inf at points 40 standard deviations from "
                          "every component: exp(log N) underflows to 0 there (a naive "
                          "log(sum(exp(...))) / log(mean(exp(...)))). Use torch.logsumexp, "
                          "or MixtureSameFamily, which computes it stably.")
    expect_finite(got, "log_mixture_density at distant z")
    expected, hints = _expected_mixture(j.inputs)
    expect_close(got, expected, "log p(z) far from every component", reveal=True, hints=hints)


def judge_mixture_reference(j: Judgement) -> None:
    n = j.inputs["z"].shape[0]
    expect_tensor(j.got, "log_mixture_density(z, means, logvars, logits)", shape=(n,),
                  dtype=F64, device=j.device)
    _, hints = _expected_mixture(j.inputs)
    expect_close(j.got, j.ref, "log_mixture_density in float64", reveal=False, hints=hints)


# ------------------------------------------------------------------------ MoGPrior


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


def mog_inputs(dtype: torch.dtype = torch.float32, m: int = 3, k: int = 4) -> dict[str, Any]:
    centres = torch.tensor([[-3.0] * m, [3.0] * m], dtype=dtype)
    labels = (torch.rand(512) < 0.75).long()
    data = centres[labels] + torch.randn(512, m, dtype=dtype) * torch.tensor(
        [0.5, 1.5], dtype=dtype)[labels, None]
    return {"M": m, "K": k, "z": 2.0 * torch.randn(8, m, dtype=dtype), "data": data,
            "dtype": str(dtype).replace("torch.", "")}


SAMPLE_N = 4000
FIT_STEPS = 150


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


def expect_mixture(got: Any, what: str, m: int, k: int, device: str,
                   dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The decoded MixtureSameFamily parts, validated: probs [K] summing to 1, means and
    stds [K, M], stds > 0."""
    info = got.get("dist") if isinstance(got, dict) else got
    if not isinstance(info, DistributionInfo):
        raise CheckFailed(f"{what} should return a torch.distributions object, but it returned "
                          f"{describe(info)}.")
    if info.type_name == "Independent" and info.base is not None and \
            info.base.type_name == "MixtureSameFamily":
        raise CheckFailed(f"{what} is Independent(MixtureSameFamily(...)): a per-dimension "
                          "mixture, i.e. a product of M one-dimensional mixtures (K^M modes). "
                          "Make each component a full M-dimensional Gaussian, "
                          "Independent(Normal(means [K, M], stds), 1), and mix those: "
                          "MixtureSameFamily(Categorical(logits [K]), components).")
    if info.type_name != "MixtureSameFamily" and not got.get("is_mixture"):
        raise CheckFailed(f"{what} should be a td.MixtureSameFamily, not {info.type_name}.")
    if tuple(info.event_shape) != (m,) or tuple(info.batch_shape) != ():
        raise CheckFailed(f"{what} has batch_shape {list(info.batch_shape)} and event_shape "
                          f"{list(info.event_shape)}; expected [] and [{m}]: the components "
                          "must be Independent(Normal(...), 1) with batch [K], event [M].")
    probs = expect_tensor(got.get("probs"), "the mixture weights", shape=(k,), dtype=dtype,
                          device=device)
    means = expect_tensor(got.get("means"), "the component means", shape=(k, m), dtype=dtype)
    stds = expect_tensor(got.get("stds"), "the component standard deviations", shape=(k, m),
                         dtype=dtype)
    for value, name in ((probs, "weights"), (means, "means"), (stds, "standard deviations")):
        expect_finite(value, f"the mixture's {name}")
    if not bool((stds > 0).all()):
        raise CheckFailed("some component standard deviations are not positive: use "
                          "std = exp(logvar / 2).")
    return {"probs": probs, "means": means, "stds": stds}


def _mixture_log_prob_and_moments(parts: dict[str, torch.Tensor], z: torch.Tensor
                                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    tp = _trusted()
    probs, means, stds = (parts[k].to(F64) for k in ("probs", "means", "stds"))
    log_prob = tp.mixture_log_density(z.to(F64), means, 2 * stds.log(), probs.log())
    return (log_prob, *_moments(parts))


def judge_mixture_samples(samples: Any, mean: torch.Tensor, var: torch.Tensor, m: int,
                          what: str) -> None:
    """Sample mean and variance per dimension agree with the mixture's (z-tests)."""
    x = expect_tensor(samples, f"{what}.sample(({SAMPLE_N},))", shape=(SAMPLE_N, m))
    x = x.to(F64)
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * m))
    z_mean = ((x.mean(0) - mean).abs() / (var / SAMPLE_N).sqrt()).max()
    fourth = ((x - mean) ** 4).mean(0)
    se_var = ((fourth - var**2).clamp_min(1e-12) / SAMPLE_N).sqrt()
    z_var = ((x.var(0) - var).abs() / se_var).max()
    if float(z_mean) <= limit and float(z_var) <= limit:
        return
    std_normal = float(((x.mean(0)).abs() / (1 / SAMPLE_N) ** 0.5).max()) <= limit and float(
        ((x.var(0) - 1).abs() / (2 / SAMPLE_N) ** 0.5).max()) <= limit
    hint = (" They look like N(0, I) samples: sample from the mixture itself "
            "(MixtureSameFamily.sample picks a component, then draws from it).") if std_normal \
        else ""
    raise CheckFailed(f"samples of {what} do not follow the mixture: their mean/variance are "
                      f"{max(float(z_mean), float(z_var)):.1f} standard errors from the "
                      f"mixture's (threshold {limit:.1f}, false-failure rate "
                      f"{FALSE_FAILURE_RATE:g}).{hint}")


def _mog_parts(j: Judgement) -> dict[str, torch.Tensor]:
    """The MoG prior's validated parts; its weights sum to 1."""
    m, k, z = j.inputs["M"], j.inputs["K"], j.inputs["z"]
    parts = expect_mixture(j.got, f"MoGPrior({m}, {k})()", m, k, j.device, z.dtype)
    if abs(float(parts["probs"].sum()) - 1) > 1e-4 or bool((parts["probs"] < 0).any()):
        raise CheckFailed("the mixture weights do not sum to 1: use "
                          "td.Categorical(logits=...) (or softmax the logits).")
    return parts


def _moments(parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and per-dimension variance of a mixture from its weights, means and stds."""
    probs, means, stds = (parts[k].to(F64) for k in ("probs", "means", "stds"))
    mean = probs @ means
    return mean, probs @ (stds**2 + means**2) - mean**2


def judge_mog(j: Judgement) -> None:
    m, k, z = j.inputs["M"], j.inputs["K"], j.inputs["z"]
    parts = _mog_parts(j)
    log_prob, mean, var = _mixture_log_prob_and_moments(parts, z)
    expect_close(j.got.get("log_prob"), log_prob.to(z.dtype),
                 "log_prob(z) of your mixture (against the density of its own weights, means "
                 "and standard deviations)", reveal=True)
    judge_mixture_samples(j.got.get("sample"), mean, var, m, f"MoGPrior({m}, {k})()")


def judge_mog_structure(j: Judgement) -> None:
    """A MixtureSameFamily over R^M whose samples have its own weights' mean and variance."""
    m, k = j.inputs["M"], j.inputs["K"]
    mean, var = _moments(_mog_parts(j))
    judge_mixture_samples(j.got.get("sample"), mean, var, m, f"MoGPrior({m}, {k})()")


def _mog_learned(j: Judgement) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The MoG prior's parts before and after Adam; each kind of parameter must have moved."""
    got = j.got if isinstance(j.got, dict) else {}
    m, k = j.inputs["M"], j.inputs["K"]
    if got.get("n_params") == 0:
        raise CheckFailed("MoGPrior has no parameters: register the logits, means and "
                          "log-variances as nn.Parameter so the optimiser can learn them.")
    before = expect_mixture({"dist": DistributionInfo("MixtureSameFamily", (), (m,)),
                             **(got.get("before") or {})}, "MoGPrior()", m, k, j.device)
    after = expect_mixture({"dist": DistributionInfo("MixtureSameFamily", (), (m,)),
                            **(got.get("after") or {})}, "MoGPrior() after training", m, k,
                           j.device)
    for key, name in (("means", "means"), ("stds", "log-variances"),
                      ("probs", "mixture logits")):
        if float((after[key] - before[key]).abs().max()) < 1e-4:
            if key == "probs" and _identical_components(before):
                raise CheckFailed(
                    f"after {FIT_STEPS} Adam steps on prior.parameters() the mixture weights "
                    "have not changed, and every component starts identical (equal means and "
                    "variances): identical components get identical gradients, so the logits' "
                    "gradient is exactly zero and the components never separate. Initialise "
                    "the means apart, e.g. torch.randn(K, M).")
            raise CheckFailed(f"after {FIT_STEPS} Adam steps on prior.parameters() the "
                              f"component {name} have not changed: they are not learnable "
                              "(make them nn.Parameter, and build the distribution from them "
                              "in forward(), not once in __init__).")
    return before, after


def _identical_components(parts: dict[str, torch.Tensor]) -> bool:
    """Whether all K components have the same mean and standard deviations."""
    return all(float((parts[key] - parts[key][:1]).abs().max()) < 1e-6
               for key in ("means", "stds"))


def judge_mog_learnable(j: Judgement) -> None:
    _mog_learned(j)


def judge_mog_fit(j: Judgement) -> None:
    m, k = j.inputs["M"], j.inputs["K"]
    before, after = _mog_learned(j)
    tp = _trusted()
    with torch.random.fork_rng():
        torch.manual_seed(7)
        held_out = mog_inputs(F64, m, k)["data"]
    ll = {}
    for name, parts in (("before", before), ("after", after)):
        p = {key: v.to(F64) for key, v in parts.items()}
        ll[name] = float(tp.mixture_log_density(held_out, p["means"], 2 * p["stds"].log(),
                                                p["probs"].log()).mean())
    if ll["after"] <= ll["before"] + 1.0:
        raise CheckFailed(f"maximum-likelihood training of MoGPrior did not improve the "
                          f"held-out log-likelihood ({ll['before']:.2f} -> {ll['after']:.2f} "
                          "nats per point).")


def probe_mog_dtype(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    prior = ns["MoGPrior"](2, 3).to(ctx.device, F64)
    return _detach(prior().log_prob(torch.zeros(4, 2, dtype=F64, device=ctx.device)))


def judge_mog_dtype(j: Judgement) -> None:
    got = expect_tensor(j.got, "MoGPrior(2, 3).double()().log_prob(z)", shape=(4,),
                        device=j.device)
    if got.dtype != F64:
        raise CheckFailed(f"after prior.to(torch.float64), log_prob is {got.dtype}: create the "
                          "parameters in __init__ as nn.Parameter (or buffers) so that .to() "
                          "moves them, and build tensors in forward() from them.")


# ----------------------------------------------------------------------- VampPrior


class _Recorder(nn.Module):
    """Wraps the notebook's encoder and records every input it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> Any:
        self.seen.append(x.detach().clone())
        return self.inner(x)


def vamp_inputs(dtype: torch.dtype = torch.float32, m: int = 2, k: int = 5) -> dict[str, Any]:
    W = 0.05 * torch.randn(2 * m, D, dtype=dtype)
    b = torch.cat([torch.full((m,), 3.0), torch.full((m,), -2.0)]).to(dtype)
    return {"W": W, "b": b, "K": k, "M": m,
            "pseudo_init": torch.empty(k, *IMG, dtype=dtype).uniform_(0.05, 0.95),
            "z": 3.0 + torch.randn(6, m, dtype=dtype),
            "z_far": torch.full((16, m), -4.0, dtype=dtype)}


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


def _linear_components(inputs: dict[str, Any], u: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    h = u.reshape(u.shape[0], -1).to(F64) @ inputs["W"].to(F64).T + inputs["b"].to(F64)
    return torch.chunk(h, 2, dim=-1)


def _seen_pseudo_inputs(value: Any, inputs: dict[str, Any], what: str) -> torch.Tensor:
    if value is None:
        raise CheckFailed("VampPrior never called the encoder it was given: forward() must run "
                          "that same (shared) encoder module on the pseudo-inputs, not a copy "
                          "(copy.deepcopy) or a new encoder.")
    k = inputs["K"]
    u = expect_tensor(value, what)
    if u.numel() != k * D or u.shape[0] != k:
        raise CheckFailed(f"the encoder was called on a tensor of shape {list(u.shape)}; "
                          f"expected the K = {k} pseudo-inputs, shape [{k}, 28, 28].")
    if bool((u < 0).any()) or bool((u > 1).any()):
        raise CheckFailed(f"the pseudo-inputs are outside [0, 1] (range {float(u.min()):.3g} "
                          f"to {float(u.max()):.3g}): keep them images, e.g. u = "
                          "sigmoid(raw) or hardtanh(raw, 0, 1).")
    return u


def _vamp_parts(j: Judgement) -> dict[str, torch.Tensor]:
    """The VampPrior's validated parts: a uniform mixture of the encoder's Gaussians at the
    pseudo-inputs it was called on, which start at pseudo_init."""
    m, k = j.inputs["M"], j.inputs["K"]
    got = j.got if isinstance(j.got, dict) else {}
    u = _seen_pseudo_inputs(got.get("seen"), j.inputs, "the pseudo-inputs")
    init = j.inputs["pseudo_init"]
    if float((u.reshape(init.shape).to(F64) - init.to(F64)).abs().max()) > 2e-3:
        raise CheckFailed("the pseudo-inputs at initialisation differ from pseudo_init: "
                          "initialise them so that the images the encoder sees start at "
                          "pseudo_init (e.g. raw = logit(pseudo_init) for u = sigmoid(raw)).")
    parts = expect_mixture(got, f"VampPrior({m}, {k}, encoder, pseudo_init)()", m, k,
                           j.device, init.dtype)
    uniform = torch.full((k,), 1.0 / k, dtype=F64)
    if float((parts["probs"].to(F64) - uniform).abs().max()) > 1e-5:
        raise CheckFailed("the VampPrior's mixture weights are not uniform: it is "
                          "(1/K) sum_k q(z | u_k), so use equal logits.")
    mean, logvar = _linear_components(j.inputs, u)
    tol = 1e-4 if init.dtype != F64 else 1e-7
    expect_close(parts["means"].to(F64), mean, "the component means (encoder means at the "
                 "pseudo-inputs)", reveal=not j.hidden, rtol=tol, atol=tol)
    expect_close(parts["stds"].to(F64), torch.exp(0.5 * logvar), "the component standard "
                 "deviations (encoder stds at the pseudo-inputs)", reveal=not j.hidden,
                 rtol=tol, atol=tol)
    return parts


def judge_vamp_structure(j: Judgement) -> None:
    """Components are the shared encoder's Gaussians at the pseudo-inputs, uniform weights,
    samples with the mixture's mean and variance."""
    mean, var = _moments(_vamp_parts(j))
    judge_mixture_samples(j.got.get("sample"), mean, var, j.inputs["M"], "VampPrior()")


def judge_vamp(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    init = j.inputs["pseudo_init"]
    parts = _vamp_parts(j)
    log_prob, mix_mean, var = _mixture_log_prob_and_moments(parts, j.inputs["z"])
    expect_close(got.get("log_prob"), log_prob.to(init.dtype), "log_prob(z) of the VampPrior",
                 reveal=not j.hidden)
    if j.hidden:
        expect_close(got.get("log_prob"), j.ref["log_prob"], "log_prob(z) of the VampPrior",
                     reveal=False, rtol=1e-5, atol=1e-6)
    judge_mixture_samples(got.get("sample"), mix_mean, var, j.inputs["M"], "VampPrior()")


def judge_vamp_learning(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    if not got.get("calls"):
        _seen_pseudo_inputs(None, j.inputs, "")
    grad = got.get("encoder_grad")
    if not isinstance(grad, torch.Tensor) or not bool((grad != 0).any()):
        raise CheckFailed("no gradient reaches the encoder through the VampPrior: the encoder "
                          "is detached (torch.no_grad(), .detach() or .item() on its output). "
                          "The prior's log p(z) must train the shared encoder and the "
                          "pseudo-inputs.")
    shift = got.get("shift")
    if not isinstance(shift, torch.Tensor) or float((shift - 1.0).abs().max()) > 1e-3:
        raise CheckFailed("changing the encoder's weights did not change the VampPrior's "
                          "components: it uses a separate copy of the encoder (or components "
                          "computed once in __init__). Run the shared encoder in forward().")
    start = _seen_pseudo_inputs(got.get("start"), j.inputs, "the pseudo-inputs")
    end = _seen_pseudo_inputs(got.get("end"), j.inputs, "the pseudo-inputs after 20 Adam steps")
    if float((end.to(F64) - start.to(F64)).abs().max()) < 1e-4:
        raise CheckFailed("after 20 Adam steps on the VampPrior's parameters the pseudo-inputs "
                          "have not moved: they are frozen (store them as an nn.Parameter, not "
                          "a buffer or a tensor without requires_grad, and do not detach "
                          "them).")


# ---------------------------------------------------------------------- elbo_mc_kl
ELBO_N = 4000


def elbo_inputs(dtype: torch.dtype = torch.float32, mean: tuple[float, float] = (1.0, -1.5),
                logvar: tuple[float, float] = (-1.5, -1.0)) -> dict[str, Any]:
    """One image x (replicated), a fixed q(z|x), a linear decoder and a 3-component prior."""
    return {"W": 0.1 * torch.randn(D, 2, dtype=dtype), "c": torch.randn(D, dtype=dtype),
            "x": torch.bernoulli(torch.full(IMG, 0.3)).to(dtype),
            "q_mean": torch.tensor(mean, dtype=dtype),
            "q_logvar": torch.tensor(logvar, dtype=dtype),
            "p_logits": torch.tensor([0.5, 0.0, -0.5], dtype=dtype),
            "p_means": torch.tensor([[3.0, -3.5], [-2.0, 3.0], [1.0, 1.0]], dtype=dtype),
            "p_logvars": torch.tensor([[-1.0, 0.0], [0.0, -0.5], [-0.5, -0.5]], dtype=dtype)}


class _Holder(nn.Module):
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
    model = _Holder(encoder, LinearDecoder(inputs["W"], inputs["c"]), prior).to(ctx.device)
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


def exact_elbo_terms(inputs: dict[str, Any], mean: torch.Tensor | None = None,
                     logvar: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """E_q[log p(x|z)], E_q[log p(z)], the entropy of q and KL(q || N(0, I)) by quadrature."""
    from autograder.trusted.linear_bernoulli import bernoulli_log_prob, grid_2d, linear_logits

    tp = _trusted()
    W, c, x = (inputs[k].to(F64) for k in ("W", "c", "x"))
    mean = inputs["q_mean"].to(F64) if mean is None else mean
    logvar = inputs["q_logvar"].to(F64) if logvar is None else logvar
    z, _, w = grid_2d(mean, torch.exp(0.5 * logvar))
    rec = (w * bernoulli_log_prob(x, linear_logits(z, W, c))).sum()
    log_pz = tp.mixture_log_density(z, inputs["p_means"].to(F64), inputs["p_logvars"].to(F64),
                                    torch.log_softmax(inputs["p_logits"].to(F64), -1))
    prior = (w * log_pz).sum()
    entropy = 0.5 * (logvar + 1 + math.log(2 * math.pi)).sum()
    kl_std = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum()
    return {"rec": rec, "prior": prior, "entropy": entropy, "kl_std": kl_std}


def _expect_no_kl_error(got: dict[str, Any]) -> None:
    if "kl_error" in got:
        raise CheckFailed("td.kl_divergence(q, prior) has no closed form when the prior is a "
                          "mixture (torch raised NotImplementedError): estimate the KL by "
                          "Monte Carlo, elbo = log p(x|z) + log p(z) - log q(z|x) at the same "
                          "reparameterised z.")


def _elbo_values(j: Judgement) -> torch.Tensor:
    """The ELBO draws, one per example ([ELBO_N], the inputs' dtype, finite)."""
    got = j.got if isinstance(j.got, dict) else {}
    _expect_no_kl_error(got)
    value = got.get("elbo")
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        raise CheckFailed(f"elbo_mc_kl returned one number: it must return one ELBO per "
                          f"example, shape [B] = [{ELBO_N}] (no mean over the batch).")
    values = expect_tensor(value, "elbo_mc_kl(model, x)", shape=(ELBO_N,),
                           dtype=j.inputs["W"].dtype, device=j.device)
    expect_finite(values, "elbo_mc_kl(model, x)")
    return values


def judge_elbo(j: Judgement) -> None:
    values = _elbo_values(j)
    t = {k: float(v) for k, v in exact_elbo_terms(j.inputs).items()}
    expected = t["rec"] + t["prior"] + t["entropy"]
    mean, se, z = z_statistic(values, expected)
    limit = normal_threshold()
    if z <= limit:
        return
    hints = {
        "an analytic td.kl_divergence against the wrong prior, N(0, I): the model's prior is "
        "a mixture; use the Monte Carlo estimate log p(z) - log q(z|x) with model.prior()":
            t["rec"] - t["kl_std"],
        "the KL term has the wrong sign: elbo = log p(x|z) + log p(z) - log q(z|x)":
            t["rec"] - t["prior"] - t["entropy"],
        "log p(z) is missing": t["rec"] + t["entropy"],
        "log q(z|x) is missing (it must be subtracted)": t["rec"] + t["prior"],
    }
    named = [text for text, v in hints.items()
             if abs(mean - v) <= limit * (se + 1e-5 * abs(v) + 1e-6)]
    if se == 0.0:
        named.append("every draw gave the same value: z must be a reparameterised sample "
                     "z = q.rsample(), not q.mean")
    message = (f"the average of {ELBO_N} draws of elbo_mc_kl is {mean:.3f} ± {se:.3f}, but the "
               f"exact ELBO under the mixture prior is {expected:.3f} (z = {z:.1f} standard "
               f"errors; threshold {limit:.1f} at false-failure rate {FALSE_FAILURE_RATE:g}).")
    if named:
        message += f" Likely cause: {named[0]}."
    raise CheckFailed(message)


def expected_elbo_grad(inputs: dict[str, Any]) -> torch.Tensor:
    """d ELBO / d [q_mean, q_logvar], exactly (autograd through the quadrature)."""
    mean = inputs["q_mean"].to(F64).clone().requires_grad_(True)
    logvar = inputs["q_logvar"].to(F64).clone().requires_grad_(True)
    t = exact_elbo_terms(inputs, mean, logvar)
    (t["rec"] + t["prior"] + t["entropy"]).backward()
    return torch.cat([mean.grad, logvar.grad])


def judge_elbo_grad(j: Judgement) -> None:
    _judge_elbo_grads(j, expected_elbo_grad(j.inputs), "the exact ELBO's gradient")


def _judge_elbo_grads(j: Judgement, expected: torch.Tensor, what: str) -> None:
    """Gradients reach the prior and the encoder; their mean over the rows is ``expected``."""
    got = j.got if isinstance(j.got, dict) else {}
    _expect_no_kl_error(got)
    prior_grads = got.get("prior_grads") or []
    if not any(isinstance(g, torch.Tensor) and bool((g != 0).any()) for g in prior_grads):
        raise CheckFailed("the prior's parameters receive no gradient from elbo_mc_kl: "
                          "evaluate log p(z) with model.prior() (a learned prior is trained by "
                          "the ELBO), not a fixed N(0, I) or a detached copy.")
    grad = got.get("encoder_grad")
    if not isinstance(grad, torch.Tensor) or not bool((grad[:, :2] != 0).any()):
        raise CheckFailed("no gradient reaches the encoder's mean: z must be drawn with "
                          "q.rsample() (reparameterised), not q.sample().")
    g = expect_tensor(grad, "the encoder's gradient", shape=(ELBO_N, 4)).to(F64)
    mean, se = g.mean(0), g.std(0) / math.sqrt(ELBO_N)
    limit = normal_threshold(FALSE_FAILURE_RATE / 4)
    z = (mean - expected).abs() / (se + 1e-6)
    if bool((z <= limit).all()):
        return
    raise CheckFailed(f"the average gradient of elbo_mc_kl with respect to q's [mean, logvar] "
                      f"is {[round(v, 3) for v in mean.tolist()]}, expected {what} "
                      f"{[round(v, 3) for v in expected.tolist()]} (max z = "
                      f"{float(z.max()):.1f}, threshold {limit:.1f}): use one z = q.rsample() "
                      "for all three terms.")


# --------------------------------------------------- aggregate_posterior_log_density


def aggregate_inputs(dtype: torch.dtype = torch.float32, n_z: int = 7, n: int = 20, m: int = 3,
                     shift: float = 0.0) -> dict[str, Any]:
    return {"z": 2.0 * torch.randn(n_z, m, dtype=dtype) + shift,
            "q_means": torch.randn(n, m, dtype=dtype),
            "q_logvars": torch.empty(n, m, dtype=dtype).uniform_(-3.0, 0.0)}


BIG_N = 10_000
BIG_M = 8
BIG_STRIDE = 97


def big_aggregate_inputs() -> dict[str, Any]:
    return aggregate_inputs(n_z=BIG_N, n=BIG_N, m=BIG_M)


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


def _aggregate_expected(inputs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    tp = _trusted()
    z, mu, lv = (inputs[k].to(F64) for k in ("z", "q_means", "q_logvars"))
    dtype = inputs["z"].dtype
    return (tp.aggregate_log_density(z, mu, lv).to(dtype),
            {k: v.to(dtype) for k, v in tp.aggregate_bug_values(z, mu, lv).items()})


def judge_aggregate(j: Judgement) -> None:
    n_z = j.inputs["z"].shape[0]
    got = expect_tensor(j.got, "aggregate_posterior_log_density(z, q_means, q_logvars)",
                        shape=(n_z,), dtype=j.inputs["z"].dtype, device=j.device)
    if bool(torch.isneginf(got).any()):
        raise CheckFailed("the aggregate log-density is -inf at points far from every encoded "
                          "point: log(mean(exp(log N))) underflows. Use torch.logsumexp over "
                          "the n data points, minus log n.")
    expected, hints = _aggregate_expected(j.inputs)
    if j.hidden:
        expect_close(got, j.ref, "the aggregate posterior's log-density", reveal=False,
                     hints=hints)
    else:
        expect_close(got, expected, "log q(z) = log (1/n) sum_i N(z; mu_i, sigma_i^2)",
                     reveal=True, hints=hints)


def judge_aggregate_big(j: Judgement) -> None:
    got = j.got if isinstance(j.got, dict) else {}
    if got.get("oom"):
        raise CheckFailed(f"ran out of memory for N = n = {BIG_N} in M = {BIG_M} dimensions: "
                          "the full [N, n, M] tensor of log-densities does not fit. Process z "
                          "in chunks of a few hundred rows and concatenate the results.")
    if "value" in got:
        expect_tensor(got["value"], "aggregate_posterior_log_density", shape=(BIG_N,))
    tp = _trusted()
    rows = slice(0, BIG_N, BIG_STRIDE)
    z = j.inputs["z"][rows].to(F64)
    expected = tp.aggregate_log_density(z, j.inputs["q_means"].to(F64),
                                        j.inputs["q_logvars"].to(F64)).float()
    hints = {k: v.float() for k, v in tp.aggregate_bug_values(
        z, j.inputs["q_means"].to(F64), j.inputs["q_logvars"].to(F64)).items()}
    expect_close(got.get("every"), expected, f"log q(z) at every {BIG_STRIDE}th of {BIG_N} "
                 "points", reveal=True, hints=hints)


# --------------------------------------------------------------------- hole_fraction
HOLE_N = 20_000
EXACT_N = 100_000


def hole_inputs(dtype: torch.dtype = torch.float32, ratio: float = 0.1, mixture: bool = False
                ) -> dict[str, Any]:
    centres = torch.tensor([[-1.5, 0.0], [1.5, 0.5], [0.0, -1.5]], dtype=dtype)
    labels = torch.randint(0, 3, (300,))
    inputs: dict[str, Any] = {
        "q_means": centres[labels] + 0.3 * torch.randn(300, 2, dtype=dtype),
        "q_logvars": torch.full((300, 2), -3.0, dtype=dtype), "n": HOLE_N, "ratio": ratio,
        "p_logits": torch.zeros(0, dtype=dtype)}
    if mixture:
        inputs.update(p_logits=torch.tensor([0.0, 0.5], dtype=dtype),
                      p_means=torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=dtype),
                      p_logvars=torch.tensor([[-1.0, -1.0], [0.0, 0.0]], dtype=dtype))
    return inputs


def _hole_prior(inputs: dict[str, Any]) -> td.Distribution:
    """The prior handed to hole_fraction: N(0, I), or a two-component mixture."""
    if inputs["p_logits"].numel() == 0:
        zeros = torch.zeros(2, dtype=inputs["q_means"].dtype, device=inputs["q_means"].device)
        return td.Independent(td.Normal(zeros, torch.ones_like(zeros)), 1)
    comp = td.Independent(td.Normal(inputs["p_means"], torch.exp(0.5 * inputs["p_logvars"])),
                          1)
    return td.MixtureSameFamily(td.Categorical(logits=inputs["p_logits"]), comp)


HOLE_CHECK_POINTS = 16


def probe_holes(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """hole_fraction's value; with it, when the notebook's aggregate_posterior_log_density is
    loaded (hole_fraction uses it), its values at the first encoded means (None if it fails)."""
    value = ns["hole_fraction"](_hole_prior(inputs), inputs["q_means"], inputs["q_logvars"],
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


def trusted_aggregate(inputs: dict[str, Any]) -> torch.Tensor:
    """log q(z) of the encoded points' aggregate posterior at the first encoded means, by the
    grader's own density (grader-only code)."""
    tp = _trusted()
    return tp.aggregate_log_density(inputs["q_means"][:HOLE_CHECK_POINTS].to(F64),
                                    inputs["q_means"].to(F64), inputs["q_logvars"].to(F64))


def identical_components_aggregate(inputs: dict[str, Any]) -> torch.Tensor:
    """The same when every encoded point has the same Gaussian: the aggregate posterior is
    then that one Gaussian (public: no mixture density needed)."""
    mean, logvar = inputs["q_means"][0].to(F64), inputs["q_logvars"][0].to(F64)
    one = td.Independent(td.Normal(mean, torch.exp(0.5 * logvar)), 1)
    return one.log_prob(inputs["q_means"][:HOLE_CHECK_POINTS].to(F64))


def _aggregate_problem(got: Any, expected: torch.Tensor) -> str | None:
    """What is wrong with aggregate_posterior_log_density as hole_fraction sees it, or None."""
    if not isinstance(got, dict) or "aggregate" not in got:
        return None
    value = got["aggregate"]
    if not isinstance(value, torch.Tensor) or value.shape != expected.shape:
        return "could not be evaluated at the encoded means"
    error = float((value.to(F64) - expected).abs().max())
    if not math.isfinite(error) or error > 1e-3 * (1 + float(expected.abs().max())):
        return (f"gives log q(z) off by up to {error:.3g} at the encoded means (the grader's "
                "own density)")
    return None


def _fail_on_wrong_aggregate(message: str, j: Judgement,
                             expected: Callable[[dict[str, Any]], torch.Tensor]) -> None:
    """CheckFailed with ``message`` and the aggregate density's problem, when it has one: then
    no hint about hole_fraction itself is given. ``expected`` gives the right log q(z)."""
    if not isinstance(j.got, dict) or "aggregate" not in j.got:
        return
    problem = _aggregate_problem(j.got, expected(j.inputs))
    if problem:
        raise CheckFailed(f"{message} aggregate_posterior_log_density, which hole_fraction "
                          f"uses, {problem}: fix it first.")


def _hole_fraction_value(got: Any) -> Any:
    """The fraction hole_fraction returned, a float when it is a one-element tensor."""
    value = got.get("fraction") if isinstance(got, dict) else got
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        raise CheckFailed(f"hole_fraction should return a float, but returned "
                          f"{describe(value)}.")
    return float(value)


def judge_holes(j: Judgement) -> None:
    tp = _trusted()
    got = _hole_fraction_value(j.got)
    if not 0.0 <= got <= 1.0:
        raise CheckFailed(f"hole_fraction returned {got:.4g}, which is not a fraction in "
                          "[0, 1].")
    inputs = {k: v.to(F64) if isinstance(v, torch.Tensor) else v for k, v in j.inputs.items()}
    prior = _hole_prior(inputs)
    fractions = tp.hole_fraction_exact(lambda n: prior.sample(torch.Size([n])), prior.log_prob,
                                       inputs["q_means"], inputs["q_logvars"], inputs["ratio"],
                                       EXACT_N)
    p = fractions["right"]
    n = j.inputs["n"]

    def se(q: float) -> float:
        return math.sqrt(max(q * (1 - q), 1e-4) * (1 / n + 1 / EXACT_N))

    limit = normal_threshold()
    if abs(got - p) <= limit * se(p):
        return
    message = (f"hole_fraction = {got:.4f}, but the fraction of prior samples with q(z) < "
               f"{inputs['ratio']:g} p(z) is {p:.4f} ± {se(p):.4f} (threshold {limit:.1f} "
               f"standard errors, false-failure rate {FALSE_FAILURE_RATE:g}).")
    _fail_on_wrong_aggregate(message, j, trusted_aggregate)
    hints = {
        "greater": "the comparison is reversed: a hole is where q(z) < ratio * p(z)",
        "no_ratio": "the ratio is ignored: compare log q(z) with log p(z) + log(ratio)",
        "inverse_ratio": "the ratio is inverted: the threshold is log p(z) + log(ratio)",
        "missing_log_n": "the aggregate density misses its -log n (q is a mean, not a sum)",
        "from_posterior": "the points were drawn from the aggregate posterior; draw them from "
                          "the prior",
    }
    named = [text for key, text in hints.items()
             if abs(got - fractions[key]) <= limit * se(fractions[key])]
    if len(named) == 1:
        message += f" Likely cause: {named[0]}."
    raise CheckFailed(message)


# -------------------------------------------------------------------------- training
TRAIN_M = 2
TRAIN_H = 256
TRAIN_STEPS = 600
TRAIN_BATCH = 128
TRAIN_SUBSET = 10_000
TEST_SUBSET = 1_000
MOG_K = 10
VAMP_K = 50
ELBO_TOLERANCE = 10.0
TRAINING_RUNS = 2
"""Correct trainings measured against the criterion (docs/grading/training-checks.md)."""
ELBO_FLOOR = -190.0
HOLE_RATIO = 0.1
HOLE_SAMPLES = 20_000


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
    model = _Holder(encoder, ns["BernoulliDecoder"](dec_net), prior).to(device)
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


def _rebuild(result: Any, kind: str) -> tuple[nn.Module, nn.Module]:
    if not isinstance(result, dict):
        raise CheckFailed(f"the {kind} training run returned nothing.")
    if "diverged_at" in result:
        raise CheckFailed(f"training with the {kind} prior diverged: the loss became NaN/inf "
                          f"at step {result['diverged_at']}.")
    encoder, decoder = train_nets()
    try:
        encoder.load_state_dict(result["encoder"])
        decoder.load_state_dict(result["decoder"])
    except Exception as exc:  # noqa: BLE001 - wrong keys or shapes
        raise CheckFailed(f"the trained {kind} networks could not be read back "
                          f"({type(exc).__name__}).") from None
    return encoder.double().eval(), decoder.double().eval()


def _prior_log_prob(result: dict[str, Any], kind: str, encoder: nn.Module) -> Any:
    """The trained prior as (log_prob, sample), rebuilt with trusted code."""
    tp = _trusted()
    gen = torch.Generator().manual_seed(3)
    if kind == "standard":
        return tp.standard_normal_log_prob, lambda n: torch.randn(n, TRAIN_M, generator=gen,
                                                                  dtype=F64)
    if kind == "mog":
        parts = expect_mixture({"dist": DistributionInfo("MixtureSameFamily", (), (TRAIN_M,)),
                                **(result.get("prior") or {})}, "the trained MoGPrior()",
                               TRAIN_M, MOG_K, "cpu")
        probs = parts["probs"].to(F64)
        if abs(float(probs.sum()) - 1) > 1e-4 or bool((probs < 0).any()):
            raise CheckFailed("the trained MoG prior's weights do not sum to 1.")
        log_w, means, logvars = probs.log(), parts["means"].to(F64), 2 * parts["stds"].to(
            F64).log()
    else:
        u = _seen_pseudo_inputs(result.get("pseudo_inputs"), {"K": VAMP_K}, "the pseudo-inputs")
        with torch.no_grad():
            means, logvars = tp.gaussian_head(encoder, u.reshape(VAMP_K, *IMG).to(F64))
        log_w = torch.full((VAMP_K,), -math.log(VAMP_K), dtype=F64)
    return (lambda z: tp.mixture_log_density(z, means, logvars, log_w),
            tp.mixture_sampler(log_w, means, logvars, gen))


def judge_training(j: Judgement) -> None:
    from vaelib.data import load_split

    tp = _trusted()
    got = j.got if isinstance(j.got, dict) else {}
    x = load_split("test", "fixed", root=j.inputs["root"], limit=TEST_SUBSET).binary().to(F64)
    elbos, holes = {}, {}
    for kind in ("standard", "mog", "vamp"):
        result = got.get(kind)
        encoder, decoder = _rebuild(result, kind)
        log_prob, sample = _prior_log_prob(result, kind, encoder)
        gen = torch.Generator().manual_seed(11)
        elbo = tp.test_elbo(encoder, decoder, log_prob, x, generator=gen)
        if not math.isfinite(elbo) or elbo > 0:
            raise CheckFailed(f"the {kind} model's test ELBO is {elbo:.1f}: not a valid log-"
                              "likelihood bound for binary images.")
        elbos[kind] = elbo
        if kind != "standard":
            with torch.no_grad():
                mean, logvar = tp.gaussian_head(encoder, x)
            learned = tp.hole_fraction_exact(sample, log_prob, mean, logvar, HOLE_RATIO,
                                             HOLE_SAMPLES)["right"]
            gen_std = torch.Generator().manual_seed(5)
            standard = tp.hole_fraction_exact(
                lambda n, g=gen_std: torch.randn(n, TRAIN_M, generator=g, dtype=F64),
                tp.standard_normal_log_prob, mean, logvar, HOLE_RATIO, HOLE_SAMPLES)["right"]
            holes[kind] = (learned, standard)
    summary = (f"test ELBO (fixed binarization, {TEST_SUBSET} images): standard "
               f"{elbos['standard']:.1f}, MoG {elbos['mog']:.1f}, Vamp {elbos['vamp']:.1f} "
               "nats")
    if elbos["standard"] < ELBO_FLOOR:
        raise CheckFailed(f"{summary}: even the standard-prior model is below {ELBO_FLOOR:g}, "
                          "so elbo_mc_kl does not train a VAE (check the signs and rsample).")
    for kind, name in (("mog", "MoG"), ("vamp", "VampPrior")):
        if elbos[kind] < elbos["standard"] - ELBO_TOLERANCE:
            raise CheckFailed(f"{summary}: the {name} model is more than {ELBO_TOLERANCE:g} "
                              "nats worse than the standard prior's with the same networks "
                              "and budget; a learned prior should be at least as good.")
        learned, standard = holes[kind]
        if learned >= standard:
            raise CheckFailed(f"{summary}; on the {name} model's encoder, {learned:.1%} of "
                              f"samples of the learned prior fall in holes (q(z) < "
                              f"{HOLE_RATIO:g} p(z)) against {standard:.1%} for N(0, I): the "
                              "learned prior does not follow the aggregate posterior.")


# ----------------------------------------------------------------- public checks
# Students read these checks: they use closed forms of tiny cases, never a reference
# implementation.

FAR_Z = ((0.0, 0.0), (40.0, 0.0), (20.0, 0.0), (-200.0, 0.0))


def _two_far_components(var1: float, w1: float, w2: float) -> torch.Tensor:
    """log(w1 N(z; 0, var1 I) + w2 N(z; (40, 0), I)) in 2-D at the four points FAR_Z: the
    other component is negligible at each (by more than e^-40)."""
    head = math.log(w1) - math.log(2 * math.pi * var1)
    return torch.tensor([head, math.log(w2) - math.log(2 * math.pi), head - 200.0 / var1,
                         head - 20_000.0 / var1], dtype=F64)


def two_component_inputs() -> dict[str, Any]:
    """Components N(0, 4 I) and N((40, 0), I) with weights 1/4 and 3/4, at FAR_Z."""
    return {"z": torch.tensor(FAR_Z), "means": torch.tensor([[0.0, 0.0], [40.0, 0.0]]),
            "logvars": torch.tensor([[math.log(4.0)] * 2, [0.0, 0.0]]),
            "logits": torch.tensor([0.0, math.log(3.0)])}


def _expect_no_underflow(got: torch.Tensor, what: str) -> None:
    if bool(torch.isneginf(got).any()):
        raise CheckFailed(f"{what} is -inf at a point 100 standard deviations from every "
                          "component: exp(log N) underflows to 0 there (a naive "
                          "log(sum(exp(...)))). Use torch.logsumexp (or MixtureSameFamily, "
                          "which computes it stably).")


def judge_mixture_known(j: Judgement) -> None:
    got = expect_tensor(j.got, "log_mixture_density(z, means, logvars, logits)", shape=(4,),
                        dtype=torch.float32, device=j.device)
    _expect_no_underflow(got, "log_mixture_density")
    expect_close(got, _two_far_components(4.0, 0.25, 0.75).float(),
                 "log p(z) for components N(0, 4 I), N((40, 0), I) with weights 1/4, 3/4, at "
                 "z = (0, 0), (40, 0), (20, 0), (-200, 0)", reveal=True, hints={
                     "unnormalised weights: the logits were used as log pi; normalise them "
                     "with log_softmax": _two_far_components(4.0, 1.0, 3.0).float(),
                     "std/log-variance confusion: exp(logvar) was used as the standard "
                     "deviation; std = exp(logvar / 2)":
                         _two_far_components(16.0, 0.25, 0.75).float(),
                     "std/log-variance confusion: exp(logvar / 2) was used as the variance; "
                     "the variance is exp(logvar)": _two_far_components(2.0, 0.25, 0.75).float(),
                 })


def elbo_known_inputs() -> dict[str, Any]:
    """Logits 0 (log p(x|z) = 784 log 1/2 for any z), q = N((1, -1), I) and a mixture prior
    whose two components are both N((1, 1), I)."""
    return {"W": torch.zeros(D, 2), "c": torch.zeros(D),
            "x": torch.bernoulli(torch.full(IMG, 0.3)),
            "q_mean": torch.tensor([1.0, -1.0]), "q_logvar": torch.zeros(2),
            "p_logits": torch.tensor([0.3, -0.2]), "p_means": torch.ones(2, 2),
            "p_logvars": torch.zeros(2, 2)}


def judge_elbo_known(j: Judgement) -> None:
    """E[elbo] = D log 1/2 - KL(N((1, -1), I) || N((1, 1), I)) = -784 log 2 - 2; one draw is
    that plus -(0, -2) . eps, variance 4 (exactly)."""
    values = _elbo_values(j).to(F64)
    rec = -D * math.log(2.0)
    expected = rec - 2.0
    mean, se = float(values.mean()), math.sqrt(4.0 / ELBO_N)
    limit = normal_threshold()
    slack = limit * se + 1e-5 * abs(expected)
    if abs(mean - expected) <= slack:
        return
    # E[log p(z)] = -log 2 pi - (4 + 2) / 2; E[-log q(z|x)] = log 2 pi + 1 (the entropy).
    hints = {
        "an analytic td.kl_divergence against the wrong prior, N(0, I): the model's prior is "
        "a mixture; use the Monte Carlo estimate log p(z) - log q(z|x) with model.prior()":
            rec - 1.0,
        "the KL term has the wrong sign: elbo = log p(x|z) + log p(z) - log q(z|x)": rec + 2.0,
        "log p(z) is missing": rec + math.log(2 * math.pi) + 1.0,
        "log q(z|x) is missing (it must be subtracted)": rec - math.log(2 * math.pi) - 3.0,
    }
    named = [text for text, v in hints.items() if abs(mean - v) <= limit * float(
        values.std()) / math.sqrt(ELBO_N) + 1e-5 * abs(v)]
    raise CheckFailed(f"the average of {ELBO_N} draws of elbo_mc_kl is {mean:.3f}, but with "
                      f"decoder logits 0, q = N((1, -1), I) and a prior whose components are "
                      f"both N((1, 1), I) the ELBO is 784 log(1/2) - 2 = {expected:.3f} "
                      f"(threshold {slack:.3f}, false-failure rate {FALSE_FAILURE_RATE:g})."
                      + (f" Likely cause: {named[0]}." if named else ""))


def judge_elbo_grad_known(j: Judgement) -> None:
    """d E[elbo] / d [mean, logvar] = (-(mean - (1, 1)), (1 - var) / 2) = (0, 2, 0, 0)."""
    _judge_elbo_grads(j, torch.tensor([0.0, 2.0, 0.0, 0.0], dtype=F64), "-d KL(q || p(z)) =")


def aggregate_known_inputs() -> dict[str, Any]:
    """Two encoded points, N(0, 4 I) and N((40, 0), I), at FAR_Z."""
    inputs = two_component_inputs()
    return {"z": inputs["z"], "q_means": inputs["means"], "q_logvars": inputs["logvars"]}


def judge_aggregate_known(j: Judgement) -> None:
    got = expect_tensor(j.got, "aggregate_posterior_log_density(z, q_means, q_logvars)",
                        shape=(4,), dtype=torch.float32, device=j.device)
    _expect_no_underflow(got, "the aggregate log-density")
    expect_close(got, _two_far_components(4.0, 0.5, 0.5).float(),
                 "log q(z) for the posteriors N(0, 4 I) and N((40, 0), I), at z = (0, 0), "
                 "(40, 0), (20, 0), (-200, 0)", reveal=True, hints={
                     "the -log n is missing: q(z) is the MEAN of the n posteriors, log q(z) = "
                     "logsumexp_i log N(z; mu_i, sigma_i^2) - log n":
                         _two_far_components(4.0, 1.0, 1.0).float(),
                     "std/log-variance confusion: exp(logvar) was used as the standard "
                     "deviation; std = exp(logvar / 2)":
                         _two_far_components(16.0, 0.5, 0.5).float(),
                     "std/log-variance confusion: exp(logvar / 2) was used as the variance":
                         _two_far_components(2.0, 0.5, 0.5).float(),
                 })


def holes_known_inputs() -> dict[str, Any]:
    """Prior N(0, I_2); five encoded points, all N(0, I / 4); ratio 0.1."""
    return {"q_means": torch.zeros(5, 2), "q_logvars": torch.full((5, 2), math.log(0.25)),
            "n": HOLE_N, "ratio": 0.1, "p_logits": torch.zeros(0)}


def judge_holes_known(j: Judgement) -> None:
    """q(z) < r p(z) iff |z|^2 > (log 4 - log r) / 1.5, and |z|^2 ~ chi2(2) under the prior:
    the fraction is exp(-(log 4 - log r) / 3) = 40^(-1/3) for r = 0.1."""
    got, n = _hole_fraction_value(j.got), j.inputs["n"]
    expected = 40.0 ** (-1 / 3)
    limit = normal_threshold()
    if abs(got - expected) <= limit * math.sqrt(expected * (1 - expected) / n):
        return
    hints = {
        "the comparison is reversed: a hole is where q(z) < ratio * p(z)": 1 - expected,
        "the ratio is ignored: compare log q(z) with log p(z) + log(ratio)": 4.0 ** (-1 / 3),
        "the ratio is inverted: the threshold is log p(z) + log(ratio)": 1.0,
        "the aggregate density misses its -log n (q is a mean, not a sum)": 200.0 ** (-1 / 3),
        "the points were drawn from the aggregate posterior; draw them from the prior":
            40.0 ** (-4 / 3),
    }
    named = [text for text, v in hints.items()
             if abs(got - v) <= limit * math.sqrt(max(v * (1 - v), 1e-4) / n)]
    message = (f"hole_fraction = {got:.4f}, but for the prior N(0, I) and an aggregate "
               f"posterior N(0, I / 4) the fraction of prior samples with q(z) < 0.1 p(z) is "
               f"40^(-1/3) = {expected:.4f} (threshold {limit:.1f} standard errors, "
               f"false-failure rate {FALSE_FAILURE_RATE:g}).")
    _fail_on_wrong_aggregate(message, j, identical_components_aggregate)
    raise CheckFailed(message + (f" Likely cause: {named[0]}." if len(named) == 1 else ""))


def smoke_inputs() -> dict[str, Any]:
    """32 binary images whose pixels are on with probabilities between 0.1 and 0.9."""
    freq = torch.empty(IMG).uniform_(0.1, 0.9)
    return {"x": torch.bernoulli(freq.expand(32, *IMG)),
            "pseudo_init": torch.rand(4, *IMG)}


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
        model = _Holder(encoder, ns["BernoulliDecoder"](dec_net), prior).to(ctx.device)
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


def judge_training_smoke(j: Judgement) -> None:
    """The loss's gradient reaches every part, and on the decoder's output bias it is exactly
    that of the negative Bernoulli log-likelihood, mean(sigmoid(logits) - x): descending it
    moves each pixel's probability towards the data.

    False-failure rate: deterministic up to float32 rounding (the identity holds whatever the
    prior, its initialisation and the draws); measured 0 failures, cosine >= 0.9999, over 100
    seeds of each correct prior in bench/false_failure_rates.py (MoG with randn, U(-2, 2) and
    zeros-plus-noise means, Independent(Normal) and MultivariateNormal components; VampPrior
    with sigmoid and clamp(raw, 0, 1), i.e. hardtanh, pseudo-inputs).
    """
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    for kind, name in (("mog", "MoGPrior"), ("vamp", "VampPrior")):
        run = got.get(kind) if isinstance(got.get(kind), dict) else {}
        if run.get("error"):
            raise CheckFailed(f"with the {name} the loss -elbo_mc_kl(model, x).mean() is NaN/inf "
                              "at initialisation, on a tiny batch.")
        missing = [part for part, ok in (run.get("reached") or {}).items() if not ok]
        if missing or not run.get("reached"):
            raise CheckFailed(f"with the {name}, the ELBO passes no gradient to the "
                              f"{', '.join(missing) or 'model'}: z = q.rsample(), and log p(z) "
                              "from model.prior().")
        cosine = bias_gradient_cosine(x, run.get("logits"), run.get("bias_grad"))
        if cosine is None:
            raise CheckFailed(f"with the {name}, elbo_mc_kl(model, x) did not run the decoder "
                              "on the batch in the graph: log p(x|z) = model.decoder(z)"
                              ".log_prob(x).")
        if cosine < BIAS_COSINE_MIN:
            cause = (" It points the opposite way: elbo_mc_kl returns the negative ELBO, so "
                     "training would minimise the ELBO; return log p(x|z) + log p(z) - "
                     "log q(z|x).") if cosine < -BIAS_COSINE_MIN else ""
            raise CheckFailed(f"with the {name}, the gradient of -elbo_mc_kl(model, x).mean() on "
                              "the decoder's output bias is not that of the negative Bernoulli "
                              "log-likelihood, mean(sigmoid(logits) - x) (cosine "
                              f"{cosine:.3f}, needed >= {BIAS_COSINE_MIN}): descending it "
                              f"would not fit the decoder to the data.{cause}")


# ------------------------------------------------------------------------- tasks
TASKS = (
    Task("priors.mixture", TOPIC, ("log_mixture_density",), 2.0, (
        Check("log sum_k pi_k N(z; mu_k, diag exp(logvar_k))", probe_mixture, judge_mixture,
              mixture_inputs, hidden=True),
        Check("stable 40 standard deviations from every component", probe_mixture,
              judge_mixture_far, far_mixture_inputs, hidden=True),
        Check("known log-densities of two far-apart components, stable 100 standard "
              "deviations away", probe_mixture, judge_mixture_known, two_component_inputs),
        Check("matches the reference in float64", probe_mixture, judge_mixture_reference,
              lambda: mixture_inputs(F64, n=9, k=5, m=4), hidden=True, seed=3),
    ), timeout_s=180.0, description="log-density of a diagonal Gaussian mixture"),
    Task("priors.mog", TOPIC, ("MoGPrior",), 2.0, (
        Check("a MixtureSameFamily whose log_prob and samples agree with its parameters",
              probe_mog, judge_mog, mog_inputs, hidden=True),
        Check("weights, means and variances are learnable (measured false-failure rate 0/400)",
              probe_mog_fit, judge_mog_fit,
              mog_inputs, hidden=True),
        Check("a MixtureSameFamily over R^M whose samples have its own mean and variance",
              probe_mog, judge_mog_structure, mog_inputs),
        Check("weights, means and variances change under Adam (measured false-failure rate "
              "0/400)", probe_mog_fit,
              judge_mog_learnable, mog_inputs),
        Check("parameters follow .to(float64)", probe_mog_dtype, judge_mog_dtype),
        Check("log_prob and samples agree with its parameters in float64 (M = 5, K = 7)",
              probe_mog, judge_mog, lambda: mog_inputs(F64, m=5, k=7), hidden=True, seed=9),
    ), timeout_s=180.0, description="learnable mixture-of-Gaussians prior"),
    Task("priors.vamp", TOPIC, ("VampPrior",), 3.0, (
        Check("a uniform mixture of the shared encoder's posteriors at the pseudo-inputs; "
              "samples from it", probe_vamp, judge_vamp, vamp_inputs, hidden=True),
        Check("uniform weights, the shared encoder's Gaussians at the pseudo-inputs as "
              "components, samples with the mixture's mean and variance", probe_vamp,
              judge_vamp_structure, vamp_inputs),
        Check("gradients reach the shared encoder and the pseudo-inputs, which move (measured "
              "false-failure rate 0/200)",
              probe_vamp_learning, judge_vamp_learning, vamp_inputs),
        Check("matches the reference in float64", probe_vamp, judge_vamp,
              lambda: vamp_inputs(F64, m=3, k=7), hidden=True, seed=13),
    ), timeout_s=180.0, description="VampPrior: mixture of q(z|u_k) at learned pseudo-inputs"),
    Task("priors.elbo", TOPIC, ("elbo_mc_kl",), 2.0, (
        Check(f"E[elbo] is the exact ELBO under a mixture prior (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probe_elbo, judge_elbo, elbo_inputs, hidden=True),
        Check("gradients reach the encoder (rsample) and the prior", probe_elbo,
              judge_elbo_grad, elbo_inputs, hidden=True),
        Check(f"E[elbo] = log p(x) - 2 for a decoder that ignores z and a prior N((1, 1), I) "
              f"written as a mixture (false-failure rate {FALSE_FAILURE_RATE:g})", probe_elbo,
              judge_elbo_known, elbo_known_inputs),
        Check("gradients reach the encoder (rsample, -d KL known) and the prior", probe_elbo,
              judge_elbo_grad_known, elbo_known_inputs),
        Check("exact in float64 for another posterior", probe_elbo, judge_elbo,
              lambda: elbo_inputs(F64, (-1.0, 0.5), (-2.5, -0.5)), hidden=True, seed=17),
    ), timeout_s=180.0, description="ELBO with a Monte Carlo KL"),
    Task("priors.aggregate", TOPIC, ("aggregate_posterior_log_density",), 2.0, (
        Check("log (1/n) sum_i N(z; mu_i, sigma_i^2)", probe_aggregate, judge_aggregate,
              aggregate_inputs, hidden=True),
        Check("stable far from every encoded point", probe_aggregate, judge_aggregate,
              lambda: aggregate_inputs(shift=30.0), hidden=True),
        Check(f"N = n = {BIG_N} fits in memory (chunked)", probe_aggregate_big,
              judge_aggregate_big, big_aggregate_inputs, hidden=True),
        Check("known log-densities for two far-apart posteriors, stable 100 standard "
              "deviations away", probe_aggregate, judge_aggregate_known,
              aggregate_known_inputs),
        Check("matches the reference in float64", probe_aggregate, judge_aggregate,
              lambda: aggregate_inputs(F64, n_z=11, n=50, m=4), hidden=True, seed=19),
    ), timeout_s=240.0, description="log-density of the aggregate posterior"),
    Task("priors.holes", TOPIC, ("hole_fraction",), 1.0, (
        Check(f"fraction of N(0, I) samples in holes (false-failure rate "
              f"{FALSE_FAILURE_RATE:g})", probe_holes, judge_holes, hole_inputs, hidden=True),
        Check(f"40^(-1/3) of N(0, I) samples in the holes of N(0, I / 4) at ratio 0.1 "
              f"(false-failure rate {FALSE_FAILURE_RATE:g})", probe_holes, judge_holes_known,
              holes_known_inputs),
        Check("fraction for a mixture prior and another ratio", probe_holes, judge_holes,
              lambda: hole_inputs(F64, 0.5, mixture=True), hidden=True, seed=29),
    ), timeout_s=180.0, description="prior mass the aggregate posterior leaves empty"),
    Task("priors.training", TOPIC, ("MoGPrior", "VampPrior", "elbo_mc_kl"), 3.0, (
        Check(f"learned priors train: test ELBO within {ELBO_TOLERANCE:g} nats of the standard "
              f"prior's or better, fewer holes than N(0, I) (measured false-failure rate "
              f"0/{TRAINING_RUNS})", probe_training, judge_training,
              mnist_root_inputs, hidden=True),
        Check("with each learned prior, gradients reach encoder, decoder and prior, and the "
              "decoder's is that of the Bernoulli log-likelihood (fits the data; measured "
              "false-failure rate 0/500, an identity)",
              probe_training_smoke, judge_training_smoke, smoke_inputs),
    ), timeout_s=600.0, description="MoG and Vamp priors train better-fitting VAEs"),
)
