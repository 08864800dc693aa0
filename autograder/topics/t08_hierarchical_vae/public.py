"""Judges of topic 08's public checks: closed forms of one tiny linear-Gaussian model (exact
expectations of the ELBO terms and gradients), a sympy derivation of the merge, designed
inputs with known answers; no reference, nothing grader-only. The Monte Carlo comparisons
(``z_scores``, ``judge_terms_against`` ...) are shared with the hidden judges, which pass the
grader's own expectations."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
import torch
import torch.distributions as td

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import (
    describe,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.fixtures.distributions import encoder_hints, expect_dist
from autograder.fixtures.modules import IMG
from autograder.fixtures.training import BIAS_COSINE_MIN, bias_gradient_cosine
from autograder.topics.t08_hierarchical_vae.inputs import (
    AU_VAR1,
    AU_VAR2,
    SAMPLE_PIXELS,
)
from autograder.topics.t08_hierarchical_vae.probes import (
    KINDS,
    M1,
    SAMPLE_N,
    SMOKE_BETA_STEP,
    SMOKE_WARMUP,
    D,
)

F64 = torch.float64


def merge_pair(j: Judgement) -> tuple[torch.Tensor, torch.Tensor]:
    mu, logvar = expect_sequence(j.got, 2, "precision_weighted_merge")
    a, b = j.inputs["mu_a"], j.inputs["mu_b"]
    shape = torch.broadcast_shapes(a.shape, b.shape)
    for value, what in ((mu, "the merged mean"), (logvar, "the merged log-variance")):
        expect_tensor(value, what, shape=shape, dtype=a.dtype, device=j.device)
        expect_finite(value, what)
    return mu, logvar


def merge_hints(inputs: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(hints for the mean, hints for the log-variance): what the classic bugs return."""
    ma, la, mb, lb = (inputs[k] for k in ("mu_a", "logvar_a", "mu_b", "logvar_b"))
    va, vb = la.exp(), lb.exp()
    mean_hints = {
        "the means were averaged without weights: each mean must be weighted by its "
        "PRECISION 1/var (precision-weighted merge)": (ma + mb) / 2 + 0 * va,
        "the means were weighted by their variances instead of their precisions: the more "
        "certain estimate (smaller variance) must get the larger weight":
            (ma * va + mb * vb) / (va + vb),
    }
    logvar_hints = {
        "the variances were averaged: the merged PRECISION is the sum of the precisions, "
        "1/var = 1/var_a + 1/var_b": torch.log((va + vb) / 2),
        "the variances were added: it is the precisions (1/var) that add, "
        "1/var = 1/var_a + 1/var_b": torch.log(va + vb),
        "the log-variances were added: it is the precisions (1/var) that add, "
        "1/var = 1/var_a + 1/var_b": la + lb,
        "the log-variances were averaged: the precisions (1/var) must be added":
            (la + lb) / 2 + 0 * ma,
        "the log of the precision was returned: logvar = -log(1/var_a + 1/var_b)":
            torch.log(1 / va + 1 / vb),
        "the variance was returned instead of the log-variance": 1 / (1 / va + 1 / vb),
    }
    return mean_hints, logvar_hints


def sympy_product_of_gaussians() -> tuple[sympy.Expr, sympy.Expr, tuple[sympy.Symbol, ...]]:
    """Mean and variance of N(z; a, va) N(z; b, vb), normalised, derived by completing the
    square with sympy: precision = -d^2/dz^2 log density, mean = the root of d/dz."""
    z, a, b = sympy.symbols("z a b", real=True)
    va, vb = sympy.symbols("v_a v_b", positive=True)
    log_density = -(z - a) ** 2 / (2 * va) - (z - b) ** 2 / (2 * vb)
    precision = -sympy.diff(log_density, z, 2)
    (mean,) = sympy.solve(sympy.diff(log_density, z), z)
    return sympy.cancel(mean), sympy.cancel(1 / precision), (a, va, b, vb)


def judge_merge_sympy(j: Judgement) -> None:
    mu, logvar = merge_pair(j)
    mean_expr, var_expr, symbols = sympy_product_of_gaussians()
    ma, la, mb, lb = (j.inputs[k].to(F64) for k in ("mu_a", "logvar_a", "mu_b", "logvar_b"))
    ma, la, mb, lb = torch.broadcast_tensors(ma, la, mb, lb)
    args = (ma.numpy(), la.exp().numpy(), mb.numpy(), lb.exp().numpy())
    exp_mu = torch.from_numpy(np.asarray(sympy.lambdify(symbols, mean_expr, "numpy")(*args)))
    exp_var = torch.from_numpy(np.asarray(sympy.lambdify(symbols, var_expr, "numpy")(*args)))
    dtype = j.inputs["mu_a"].dtype
    mean_hints, logvar_hints = merge_hints(j.inputs)
    expect_close(logvar, exp_var.log().to(dtype), "the merged log-variance (sympy: the "
                 "product of the two Gaussian densities, normalised)", reveal=True,
                 hints=logvar_hints)
    expect_close(mu, exp_mu.to(dtype), "the merged mean (sympy: the product of the two "
                 "Gaussian densities, normalised)", reveal=True, hints=mean_hints)


def judge_conditional(j: Judgement) -> None:
    h, z = j.inputs["h"], j.inputs["z"]
    b, m = h.shape[0], h.shape[1] // 2
    expect_dist(j.got, "GaussianConditional(net)(u)", (b,), (m,), "Normal",
                "Wrap the Normal in td.Independent(..., 1) so that log_prob sums over the M "
                "latent dimensions and has shape [B].")
    mean, std, mean_hints, std_hints = encoder_hints(h)
    expect_tensor(j.got["mean"], "the mean", dtype=h.dtype, device=j.device)
    expect_close(j.got["mean"], mean, "the mean (first M outputs of net)", reveal=True,
                 hints=mean_hints)
    expect_close(j.got["stddev"], std, "the standard deviation exp(logvar / 2)", reveal=True,
                 hints=std_hints)
    expect_close(j.got["log_prob"], td.Independent(td.Normal(mean, std), 1).log_prob(z),
                 "log_prob(z)", reveal=True)
    grad = j.got.get("grad")
    if not isinstance(grad, torch.Tensor) or not torch.any(grad != 0):
        raise CheckFailed("rsample() carries no gradient back to the network's output: build "
                          "the Normal from net(u) with torch operations (no .detach()).")


def frequency_stat(freq: torch.Tensor, p: torch.Tensor) -> float:
    """Largest |pixel frequency - p| in binomial standard errors of SAMPLE_N draws."""
    se = (p * (1 - p) / SAMPLE_N).sqrt().clamp_min(1e-12)
    return float(((freq - p).abs() / se).max())


def judge_pixel_frequencies(j: Judgement, marginal: Callable[[torch.Tensor], torch.Tensor],
                             spread: torch.Tensor, var: torch.Tensor,
                             pixels: tuple[int, ...] = IMG) -> None:
    """Both models' pixel frequencies (of ``pixels``: the image, or its first row) match
    ``marginal`` at z1's covariance, spread (from z2) + diag(var) (from p(z1|z2)); the classic
    sampling bugs are named."""
    p = marginal(spread + torch.diag(var))
    limit = normal_threshold(FALSE_FAILURE_RATE / (2 * math.prod(pixels)))
    hints = {"z2 is not drawn from p(z2): every sample uses z2 = 0 (the prior mean)":
             marginal(torch.diag(var)),
             "z1 is the mean of p(z1|z2), not a draw from it":
                 marginal(spread + 1e-9 * torch.eye(M1, dtype=F64))}
    for symbol in KINDS:
        got = j.got.get(symbol) if isinstance(j.got, dict) else None
        what = f"{symbol}.sample({SAMPLE_N})" + ("" if pixels == IMG else "[:, 0]")
        x = expect_tensor(got, what, shape=(SAMPLE_N, *pixels), device=j.device)
        if not torch.all((x == 0) | (x == 1)):
            raise CheckFailed(f"{symbol}.sample(n) returned non-binary values: return draws x ~ "
                              "p(x|z1) (self.decoder(z1).sample()), not pixel probabilities.")
        freq = x.to(F64).mean(0)
        if frequency_stat(freq, p) <= limit:
            continue
        named = [text for text, q in hints.items() if frequency_stat(freq, q) <= limit]
        raise CheckFailed(f"the pixel frequencies of {symbol}.sample(n) do not match the model's "
                          f"marginal (largest deviation {frequency_stat(freq, p):.1f} standard "
                          f"errors, threshold {limit:.1f}): draw z2 ~ p(z2), z1 ~ p(z1|z2), "
                          "x ~ p(x|z1)."
                          + (f" Likely cause: {named[0]}." if named else ""))


def judge_sample_known(j: Judgement) -> None:
    """z1 = Ap z2 + bp + noise is Gaussian with covariance Ap Ap^T + diag(exp(lvp)), so a
    step pixel is on with probability Phi((bp_i - t) / sd_i), the others with 1/2."""
    bp = j.inputs["bp"].to(F64)

    def marginal(cov: torch.Tensor) -> torch.Tensor:
        p = torch.full((D,), 0.5, dtype=F64)
        for pixel, (unit, threshold) in enumerate(SAMPLE_PIXELS):
            u = float((bp[unit] - threshold) / cov[unit, unit].sqrt())
            p[pixel] = 0.5 * (1 + math.erf(u / math.sqrt(2)))
        return p[:IMG[1]]

    A = j.inputs["Ap"].to(F64)
    judge_pixel_frequencies(j, marginal, A @ A.T, j.inputs["lvp"].to(F64).exp(), (IMG[1],))


def warmup_value(value: Any, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} should be a Python float, but it is {describe(value)}.")
    return float(value)


def judge_warmup(j: Judgement) -> None:
    n, steps = j.inputs["warmup_steps"], j.inputs["steps"]
    got = j.got if isinstance(j.got, dict) else {}
    values = got.get("values")
    if not isinstance(values, list) or len(values) != len(steps):
        raise CheckFailed(f"kl_warmup returned {describe(values)}; expected one float per call.")
    for step, value in zip(steps, values, strict=True):
        v = warmup_value(value, f"kl_warmup({step}, {n})")
        expected = min(1.0, step / n)
        if abs(v - expected) <= 1e-9:
            continue
        if v > 1.0:
            cause = ("the weight exceeds 1: clip it, beta = min(1, step / warmup_steps); after "
                     "the warm-up the full ELBO (beta = 1) is optimised")
        elif step == 0 and v > 0:
            cause = ("the warm-up starts above 0: at step 0 the KL weight is 0 "
                     "(beta = step / warmup_steps)")
        elif abs(v - min(1.0, (step + 1) / n)) <= 1e-9:
            cause = "off by one: beta = step / warmup_steps, 0 at step 0"
        elif abs(v - min(1.0, step // n)) <= 1e-9:
            cause = ("integer division: step // warmup_steps is 0 until the warm-up ends, so "
                     "beta jumps from 0 to 1 instead of rising linearly; use step / warmup_steps")
        else:
            cause = "beta rises linearly from 0 at step 0 to 1 at step = warmup_steps"
        raise CheckFailed(f"kl_warmup({step}, {n}) = {v:.4g}, expected {expected:.4g}: {cause}.")
    none = warmup_value(got.get("none"), "kl_warmup(5, 0)")
    if none != 1.0:
        raise CheckFailed(f"kl_warmup(5, 0) = {none:.4g}: warmup_steps = 0 means no warm-up, "
                          "beta = 1 (and no division by zero).")


def unit_count(value: Any, what: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckFailed(f"{what} should be an int, but it is {describe(value)}.")
    return value


def active_counts(j: Judgement) -> list[tuple[str, float, str, list[int]]]:
    """(key, threshold, call, the two counts as ints) for the default and the low threshold."""
    got = j.got if isinstance(j.got, dict) else {}
    out = []
    for key, thr in (("default", 0.01), ("low", 0.002)):
        call_text = "active_units(model, data)" if key == "default" else \
            f"active_units(model, data, threshold={thr})"
        pair = expect_sequence(got.get(key), 2, call_text)
        out.append((key, thr, call_text, [unit_count(v, f"{call_text}[{i}]")
                                           for i, v in enumerate(pair)]))
    return out


def judge_active_designed(j: Judgement) -> None:
    """Each unit's posterior mean is a pixel (uniform on [0, 1], variance 1/12) scaled to a
    chosen variance; every chosen variance is at least 1.5x away from both thresholds, more
    than 13 standard errors of the variance over 600 images: the counts are known."""
    for key, thr, call_text, counts in active_counts(j):
        expected = [sum(v > thr for v in AU_VAR1), sum(v > thr for v in AU_VAR2)]
        if counts == expected:
            continue
        if counts == [len(AU_VAR1), len(AU_VAR2)]:
            cause = ("every unit looks active: were units measured on SAMPLES z ~ q (whose "
                     "noise has variance std^2 = 0.16)? Use the posterior MEANS q.mean")
        elif counts[0] > len(AU_VAR1) or counts[1] > len(AU_VAR2):
            cause = ("more active units than units: the variance was taken over latent "
                     "dimensions; take it over DATA POINTS (dim 0), one value per unit")
        elif key == "low" and counts == [sum(v > 0.01 for v in AU_VAR1),
                                         sum(v > 0.01 for v in AU_VAR2)]:
            cause = "the threshold argument is ignored"
        else:
            cause = "count units u with Var over the data of E_q[z_u|x] > threshold"
        raise CheckFailed(f"{call_text} = {tuple(counts)}, expected {tuple(expected)} (the "
                          f"means' variances over the data are about {list(AU_VAR1)} for z1 "
                          f"and {list(AU_VAR2)} for z2): {cause}.")


def _smoke_beta_note(beta: Any) -> str:
    """A sentence on the KL weight the smoke test used when it is not kl_warmup(5, 10) = 0.5."""
    expected = SMOKE_BETA_STEP / SMOKE_WARMUP
    if isinstance(beta, float) and abs(beta - expected) <= 1e-9:
        return ""
    shown = f"{beta:.4g}" if isinstance(beta, float) else "not a number"
    return (f" The KL weight was kl_warmup({SMOKE_BETA_STEP}, {SMOKE_WARMUP}) = {shown}, not "
            f"{expected:g}.")


def judge_training_smoke(j: Judgement) -> None:
    """The loss's gradient reaches all four networks, and on the decoder's output bias it is
    exactly that of the negative Bernoulli log-likelihood, mean(sigmoid(logits) - x).

    False-failure rate: deterministic up to float32 rounding (the identity holds whatever the
    KL weight, the networks' initialisation and the draws); measured in
    bench/false_failure_rates.py (docs/grading/training-checks.md).
    """
    x = j.inputs["x"]
    got = j.got if isinstance(j.got, dict) else {}
    beta_note = _smoke_beta_note(got.get("beta"))
    names = {"enc1": "q_z1", "enc2": "q_z2", "p1": "p_z1", "dec": "decoder"}
    for kind, symbol in (("top_down", "TopDownHVAE"), ("bottom_up", "BottomUpHVAE")):
        run = got.get(kind) if isinstance(got.get(kind), dict) else {}
        if run.get("error"):
            raise CheckFailed(f"the loss of {symbol} is NaN/inf at initialisation on a tiny "
                              f"batch.{beta_note}")
        missing = [names[k] for k, ok in (run.get("reached") or {}).items() if not ok]
        if missing or not run.get("reached"):
            if got.get("beta") == 0.0 and set(missing) <= {"q_z2", "p_z1"}:
                raise CheckFailed(f"kl_warmup({SMOKE_BETA_STEP}, {SMOKE_WARMUP}) = 0, not "
                                  f"{SMOKE_BETA_STEP / SMOKE_WARMUP:g}, so the KL terms had "
                                  f"weight 0 and {symbol}(x, beta) passed no gradient to "
                                  f"{', '.join(missing)}, which enter only through them. Fix "
                                  "kl_warmup first (step // warmup_steps is integer division, 0 "
                                  "until the warm-up ends; use step / warmup_steps).")
            raise CheckFailed(f"{symbol}(x, beta) passes no gradient to "
                              f"{', '.join(missing) or 'the model'}: z1 and z2 must be drawn "
                              "with .rsample(), and every term of the ELBO kept in the graph."
                              + beta_note)
        cosine = bias_gradient_cosine(x, run.get("logits"), run.get("bias_grad"))
        if cosine is None:
            raise CheckFailed(f"{symbol}(x, beta) did not run the decoder on the batch in the "
                              "graph: rec = log p(x|z1) = self.decoder(z1).log_prob(x).")
        if cosine < BIAS_COSINE_MIN:
            cause = (" It points the opposite way: forward must return the NEGATIVE "
                     "(weighted) ELBO, -(rec - beta (kl1 + kl2)).mean().") \
                if cosine < -BIAS_COSINE_MIN else ""
            raise CheckFailed(f"the gradient of {symbol}(x, beta) on the decoder's output bias "
                              "is not that of the negative Bernoulli log-likelihood, "
                              f"mean(sigmoid(logits) - x) (cosine {cosine:.3f}, needed >= "
                              f"{BIAS_COSINE_MIN}): descending it would not fit the decoder to "
                              f"the data.{cause}")
