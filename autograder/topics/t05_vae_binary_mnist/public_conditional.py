"""Judges of the conditional VAE's public checks (``vae.conditional``): the notebook's
``ConditionalEncoder``, ``ConditionalDecoder`` and ``CVAE`` around fixed linear networks that
record what they are fed, so that every value is checked against the student's own z and
labels; a decoder whose reconstruction term is known by hand; a sampling decoder whose pixels
spell out the label; a training smoke test. ``judge_cvae_elbo_against`` is shared with
``hidden.py`` (which passes a general decoder's reconstruction term)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.distributions import encoder_hints, expect_dist
from autograder.fixtures.modules import IMG
from autograder.topics.t05_vae_binary_mnist import public
from autograder.topics.t05_vae_binary_mnist.probes import CLASSES, CVAE_N, PATTERN_PIXELS, D

F64 = torch.float64
LABEL_ON = 0.6
"""The hidden training check's least on-pattern frequency (the data have 0.9)."""
LABEL_OFF = 0.2
"""... and its largest off-pattern frequency (the data have 0.05)."""


def net_inputs(j: Judgement, what: str, expected: torch.Tensor, swapped: torch.Tensor,
               key: str = "net_inputs") -> list[torch.Tensor]:
    """The inputs the fixed network recorded; CheckFailed naming a left-out label or a swapped
    concatenation when the first one is not ``expected``."""
    got = j.got if isinstance(j.got, dict) else {}
    if "net_input_error" in got:
        width = got["expected_width"]
        left_out = {D: "the image", width - CLASSES: "the code z"}
        hint = ""
        shape = got["net_input_error"]
        if shape.startswith("[") and shape.endswith("]"):
            dims = [int(v) for v in shape[1:-1].split(",") if v.strip()]
            if dims and dims[-1] in left_out:
                hint = (f" It received {left_out[dims[-1]]} alone: the one-hot label y must be "
                        "an input of the network too (that is what makes the model conditional).")
        raise CheckFailed(f"the {what} network received an input of shape {shape}, but it takes "
                          f"[B, {width}]: concatenate along dim 1, label last.{hint}")
    inputs = got.get(key)
    if not isinstance(inputs, list) or not inputs:
        raise CheckFailed(f"the {what} network was never called.")
    first = inputs[0].to(F64)
    if first.shape == expected.shape and not torch.allclose(first, expected.to(F64)):
        if torch.allclose(first, swapped.to(F64)):
            raise CheckFailed(f"the {what} network's input has the label first: concatenate "
                              "the label LAST (the convention of the exercise).")
        raise CheckFailed(f"the {what} network's input is not the concatenation the exercise "
                          "asks for (image or code first, then the one-hot label, along dim 1).")
    return inputs


def judge_cvae_encoder(j: Judgement) -> None:
    x, y, We, be = (j.inputs[k] for k in ("x", "y", "We", "be"))
    flat = x.reshape(x.shape[0], -1)
    net_inputs(j, "encoder", torch.cat([flat, y], 1), torch.cat([y, flat], 1))
    m = j.inputs["M"]
    expect_dist(j.got, "ConditionalEncoder(net)(x, y)", (x.shape[0],), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1): log q(z|x, y) sums over the M "
                "latent dimensions.")
    mean, std, mean_hints, std_hints = encoder_hints(torch.cat([flat, y], 1) @ We.T + be)
    expect_close(j.got["mean"], mean, "q(z|x, y).mean (the first M outputs of the network)",
                 reveal=True, hints=mean_hints)
    expect_close(j.got["stddev"], std, "q(z|x, y).stddev", reveal=True, hints=std_hints)


def decoder_logits(z: torch.Tensor, y: torch.Tensor, Wd: torch.Tensor, cd: torch.Tensor
                   ) -> torch.Tensor:
    """The fixed decoder network's logits for [z, y], in z's dtype."""
    return (torch.cat([z, y], 1) @ Wd.T + cd).reshape(-1, *IMG).to(z.dtype)


def judge_cvae_decoder(j: Judgement) -> None:
    z, y, Wd, cd = (j.inputs[k] for k in ("z", "y", "Wd", "cd"))
    net_inputs(j, "decoder", torch.cat([z, y], 1), torch.cat([y, z], 1))
    b = z.shape[0]
    expect_dist(j.got, "ConditionalDecoder(net)(z, y)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2): the 28x28 pixels are one event.")
    probs = torch.sigmoid(decoder_logits(z, y, Wd, cd))
    expect_close(expect_tensor(j.got["mean"], "p(x|z, y).mean", shape=(b, *IMG)), probs,
                 "p(x|z, y).mean (the pixel probabilities)", reveal=False, hints={
                     "the network outputs LOGITS: pass them as Bernoulli(logits=...); a sigmoid "
                     "applied first treats probabilities as logits": torch.sigmoid(probs)})
    x = j.inputs["x"]
    log_prob = (x * probs.log() + (1 - x) * (1 - probs).log()).sum((1, 2))
    expect_close(j.got["log_prob"], log_prob, "log p(x|z, y) (summed over the 28x28 pixels)",
                 reveal=False, rtol=1e-4, atol=1e-3)
    other = torch.sigmoid(decoder_logits(z, j.inputs["y_other"], Wd, cd))
    got_other = expect_tensor(j.got.get("other_mean"), "p(x|z, y').mean", shape=(b, *IMG))
    if torch.allclose(got_other, probs, atol=1e-6):
        raise CheckFailed("the decoder gives the same pixel probabilities for other labels at "
                          "the same z: the label must reach the decoder's network.")
    expect_close(got_other, other, "p(x|z, y').mean for other labels y'", reveal=False)


def standardised_codes(j: Judgement, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
    """(mean, std) of q(z|x, y) from the fixed encoder, and (z - mean) / std."""
    x, y, We, be = (j.inputs[k].to(F64) for k in ("x", "y", "We", "be"))
    h = torch.cat([x.reshape(x.shape[0], -1), y], 1) @ We.T + be
    mean, logvar = h.chunk(2, dim=-1)
    std = (0.5 * logvar).exp()
    return mean, std, (z - mean) / std


def expect_standard_normal(eps: torch.Tensor, what: str, cause: str) -> None:
    """Mean 0 and second moment 1 of ``eps`` (entries iid N(0, 1) if right), at the check's
    false-failure rate."""
    n = eps.numel()
    t = normal_threshold(FALSE_FAILURE_RATE / 2)
    if float(eps.abs().max()) < 1e-6:
        raise CheckFailed(f"{what} has no noise at all: {cause}")
    if abs(float(eps.mean())) > t / math.sqrt(n) or \
            abs(float((eps**2).mean()) - 1) > t * math.sqrt(2 / n):
        raise CheckFailed(f"{what} does not have the distribution it should "
                          f"(mean {float(eps.mean()):.3f}, mean square {float((eps**2).mean()):.3f}"
                          f" for N(0, 1) entries): {cause}")


def judge_cvae_elbo_against(j: Judgement, reconstruction: Callable[[torch.Tensor], torch.Tensor]
                            ) -> None:
    """elbo(x, y) [N] equals, per example, reconstruction(decoder input) minus the KL of q(z|x, y)
    to N(0, I) (analytic, or its one-draw estimate log q(z) - log p(z) at the same z); z is a
    draw of q (reparameterised: mean + std * eps); forward is -elbo.mean()."""
    public.fail_on_missing_kl_rule(j.got)
    x, y = j.inputs["x"], j.inputs["y"]
    m = j.inputs["M"]
    flat = x.reshape(x.shape[0], -1)
    net_inputs(j, "encoder", torch.cat([flat, y], 1), torch.cat([y, flat], 1), "encoder_inputs")
    got = j.got
    elbo = got.get("elbo")
    if isinstance(elbo, torch.Tensor) and elbo.dim() == 0:
        raise CheckFailed("elbo(x, y) returned a single number: it must return one ELBO per "
                          f"example, shape [B] = [{CVAE_N}] (forward() takes the mean).")
    elbo = expect_tensor(elbo, "elbo(x, y)", shape=(CVAE_N,), device=j.device).to(F64)
    expect_finite(elbo, "elbo(x, y)")
    calls = [h for h in got.get("decoder_inputs", []) if h.shape[0] == CVAE_N]
    if not calls:
        raise CheckFailed("elbo(x, y) never called the decoder on the batch.")
    h = calls[-1].to(F64)
    z = h[:, :m]
    if not torch.allclose(h[:, m:], y.to(F64)):
        raise CheckFailed("elbo(x, y) gave the decoder other labels than the example's own y.")
    mean, std, eps = standardised_codes(j, z)
    expect_standard_normal(eps, "(z - mean) / std of the z given to the decoder",
                           "z must be a reparameterised draw of q(z|x, y), q.rsample(), with q "
                           "the encoder's output for (x, y) (not its mean, not a prior draw).")
    rec = reconstruction(h)
    var = std**2
    kl = 0.5 * (mean**2 + var - 1 - var.log()).sum(-1)
    mc_kl = (-0.5 * eps**2 - std.log() + 0.5 * z**2).sum(-1)
    tol = 1e-4 * rec.abs() + 1e-3
    if any(bool(torch.all((elbo - (rec - v)).abs() <= tol)) for v in (kl, mc_kl)):
        judge_cvae_forward(got.get("loss"), rec - kl, rec - mc_kl)
        return
    hints = {"the KL term has the wrong sign: ELBO = E_q[log p(x|z, y)] - KL": rec + kl,
             "the KL term is missing": rec,
             "the KL is averaged over the latent dimensions where it must be summed": rec - kl / m,
             "the reconstruction term is averaged over pixels where it must be summed":
                 rec / D - kl}
    cause = next((f" Likely cause: {text}." for text, value in hints.items()
                  if torch.all((elbo - value).abs() <= tol)), "")
    worst = int((elbo - (rec - kl)).abs().argmax())
    raise CheckFailed(f"elbo(x, y) is not log p(x|z, y) - KL(q(z|x, y) || p(z)) at the z the "
                      f"decoder received: example {worst} gives {float(elbo[worst]):.3f}, "
                      f"expected {float(rec[worst] - kl[worst]):.3f}.{cause}")


def judge_cvae_forward(loss: Any, analytic: torch.Tensor, one_draw: torch.Tensor) -> None:
    """forward(x, y) is -elbo.mean(), which draws new z: within the noise of a batch mean of
    one-draw ELBOs (bounded by their spread over the examples)."""
    if isinstance(loss, torch.Tensor) and loss.numel() != 1:
        raise CheckFailed(f"cvae(x, y) returned shape {list(loss.shape)}: forward must return "
                          "the scalar loss -elbo(x, y).mean().")
    value = float(expect_tensor(loss, "cvae(x, y)"))
    expected = -float(analytic.mean())
    tol = normal_threshold() * float(one_draw.std()) / math.sqrt(CVAE_N) + \
        1e-4 * abs(expected) + 1e-3
    if abs(value - expected) <= tol:
        return
    if abs(value + expected) <= tol:
        raise CheckFailed("cvae(x, y) returns +ELBO: the loss is the NEGATIVE ELBO, "
                          "-elbo(x, y).mean().")
    if abs(value - expected * CVAE_N) <= tol * CVAE_N:
        raise CheckFailed("cvae(x, y) sums over the batch: the loss is the batch MEAN, "
                          "-elbo(x, y).mean().")
    raise CheckFailed(f"cvae(x, y) = {value:.3f}, but -E[elbo(x, y)] = {expected:.3f}.")


def judge_cvae_elbo_hand(j: Judgement) -> None:
    """The decoder's logits are 0: log p(x|z, y) = -784 log 2 for every example."""
    judge_cvae_elbo_against(j, lambda h: torch.full((h.shape[0],), -D * math.log(2.0),
                                                    dtype=F64))


def judge_cvae_sample(j: Judgement) -> None:
    """sample(digit, n): the decoder got z ~ N(0, I) and the digit's one-hot label, and the
    images are its samples (pixel d < 700 on iff d mod 10 = digit; the rest coin flips)."""
    digit, m = j.inputs["digit"], j.inputs["M"]
    got = j.got if isinstance(j.got, dict) else {}
    if "net_input_error" in got:
        net_inputs(j, "decoder", torch.zeros(0), torch.zeros(0))
    x = expect_tensor(got.get("x"), f"sample({digit}, {CVAE_N})", shape=(CVAE_N, *IMG),
                      device=j.device)
    calls = [h for h in got.get("decoder_inputs", []) if h.shape[0] == CVAE_N]
    if not calls:
        raise CheckFailed("sample(digit, n) never called the decoder on n codes at once.")
    h = calls[-1].to(F64)
    label = torch.zeros(CLASSES, dtype=F64)
    label[digit] = 1.0
    if not torch.allclose(h[:, m:], label.expand(CVAE_N, CLASSES)):
        shown = sorted({int(v) for v in h[:, m:].argmax(1)})
        raise CheckFailed(f"sample({digit}, n) gave the decoder labels {shown[:5]} (as argmax of "
                          f"its one-hot input), not the one-hot label of digit {digit} for every "
                          "image.")
    expect_standard_normal(h[:, :m], "the z given to the decoder by sample()",
                           "draw z from the prior, prior().sample(torch.Size([n])).")
    if not torch.all((x == 0) | (x == 1)):
        raise CheckFailed("sample(digit, n) returned non-binary values: return samples "
                          "x ~ p(x|z, y) (decoder(z, y).sample()), not probabilities.")
    flat = x.reshape(CVAE_N, -1).to(F64)
    pattern = (torch.arange(PATTERN_PIXELS) % CLASSES == digit).to(F64)
    if not torch.equal(flat[:, :PATTERN_PIXELS], pattern.expand(CVAE_N, -1)):
        raise CheckFailed(f"the images of sample({digit}, n) are not the decoder's samples for "
                          f"digit {digit}.")
    coins = flat[:, PATTERN_PIXELS:]
    limit = normal_threshold(FALSE_FAILURE_RATE)
    if abs(float(coins.mean()) - 0.5) > limit * 0.5 / math.sqrt(coins.numel()):
        raise CheckFailed("pixels of probability 1/2 are not on half of the time in "
                          "sample(digit, n): return decoder(z, y).sample().")


def judge_cvae_smoke(j: Judgement) -> None:
    """The CVAE's loss falls over a few Adam steps (the unconditional smoke test's judge)."""
    if isinstance(j.got, dict) and "net_input_error" in j.got:
        net_inputs(j, "encoder or decoder", torch.zeros(0), torch.zeros(0))
    try:
        public.judge_training_smoke(j)
    except CheckFailed as exc:
        raise CheckFailed(str(exc).replace("vae(x)", "cvae(x, y)").replace(
            "elbo(x)", "elbo(x, y)")) from None
