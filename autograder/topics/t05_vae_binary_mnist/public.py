"""Judges of topic 05's public checks: models whose ELBO, gradients, log-probabilities and pixel
marginals are known by hand, invariants, and a training smoke test; no reference, nothing
grader-only. Tolerances are keyword parameters, set in the rows of ``tasks.py``; the helpers
``elbo_draws``, ``judge_forward_against`` and the like are shared with ``hidden.py``."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.distributions as td

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.distributions import encoder_hints, expect_dist
from autograder.fixtures.modules import IMG
from autograder.topics.t05_vae_binary_mnist.probes import (
    ELBO_N,
    PAIR,
    SAMPLE_N,
    SMOKE_STEPS,
    D,
)

F64 = torch.float64


def judge_pair(j: Judgement, *, own: str, rtol: float, atol: float) -> None:
    """The notebook's encoder and prior give td.kl_divergence(q, p) = KL(N(mean,
    diag exp(logvar)) || N(0, I)). A pair without a KL rule fails the task of the member
    that is not the Independent(Normal) the exercise asks for (a consistent pair, e.g. both
    diagonal MultivariateNormals, passes); ``own`` is the task's symbol."""
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
                 "and prior", reveal=True, rtol=rtol, atol=atol)


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


def judge_encoder_identity(j: Judgement) -> None:
    h, z = j.inputs["h"], j.inputs["z"]
    b, m = h.shape[0], h.shape[1] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (b,), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that log q(z|x) sums over the "
                "M latent dimensions and has shape [B].")
    mean, std, mean_hints, std_hints = encoder_hints(h)
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


def judge_encoder_linear(j: Judgement) -> None:
    x, W, b = j.inputs["x"], j.inputs["W"], j.inputs["b"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x) for x of shape [5, 3, 4]", (x.shape[0],), (m,),
                "Normal", "Wrap the Normal in td.Independent(..., 1).")
    h = x.reshape(x.shape[0], -1) @ W.T + b
    mean, std, mean_hints, std_hints = encoder_hints(h)
    expect_tensor(j.got["mean"], "q(z|x).mean", dtype=x.dtype, device=j.device)
    expect_close(j.got["mean"], mean, "q(z|x).mean", reveal=True, hints=mean_hints)
    expect_close(j.got["stddev"], std, "q(z|x).stddev", reveal=True, hints=std_hints)
    expect_tensor(j.got["log_prob"], "log q(z|x)", shape=(x.shape[0],), device=j.device)
    expect_tensor(j.got["sample"], "q.sample((2,))", shape=(2, x.shape[0], m), device=j.device)


def judge_decoder_hand(j: Judgement, *, rtol: float, atol: float) -> None:
    """Image i with k_i ones: log p(x|z) = k_i log p_i + (784 - k_i) log(1 - p_i)."""
    probs = torch.tensor([0.5, 0.75, 0.25])
    ones = j.inputs["x"].sum((-2, -1))
    log_prob = ones * probs.log() + (D - ones) * (1 - probs).log()
    judge_decoder_against(j, probs[:, None, None].expand(3, *IMG), log_prob, rtol=rtol,
                          atol=atol)


def judge_decoder_against(j: Judgement, probs: torch.Tensor, log_prob: torch.Tensor, *,
                          rtol: float, atol: float) -> None:
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
                 reveal=True, rtol=rtol, atol=atol)
    sample = expect_tensor(j.got["sample"], "p(x|z).sample((2,))", shape=(2, b, *IMG),
                           device=j.device)
    if not torch.all((sample == 0) | (sample == 1)):
        raise CheckFailed("samples of p(x|z) should be binary (0 or 1).")


def fail_on_missing_kl_rule(got: Any) -> None:
    """CheckFailed naming td.kl_divergence's registry when a guarded probe hit it."""
    if isinstance(got, dict) and isinstance(got.get("kl_rule_missing"), str):
        raise CheckFailed(
            f"td.kl_divergence raised NotImplementedError ({got['kl_rule_missing']}): it has no "
            "formula for this pair of distribution types. Return td.Independent(td.Normal(...), "
            "1) from both the encoder and the prior, as the exercises ask, or use the Monte "
            "Carlo KL log q(z|x) - log p(z) at the same z.")


def elbo_draws(j: Judgement, key: str = "elbo") -> torch.Tensor:
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


def rounding(value: float) -> float:
    """Slack for float32 rounding of per-draw values of size ``value``."""
    return 1e-5 * abs(value) + 1e-6


def elbo_mean_message(mean: float, se: float, expected: float, t: dict[str, float],
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
             if abs(mean - value) <= limit * (se + rounding(value))]
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


def judge_forward_against(j: Judgement, expected: float, exact_var: float) -> None:
    """The loss is -``expected`` (the exact ELBO) within the noise that ELBO_N draws of
    variance at most ``exact_var`` allow."""
    elbo_draws(j)
    loss = j.got.get("loss")
    if isinstance(loss, torch.Tensor) and loss.numel() != 1:
        raise CheckFailed(f"vae(x) returned a tensor of shape {list(loss.shape)}: forward must "
                          "return the scalar loss -elbo(x).mean() (averaged over the batch).")
    loss = expect_tensor(loss, "vae(x)", device=j.device)
    value = float(loss)
    tol = normal_threshold() * (math.sqrt(exact_var / ELBO_N) + rounding(expected))
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
    values = elbo_draws(j)
    t, var = elbo_hand_terms()
    expected = t["rec"] - t["kl"]
    mean = float(values.mean())
    se = math.sqrt(var / ELBO_N)
    limit = normal_threshold()
    if abs(mean - expected) > limit * (se + rounding(expected)):
        raise CheckFailed(elbo_mean_message(mean, se, expected, t, limit))


def judge_forward_hand(j: Judgement) -> None:
    t, var = elbo_hand_terms()
    judge_forward_against(j, t["rec"] - t["kl"], var)


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


def judge_sample_hand(j: Judgement) -> None:
    """Marginals P(z_1 > 1) = erfc(1/√2)/2, P(z_2 > -1/2) = erfc(-1/(2√2))/2 and 3/4; a
    sigmoid of slope 200 moves the first two by about 1e-5, 0.004 standard errors here."""
    third = D // 3
    p = torch.full((D,), 0.75, dtype=F64)
    p[:third] = 0.5 * math.erfc(1 / math.sqrt(2))
    p[third:2 * third] = 0.5 * math.erfc(-0.5 / math.sqrt(2))
    judge_sample_against(j, p.reshape(IMG))


def judge_sample_against(j: Judgement, p: torch.Tensor) -> None:
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


