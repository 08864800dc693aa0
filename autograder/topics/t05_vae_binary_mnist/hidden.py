"""Topic 05's hidden checks: they compare with the reference solution's results or use the
grader-only maths of ``autograder.trusted`` (exact ELBO moments and gradients of the linear
Bernoulli model, the trained networks' test ELBO). Never shipped to students and unreadable
from the sandbox; attached to the rows of ``tasks.py`` by ``autograder.checks.rows``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
from torch import nn

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import (
    describe,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.distributions import expect_dist
from autograder.fixtures.modules import IMG
from autograder.symbolic import confirm_same, encode
from autograder.topics.t05_vae_binary_mnist import inputs, probes, public_conditional, public_exam
from autograder.topics.t05_vae_binary_mnist.probes import (
    CLASSES,
    ELBO_N,
    LABEL_SAMPLES,
    LABEL_STEPS,
    TRAIN_BATCH,
    TRAIN_M,
    TRAIN_STEPS,
    D,
    training_networks,
)
from autograder.topics.t05_vae_binary_mnist.public import (
    elbo_draws,
    elbo_mean_message,
    fail_on_missing_kl_rule,
    judge_decoder_against,
    judge_forward_against,
    judge_sample_against,
    rounding,
)
from autograder.trusted.linear_bernoulli import (
    bernoulli_log_prob,
    draw_moments,
    exact_terms,
    expected_grads,
    linear_logits,
    pixel_marginals,
)
from autograder.trusted.vae_exam import exam_answers, same_value
from autograder.trusted.vae_mnist import (
    control_images,
    elbo_terms,
    evaluation_images,
    fits_evaluation_images_better,
    load_weights,
)

F64 = torch.float64


TEST_SUBSET = 1_000
CONTROL_SUBSET = 10_000  # unseen training images 50 000-59 999: the memorisation control
ELBO_THRESHOLD = -170.0
CONSISTENCY_NATS = 2.0  # elbo(x) vs the grader's ELBO at the trained weights
TRAINING_RUNS = 130  # correct runs measured (docs/grading/training-checks.md): none failed


def judge_prior_reference(j: Judgement) -> None:
    m = j.inputs["M"]
    expect_dist(j.got, f"GaussianPrior({m})()", (), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    expect_close(j.got["log_prob"], j.ref["log_prob"], "log p(z) of the prior", reveal=False)


def judge_encoder_reference(j: Judgement) -> None:
    x, W = j.inputs["x"], j.inputs["W"]
    m = W.shape[0] // 2
    expect_dist(j.got, "GaussianEncoder(net)(x)", (x.shape[0],), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1).")
    for key, what in (("mean", "q(z|x).mean"), ("stddev", "q(z|x).stddev"),
                      ("log_prob", "log q(z|x)")):
        expect_tensor(j.got[key], what, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


def judge_decoder(j: Judgement, *, rtol: float, atol: float) -> None:
    z, W, c, x = (j.inputs[k] for k in ("z", "W", "c", "x"))
    logits = linear_logits(z, W, c)
    judge_decoder_against(j, torch.sigmoid(logits), bernoulli_log_prob(x, logits), rtol=rtol,
                          atol=atol)


def judge_decoder_reference(j: Judgement) -> None:
    b = j.inputs["z"].shape[0]
    expect_dist(j.got, "BernoulliDecoder(net)(z)", (b,), IMG, "Bernoulli",
                "Wrap the Bernoulli in td.Independent(..., 2).")
    for key, what in (("mean", "p(x|z).mean"), ("log_prob", "log p(x|z)")):
        expect_tensor(j.got[key], what, dtype=j.inputs["z"].dtype, device=j.device)
        expect_close(j.got[key], j.ref[key], what, reveal=False)


def single_draw_bound(inputs: dict[str, Any]) -> tuple[float, float]:
    """(largest exact variance of one ELBO draw over the accepted KL forms, the sample-variance
    threshold of ELBO_N such draws at false-failure rate FALSE_FAILURE_RATE).

    The sample variance of n iid draws has standard deviation sqrt((mu4 - sigma^4) / n)
    (mu4: the exact fourth central moment); the threshold is sigma^2 + t * that, with t the
    one-sided normal quantile at FALSE_FAILURE_RATE / 10, widened by a quarter for the
    right skew of a sample variance.
    """
    t = normal_threshold(FALSE_FAILURE_RATE / 10)
    limits = []
    for var, m4 in draw_moments(inputs).values():
        spread = math.sqrt(max(m4 - var**2, 0.0) / ELBO_N)
        limits.append((var, var + 1.25 * t * spread + 1e-4 * var + 1e-6))
    return max(v for v, _ in limits), max(limit for _, limit in limits)


def judge_elbo_value(j: Judgement) -> None:
    values = elbo_draws(j)
    t = exact_terms(j.inputs)
    expected = t["rec"] - t["kl"]
    mean = float(values.mean())
    se = float(values.std() / math.sqrt(ELBO_N))
    limit = normal_threshold()
    if abs(mean - expected) > limit * (se + rounding(expected)):
        raise CheckFailed(elbo_mean_message(mean, se, expected, t, limit))
    exact_var, var_limit = single_draw_bound(j.inputs)
    sample_var = float(values.var())
    if sample_var > var_limit:
        raise CheckFailed(
            f"the {ELBO_N} draws of elbo(x) vary far more than a single-sample ELBO estimate "
            f"can: their variance is {sample_var:.4g}, while one reparameterised draw (analytic "
            f"or Monte Carlo KL) has variance at most {exact_var:.4g} on this model (threshold "
            f"{var_limit:.4g} at false-failure rate {FALSE_FAILURE_RATE:g}). Is something random "
            "added to the ELBO? elbo(x) = log p(x|z) - KL with one z = q.rsample().")


def judge_forward(j: Judgement) -> None:
    """The loss against -E[elbo]: the tolerance comes from the exact single-draw variance,
    so noise added to the ELBO cannot widen it."""
    t = exact_terms(j.inputs)
    exact_var, _ = single_draw_bound(j.inputs)
    judge_forward_against(j, t["rec"] - t["kl"], exact_var)


def _grad_z(grad: torch.Tensor, expected: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-coordinate mean of per-example gradients and max |z| against ``expected``."""
    g = grad.to(F64)
    mean, se = g.mean(0), g.std(0) / math.sqrt(g.shape[0])
    return mean, float(((mean - expected).abs() / (se + 1e-6)).max())


def judge_grad(j: Judgement) -> None:
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


def judge_sample(j: Judgement) -> None:
    judge_sample_against(j, pixel_marginals(j.inputs["W"], j.inputs["c"]))


def judge_training(j: Judgement) -> None:
    """Rebuild the grader's model from the returned weights and evaluate it on test images."""
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


def _nats(value: Any) -> str:
    """A number of nats for a message: one decimal, or 3 significant digits when huge."""
    value = float(value)
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def _readings(enc_net: nn.Module, dec_net: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    """ELBO terms of ``x`` under buggy readings of the networks, by the bug's description."""
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
    if not isinstance(check, torch.Tensor) or tuple(check.shape) != (x.shape[0],):
        raise CheckFailed(f"after training, elbo(x) on {x.shape[0]} images did not return one "
                          f"value per image (got {describe(check)}).")
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




# ------------------------------------------------------------------ exam practice (sympy)
def judge_exam_symbolic(j: Judgement, *, nll: bool) -> None:
    """Both items equal the answer for general symbols; a wrong one is named where the
    hand-worked values of ``public_exam`` recognise it."""
    what = public_exam.NLL_WHAT if nll else public_exam.BETA_WHAT
    items = [public_exam.answer(v, what) for v in expect_sequence(j.got, 2, what)]
    s = probes.exam_symbols()
    args = (s["SE"], s["D"], s["sigma2"]) if nll else (s["x"], s["sigma2"], s["beta"])
    names = ("-log p(x|z)", "the best σ²") if nll else ("the optimal mean", "the optimal variance")
    for got, expected, name in zip(items, exam_answers(nll, args), names, strict=True):
        if same_value(got, expected):
            continue
        hint = ""
        if nll:
            point, *cases = public_exam.NLL_POINTS[0]
            case = cases[names.index(name)]
            hint = public_exam.named(public_exam.number_at(got, point, name), case)
        raise CheckFailed(f"{name} is not symbolically equal to the answer for general "
                          f"{', '.join(str(a) for a in args)}.{hint}")


def confirm_exam_symbolic(j: Judgement, *, nll: bool) -> None:
    """The grading process's own comparison at random points."""
    what = public_exam.NLL_WHAT if nll else public_exam.BETA_WHAT
    s = probes.exam_symbols()
    args = (s["SE"], s["D"], s["sigma2"]) if nll else (s["x"], s["sigma2"], s["beta"])
    for got, expected in zip(expect_sequence(j.got, 2, what), exam_answers(nll, args),
                             strict=True):
        confirm_same(got, encode(expected), what, f"{what}.symbolic")


def judge_exam_renamed(j: Judgement, *, nll: bool) -> None:
    """The answer for arguments under other names is the answer in those names."""
    what = public_exam.NLL_WHAT if nll else public_exam.BETA_WHAT
    items = [public_exam.answer(v, what) for v in expect_sequence(j.got, 2, what)]
    args = probes.renamed_symbols(nll)
    for got, expected in zip(items, exam_answers(nll, args), strict=True):
        if not same_value(got, expected):
            shown = ", ".join(str(a) for a in args)
            raise CheckFailed(f"{what} called with the symbols {shown} does not give the answer "
                              "in those symbols: use the arguments (not symbols of your own).")


def confirm_exam_renamed(j: Judgement, *, nll: bool) -> None:
    what = public_exam.NLL_WHAT if nll else public_exam.BETA_WHAT
    for got, expected in zip(expect_sequence(j.got, 2, what),
                             exam_answers(nll, probes.renamed_symbols(nll)), strict=True):
        confirm_same(got, encode(expected), what, f"{what}.renamed")


# ------------------------------------------------------------- conditional VAE (vae.conditional)
def judge_cvae_elbo_value(j: Judgement) -> None:
    """elbo(x, y) per example against a general linear decoder's log p(x|z, y), computed here
    at the decoder input the notebook's code produced."""
    x, Wd, cd = j.inputs["x"].to(F64), j.inputs["Wd"].to(F64), j.inputs["cd"].to(F64)
    public_conditional.judge_cvae_elbo_against(
        j, lambda h: bernoulli_log_prob(x, linear_logits(h, Wd, cd)))


def judge_cvae_labels(j: Judgement) -> None:
    """After training on ten label patterns, sample(k, n) draws pattern k's pixels."""
    got = expect_sequence(j.got, CLASSES, "the samples of digits 0..9")
    pattern = torch.arange(D) % CLASSES
    for k, images in enumerate(got):
        x = expect_tensor(images, f"sample({k}, {LABEL_SAMPLES})",
                          shape=(LABEL_SAMPLES, *IMG)).reshape(LABEL_SAMPLES, -1).to(F64)
        on, off = float(x[:, pattern == k].mean()), float(x[:, pattern != k].mean())
        if on < public_conditional.LABEL_ON or off > public_conditional.LABEL_OFF:
            raise CheckFailed(
                f"a CVAE trained ({LABEL_STEPS} Adam steps) on images of ten label patterns "
                f"(pattern k: pixels d with d mod 10 = k on with probability 0.9, others 0.05) "
                f"does not generate pattern {k} with sample({k}, n): {on:.0%} of its pixels "
                f"are on and {off:.0%} of the others. sample must decode prior draws z with "
                "the chosen digit's one-hot label, and the decoder must use the label.")


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "vae.prior": (
        Check("log p(z) matches the reference (M = 7)", probes.probe_prior,
              judge_prior_reference, inputs.prior_hidden_inputs, id="reference", hidden=True),
    ),
    "vae.encoder": (
        Check("matches the reference in float64", probes.probe_encoder_linear,
              judge_encoder_reference, partial(inputs.linear_encoder_inputs, F64, m=4),
              id="reference", hidden=True, seed=5),
    ),
    "vae.decoder": (
        Check("Bernoulli(logits) over 28x28 pixels as one event", probes.probe_decoder,
              partial(judge_decoder, rtol=1e-4, atol=1e-3), inputs.decoder_inputs,
              id="decoder", hidden=True),
        Check("matches the reference in float64", probes.probe_decoder, judge_decoder_reference,
              partial(inputs.decoder_inputs, F64, m=5), id="reference", hidden=True, seed=11),
    ),
    "vae.elbo": (
        Check(f"E[elbo(x)] equals the exact ELBO (false-failure rate {FALSE_FAILURE_RATE:g})",
              probes.probe_elbo, judge_elbo_value, inputs.elbo_inputs, id="value", hidden=True),
        Check("forward(x) is the loss -elbo(x).mean()", probes.probe_elbo, judge_forward,
              inputs.elbo_inputs, id="forward", hidden=True),
        Check("gradients reach the encoder through a reparameterised z", probes.probe_grad,
              judge_grad, inputs.grad_inputs, id="grad", hidden=True),
        Check("E[elbo(x)] is exact in float64 for another posterior", probes.probe_elbo,
              judge_elbo_value, partial(inputs.elbo_inputs, F64, (-0.5, 1.0), (-3.0, 0.5)),
              id="value_hidden", hidden=True, seed=17),
    ),
    "vae.sample": (
        Check("pixel frequencies match the model's marginal", probes.probe_sample,
              judge_sample, inputs.sample_inputs, id="sample", hidden=True),
        Check("pixel frequencies match in float64 for another decoder", probes.probe_sample,
              judge_sample, partial(inputs.sample_inputs, F64), id="sample_hidden",
              hidden=True, seed=23),
    ),
    "vae.exam_gaussian_nll": (
        Check("symbolically equal for general SE, D, sigma2", probes.probe_nll_symbolic,
              partial(judge_exam_symbolic, nll=True), id="symbolic", hidden=True,
              confirm=partial(confirm_exam_symbolic, nll=True)),
        Check("a second instance: the arguments under other names", probes.probe_nll_renamed,
              partial(judge_exam_renamed, nll=True), id="renamed", hidden=True,
              confirm=partial(confirm_exam_renamed, nll=True)),
    ),
    "vae.exam_beta_optimum": (
        Check("symbolically equal for general x, sigma2, beta", probes.probe_beta_symbolic,
              partial(judge_exam_symbolic, nll=False), id="symbolic", hidden=True,
              confirm=partial(confirm_exam_symbolic, nll=False)),
        Check("a second instance: the arguments under other names", probes.probe_beta_renamed,
              partial(judge_exam_renamed, nll=False), id="renamed", hidden=True,
              confirm=partial(confirm_exam_renamed, nll=False)),
    ),
    "vae.conditional": (
        Check("elbo(x, y) against a general decoder's log p(x|z, y) in float64",
              probes.probe_cvae_elbo, judge_cvae_elbo_value,
              partial(inputs.cvae_inputs, probes.CVAE_N, 3, F64), id="elbo_value", hidden=True,
              seed=29),
        Check(f"trained on ten label patterns, sample(k, n) draws pattern k "
              f"({LABEL_STEPS} Adam steps)", probes.probe_cvae_labels, judge_cvae_labels,
              inputs.cvae_label_inputs, id="labels", hidden=True, seed=31),
    ),
    "vae.training": (
        Check(f"trains on MNIST: test ELBO > {ELBO_THRESHOLD:g} after {TRAIN_STEPS} steps "
              f"(measured false-failure rate 0/{TRAINING_RUNS}, margin over 25 nats)",
              probes.probe_training, judge_training, inputs.training_inputs, id="training",
              hidden=True),
    ),
}
"""Topic 05's hidden checks, by task (see ``autograder.checks.rows``)."""
