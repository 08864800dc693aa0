"""Judges of topic 08's public model checks (``hvae.bottom_up``, ``hvae.top_down``): the exact
expectations of the ELBO terms and of the inference layers' gradients for one tiny
linear-Gaussian model, and the statistical comparisons (``z_scores``, ``judge_terms_against``
...) that the hidden judges share, with the grader's own expectations."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import as_tensor, describe, expect_finite, expect_tensor
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.topics.t08_hierarchical_vae.inputs import (
    KNOWN_A2,
    KNOWN_AP,
    KNOWN_BP,
    KNOWN_MU1,
    KNOWN_MU2,
)
from autograder.topics.t08_hierarchical_vae.probes import BETA, M1, M2, MODEL_N, D

F64 = torch.float64


def z_scores(values: torch.Tensor, expected: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean of the draws, |z| against expected = [mean, se]) per component, float32 slack."""
    v = values.detach().to(F64)
    mean = v.mean(0)
    se = v.std(0) / math.sqrt(v.shape[0]) if v.shape[0] > 1 else torch.zeros_like(mean)
    slack = 1e-4 * expected[0].abs() + 1e-4
    return mean, (mean - expected[0]).abs() / ((se**2 + expected[1] ** 2).sqrt() + slack)


def _terms(j: Judgement) -> dict[str, torch.Tensor]:
    got = j.got.get("terms") if isinstance(j.got, dict) else None
    if not isinstance(got, dict):
        raise CheckFailed(f"elbo_terms(x) should return a dict with keys 'rec', 'kl1', 'kl2', "
                          f"but it returned {describe(got)}.")
    missing = [k for k in ("rec", "kl1", "kl2") if k not in got]
    if missing:
        raise CheckFailed(f"elbo_terms(x) has no key(s) {missing}: return "
                          "dict(rec=..., kl1=..., kl2=...).")
    out = {}
    for key in ("rec", "kl1", "kl2"):
        value = got[key]
        if isinstance(value, torch.Tensor) and value.dim() == 0:
            raise CheckFailed(f"elbo_terms(x)['{key}'] is a single number: return one value "
                              f"per example, shape [B] = [{MODEL_N}] (no mean over the batch).")
        out[key] = expect_tensor(value, f"elbo_terms(x)['{key}']", shape=(MODEL_N,),
                                 dtype=j.inputs["x"].dtype, device=j.device)
        expect_finite(out[key], f"elbo_terms(x)['{key}']")
    return out


def model_kind(j: Judgement) -> str:
    return "top_down" if "top_down" in j.inputs["kind"] else "bottom_up"


def judge_terms_against(j: Judgement, exp: dict[str, torch.Tensor]) -> None:
    """E[rec], E[kl1], E[kl2] match the grader's, with bugs named."""
    kind = model_kind(j)
    terms = _terms(j)
    limit = normal_threshold(FALSE_FAILURE_RATE / 3)
    kl1 = terms["kl1"]
    if kind == "top_down" and bool((kl1.abs() < 1e-6).all()):
        raise CheckFailed("kl1 is zero for every example: q(z1|z2, x) equals p(z1|z2), so the "
                          "posterior of z1 ignores x. The top-down posterior merges the "
                          "bottom-up estimate q_z1(x) with p(z1|z2) (precision_weighted_merge).")
    for key, what in (("kl1", "the z1 KL term kl1"), ("kl2", "the z2 KL term kl2"),
                      ("rec", "the reconstruction term rec")):
        mean, z = z_scores(terms[key], exp[key])
        if float(z) <= limit:
            continue
        message = (f"the average of {MODEL_N} draws of {what} is {float(mean):.3f}, but its "
                   f"expectation is {float(exp[key][0]):.3f} (z = {float(z):.1f}, threshold "
                   f"{limit:.1f} at false-failure rate {FALSE_FAILURE_RATE:g}).")
        if key == "kl1":
            _, z_std = z_scores(terms[key], exp["kl1_std"])
            if float(z_std) <= limit:
                message += (" Likely cause: the KL of z1 was computed against N(0, I); in a "
                            "hierarchical VAE the prior of z1 is p(z1|z2) at the sampled z2.")
            elif float(z_scores(terms[key], exp["kl2"])[1]) <= limit:
                message += " Likely cause: kl1 and kl2 are swapped."
        raise CheckFailed(message)
    means = j.got.get("posterior")
    if not isinstance(means, (tuple, list)) or len(means) != 2:
        raise CheckFailed("posterior(x) should return (q(z1|.), q(z2|.)).")
    expect_tensor(means[0], "posterior(x)[0].mean", shape=(MODEL_N, M1), device=j.device)
    expect_tensor(means[1], "posterior(x)[1].mean", shape=(MODEL_N, M2), device=j.device)


def judge_gradients_against(j: Judgement, exp: dict[str, torch.Tensor],
                     diagnose: Callable[[Judgement, dict[str, torch.Tensor], float],
                                        str | None] | None = None) -> None:
    """E[d elbo / d theta] of both inference layers matches: z1 and z2 are reparameterised.

    ``diagnose`` names the latent drawn with .sample() when the evidence singles it out (the
    hidden checks pass the grader's own; the public one states what was measured)."""
    elbo = j.got.get("elbo") if isinstance(j.got, dict) else None
    if isinstance(elbo, torch.Tensor) and elbo.dim() == 0:
        raise CheckFailed(f"elbo(x) returned a single number: it must return one ELBO per "
                          f"example, shape [B] = [{MODEL_N}] (forward takes the mean).")
    elbo = expect_tensor(elbo, "elbo(x)", shape=(MODEL_N,), device=j.device)
    exp_elbo = torch.stack([exp["rec"][0] - exp["kl1"][0] - exp["kl2"][0],
                            (exp["rec"][1] ** 2 + exp["kl1"][1] ** 2 + exp["kl2"][1] ** 2).sqrt()])
    limit = normal_threshold(FALSE_FAILURE_RATE / (1 + 2 * (M1 + M2)))
    mean, z = z_scores(elbo, exp_elbo)
    if float(z) > limit:
        raise CheckFailed(f"the average of elbo(x) is {float(mean):.3f}, but E[rec - kl1 - kl2]"
                          f" = {float(exp_elbo[0]):.3f} (z = {float(z):.1f}): elbo(x) should "
                          "be rec - kl1 - kl2.")
    layers = (("grad1", "z1", "q_z1"), ("grad2", "z2", "q_z2"))
    grads, failing = {}, []
    for key, name, module in layers:
        grad = j.got.get(key)
        if grad is None:
            raise CheckFailed(f"no gradient reached {module}'s parameters: {name} must be drawn "
                              f"with .rsample() (reparameterised), not .sample().")
        grads[key] = expect_tensor(grad, f"the gradient of {module}'s parameters", device=None)
        expect_finite(grads[key], f"the gradient of {module}'s parameters")
        got_mean, zs = z_scores(grads[key], exp[key])
        if not bool((zs <= limit).all()):
            failing.append((key, module, got_mean, zs))
    if not failing:
        return
    key, module, got_mean, zs = failing[0]
    message = (f"the average gradient of elbo(x) with respect to {module}'s [mean, logvar] is "
               f"{[round(v, 3) for v in got_mean.tolist()]}, expected "
               f"{[round(v, 3) for v in exp[key][0].tolist()]} (max z = {float(zs.max()):.1f}, "
               f"threshold {limit:.1f}; layers whose gradient is off: "
               f"{', '.join(f[1] for f in failing)}).")
    cause = diagnose(j, grads, limit) if diagnose else None
    if cause:
        message += (f" Likely cause: {cause} drawn with .sample() instead of .rsample(): "
                    f".sample() detaches {cause}, so no gradient flows back through it (the "
                    f"gradients of both layers match that bug's).")
    raise CheckFailed(message)


def judge_forward_against(j: Judgement, exp: dict[str, torch.Tensor]) -> None:
    """forward(x) = -mean(rec - kl1 - kl2); forward(x, beta) weights only the KL terms."""
    terms = _terms(j)
    rec, kl = float(exp["rec"][0]), float(exp["kl1"][0] + exp["kl2"][0])
    limit = normal_threshold(FALSE_FAILURE_RATE / 2)
    for key, beta in (("loss", 1.0), ("loss_beta", BETA)):
        value = j.got.get(key)
        call_text = "model(x)" if beta == 1.0 else f"model(x, beta={beta})"
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            raise CheckFailed(f"{call_text} returned shape {list(value.shape)}: forward must "
                              "return a scalar, the batch mean of -(rec - beta (kl1 + kl2)).")
        value = float(as_tensor(value, call_text))
        draws = (terms["rec"] - beta * (terms["kl1"] + terms["kl2"])).to(F64)
        se = float(draws.std()) / math.sqrt(MODEL_N) + float(exp["rec"][1]) + 1e-4 * abs(rec)
        expected = -(rec - beta * kl)
        if abs(value - expected) <= limit * se + 1e-3:
            continue
        hints = {
            "beta multiplies the reconstruction term; the warm-up weight beta multiplies only "
            "the KL terms, -(rec - beta * (kl1 + kl2))": -(beta * rec - kl),
            "the loss is +ELBO; forward returns the NEGATIVE (weighted) ELBO":
                rec - beta * kl,
            "beta is ignored": -(rec - kl),
            "the loss sums over the batch; take the mean": MODEL_N * expected,
        }
        named = [text for text, v in hints.items()
                 if abs(value - v) <= limit * se * (MODEL_N if "sums" in text else 1) + 1e-3]
        message = (f"{call_text} = {value:.3f}, but -(E[rec] - beta * E[kl1 + kl2]) = "
                   f"{expected:.3f} (beta = {beta}).")
        if named:
            message += f" Likely cause: {named[0]}."
        raise CheckFailed(message)


def _known_moments(j: Judgement) -> dict[str, torch.Tensor]:
    """Exact expectations of the terms and of the gradients w.r.t. [mu, logvar] of both
    inference layers (standard error 0), derived by hand for the tiny model (unit variances:
    the Gaussian KL terms reduce to squared distances)."""
    mu1, mu2, ap, bp, a2 = (torch.tensor(v, dtype=F64) for v in (
        KNOWN_MU1, KNOWN_MU2, KNOWN_AP, KNOWN_BP, KNOWN_A2))
    eye = torch.eye(2, dtype=F64)
    cols = lambda a: (a**2).sum(0)  # noqa: E731 - squared norms of the columns
    if model_kind(j) == "bottom_up":
        # z1 - Ap z2 - bp = (I - Ap A2) z1 - Ap mu2 - bp - Ap eps2, with z1 = mu1 + eps1.
        b, m = eye - ap @ a2, (eye - ap @ a2) @ mu1 - ap @ mu2 - bp
        kl1 = -1 + 0.5 * (m @ m + (b**2).sum() + (ap**2).sum())
        kl2 = 0.5 * ((a2 @ mu1 + mu2) @ (a2 @ mu1 + mu2) + (a2**2).sum())
        kl1_std = 0.5 * mu1 @ mu1
        grad1 = torch.cat([-b.T @ m - a2.T @ (a2 @ mu1 + mu2),
                           0.5 - 0.5 * cols(b) - 0.5 * cols(a2)])
        grad2 = torch.cat([ap.T @ m - (a2 @ mu1 + mu2), -0.5 * cols(ap)])
    else:
        # q(z1|z2, x) = N((mu1 + a) / 2, I / 2) with a = Ap z2 + bp, z2 = mu2 + eps2.
        d, s = mu1 - ap @ mu2 - bp, mu1 + ap @ mu2 + bp
        kl1 = math.log(2) - 0.5 + (d @ d + (ap**2).sum()) / 8
        kl2 = 0.5 * mu2 @ mu2
        kl1_std = math.log(2) - 0.5 + (s @ s + (ap**2).sum()) / 8
        grad1 = torch.cat([-d / 4, 0.125 + (d**2 + (ap**2).sum(1)) / 8])
        grad2 = torch.cat([ap.T @ d / 4 - mu2, -cols(ap) / 8])
    rec = torch.tensor(-D * math.log(2.0), dtype=F64)
    return {name: torch.stack([torch.as_tensor(v, dtype=F64), torch.zeros((), dtype=F64)])
            if torch.as_tensor(v).dim() == 0 else torch.stack([v, torch.zeros_like(v)])
            for name, v in (("rec", rec), ("kl1", kl1), ("kl2", kl2), ("kl1_std", kl1_std),
                            ("grad1", grad1), ("grad2", grad2))}


def judge_terms_known(j: Judgement) -> None:
    judge_terms_against(j, _known_moments(j))


def judge_gradients_known(j: Judgement) -> None:
    judge_gradients_against(j, _known_moments(j))  # no diagnosis: it needs grader-only code


def judge_forward_known(j: Judgement) -> None:
    judge_forward_against(j, _known_moments(j))
