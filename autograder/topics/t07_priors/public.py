"""Judges of topic 07's public checks: closed forms of tiny cases and invariants (a mixture's
own weights, means and standard deviations), no reference, nothing grader-only."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.distributions as td

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import describe, expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.training import BIAS_COSINE_MIN, bias_gradient_cosine
from autograder.payload import DistributionInfo
from autograder.topics.t07_priors.probes import ELBO_N, FIT_STEPS, HOLE_CHECK_POINTS, SAMPLE_N, D

F64 = torch.float64


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


def mog_parts(j: Judgement) -> dict[str, torch.Tensor]:
    """The MoG prior's validated parts; its weights sum to 1."""
    m, k, z = j.inputs["M"], j.inputs["K"], j.inputs["z"]
    parts = expect_mixture(j.got, f"MoGPrior({m}, {k})()", m, k, j.device, z.dtype)
    if abs(float(parts["probs"].sum()) - 1) > 1e-4 or bool((parts["probs"] < 0).any()):
        raise CheckFailed("the mixture weights do not sum to 1: use "
                          "td.Categorical(logits=...) (or softmax the logits).")
    return parts


def mixture_moments(parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and per-dimension variance of a mixture from its weights, means and stds."""
    probs, means, stds = (parts[k].to(F64) for k in ("probs", "means", "stds"))
    mean = probs @ means
    return mean, probs @ (stds**2 + means**2) - mean**2


def judge_mog_structure(j: Judgement) -> None:
    """A MixtureSameFamily over R^M whose samples have its own weights' mean and variance."""
    m, k = j.inputs["M"], j.inputs["K"]
    mean, var = mixture_moments(mog_parts(j))
    judge_mixture_samples(j.got.get("sample"), mean, var, m, f"MoGPrior({m}, {k})()")


def mog_learned(j: Judgement, min_change: float
                ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The MoG prior's parts before and after Adam; each kind of parameter must have moved by
    at least ``min_change`` (largest absolute change)."""
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
        if float((after[key] - before[key]).abs().max()) < min_change:
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


def judge_mog_learnable(j: Judgement, *, min_change: float) -> None:
    mog_learned(j, min_change)


def judge_mog_dtype(j: Judgement) -> None:
    got = expect_tensor(j.got, "MoGPrior(2, 3).double()().log_prob(z)", shape=(4,),
                        device=j.device)
    if got.dtype != F64:
        raise CheckFailed(f"after prior.to(torch.float64), log_prob is {got.dtype}: create the "
                          "parameters in __init__ as nn.Parameter (or buffers) so that .to() "
                          "moves them, and build tensors in forward() from them.")


def _linear_components(inputs: dict[str, Any], u: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    h = u.reshape(u.shape[0], -1).to(F64) @ inputs["W"].to(F64).T + inputs["b"].to(F64)
    return torch.chunk(h, 2, dim=-1)


def seen_pseudo_inputs(value: Any, inputs: dict[str, Any], what: str) -> torch.Tensor:
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


def vamp_parts(j: Judgement, init_atol: float, weight_atol: float) -> dict[str, torch.Tensor]:
    """The VampPrior's validated parts: a uniform mixture (weights within ``weight_atol`` of
    1/K) of the encoder's Gaussians at the pseudo-inputs it was called on, which start within
    ``init_atol`` of pseudo_init."""
    m, k = j.inputs["M"], j.inputs["K"]
    got = j.got if isinstance(j.got, dict) else {}
    u = seen_pseudo_inputs(got.get("seen"), j.inputs, "the pseudo-inputs")
    init = j.inputs["pseudo_init"]
    if float((u.reshape(init.shape).to(F64) - init.to(F64)).abs().max()) > init_atol:
        raise CheckFailed("the pseudo-inputs at initialisation differ from pseudo_init: "
                          "initialise them so that the images the encoder sees start at "
                          "pseudo_init (e.g. raw = logit(pseudo_init) for u = sigmoid(raw)).")
    parts = expect_mixture(got, f"VampPrior({m}, {k}, encoder, pseudo_init)()", m, k,
                           j.device, init.dtype)
    uniform = torch.full((k,), 1.0 / k, dtype=F64)
    if float((parts["probs"].to(F64) - uniform).abs().max()) > weight_atol:
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


def judge_vamp_structure(j: Judgement, *, init_atol: float, weight_atol: float) -> None:
    """Components are the shared encoder's Gaussians at the pseudo-inputs, uniform weights,
    samples with the mixture's mean and variance."""
    mean, var = mixture_moments(vamp_parts(j, init_atol, weight_atol))
    judge_mixture_samples(j.got.get("sample"), mean, var, j.inputs["M"], "VampPrior()")


def judge_vamp_learning(j: Judgement, *, shift_atol: float, min_move: float) -> None:
    """Gradients reach the shared encoder; the components follow its weights (shift within
    ``shift_atol`` of 1); the pseudo-inputs move by at least ``min_move``."""
    got = j.got if isinstance(j.got, dict) else {}
    if not got.get("calls"):
        seen_pseudo_inputs(None, j.inputs, "")
    grad = got.get("encoder_grad")
    if not isinstance(grad, torch.Tensor) or not bool((grad != 0).any()):
        raise CheckFailed("no gradient reaches the encoder through the VampPrior: the encoder "
                          "is detached (torch.no_grad(), .detach() or .item() on its output). "
                          "The prior's log p(z) must train the shared encoder and the "
                          "pseudo-inputs.")
    shift = got.get("shift")
    if not isinstance(shift, torch.Tensor) or float((shift - 1.0).abs().max()) > shift_atol:
        raise CheckFailed("changing the encoder's weights did not change the VampPrior's "
                          "components: it uses a separate copy of the encoder (or components "
                          "computed once in __init__). Run the shared encoder in forward().")
    start = seen_pseudo_inputs(got.get("start"), j.inputs, "the pseudo-inputs")
    end = seen_pseudo_inputs(got.get("end"), j.inputs, "the pseudo-inputs after 20 Adam steps")
    if float((end.to(F64) - start.to(F64)).abs().max()) < min_move:
        raise CheckFailed("after 20 Adam steps on the VampPrior's parameters the pseudo-inputs "
                          "have not moved: they are frozen (store them as an nn.Parameter, not "
                          "a buffer or a tensor without requires_grad, and do not detach "
                          "them).")


def _expect_no_kl_error(got: dict[str, Any]) -> None:
    if "kl_error" in got:
        raise CheckFailed("td.kl_divergence(q, prior) has no closed form when the prior is a "
                          "mixture (torch raised NotImplementedError): estimate the KL by "
                          "Monte Carlo, elbo = log p(x|z) + log p(z) - log q(z|x) at the same "
                          "reparameterised z.")


def elbo_values(j: Judgement) -> torch.Tensor:
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


def judge_elbo_grads(j: Judgement, expected: torch.Tensor, what: str) -> None:
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


def _two_far_components(var1: float, w1: float, w2: float) -> torch.Tensor:
    """log(w1 N(z; 0, var1 I) + w2 N(z; (40, 0), I)) in 2-D at the four points FAR_Z: the
    other component is negligible at each (by more than e^-40)."""
    head = math.log(w1) - math.log(2 * math.pi * var1)
    return torch.tensor([head, math.log(w2) - math.log(2 * math.pi), head - 200.0 / var1,
                         head - 20_000.0 / var1], dtype=F64)


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


def judge_elbo_known(j: Judgement) -> None:
    """E[elbo] = D log 1/2 - KL(N((1, -1), I) || N((1, 1), I)) = -784 log 2 - 2; one draw is
    that plus -(0, -2) . eps, variance 4 (exactly)."""
    values = elbo_values(j).to(F64)
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
    judge_elbo_grads(j, torch.tensor([0.0, 2.0, 0.0, 0.0], dtype=F64), "-d KL(q || p(z)) =")


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


def hole_fraction_value(got: Any) -> Any:
    """The fraction hole_fraction returned, a float when it is a one-element tensor."""
    value = got.get("fraction") if isinstance(got, dict) else got
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        raise CheckFailed(f"hole_fraction should return a float, but returned "
                          f"{describe(value)}.")
    return float(value)


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


def fail_on_wrong_aggregate(message: str, j: Judgement,
                             expected: Callable[[dict[str, Any]], torch.Tensor]) -> None:
    """CheckFailed with ``message`` and the aggregate density's problem, when it has one: then
    no hint about hole_fraction itself is given. ``expected`` gives the right log q(z)."""
    if not isinstance(j.got, dict) or "aggregate" not in j.got:
        return
    problem = _aggregate_problem(j.got, expected(j.inputs))
    if problem:
        raise CheckFailed(f"{message} aggregate_posterior_log_density, which hole_fraction "
                          f"uses, {problem}: fix it first.")


def judge_holes_known(j: Judgement) -> None:
    """q(z) < r p(z) iff |z|^2 > (log 4 - log r) / 1.5, and |z|^2 ~ chi2(2) under the prior:
    the fraction is exp(-(log 4 - log r) / 3) = 40^(-1/3) for r = 0.1."""
    got, n = hole_fraction_value(j.got), j.inputs["n"]
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
    fail_on_wrong_aggregate(message, j, identical_components_aggregate)
    raise CheckFailed(message + (f" Likely cause: {named[0]}." if len(named) == 1 else ""))


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
