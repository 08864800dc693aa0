"""Judges of topic 02's public checks: values worked by hand and properties every KL has
(zero at equality, non-negative, additive over independent dimensions, invariant under an
invertible map); no reference, nothing grader-only. Tolerances are keyword parameters, set in
the rows of ``tasks.py``."""

from __future__ import annotations

import math
from typing import Any

import sympy
import torch

from autograder.checks.api import CheckFailed, Judgement
from autograder.checks.compare import (
    as_tensor,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.symbolic import confirm_same, confirm_values, encode, is_zero, to_sympy
from autograder.topics.t02_gaussian_kl.probes import (
    GAUSS_TARGET,
    MC_SAMPLES,
    MIXTURE,
    sympy_symbols,
)

F64 = torch.float64


def same_expression(a: Any, b: Any, symbols: tuple[Any, ...]) -> bool:
    """Symbolic equality, with a high-precision numeric fallback for unsimplified forms."""
    diff = a - b
    try:
        if is_zero(sympy.expand_log(diff, force=True)):
            return True
    except Exception:  # noqa: BLE001 - simplification can fail on odd forms: go numeric
        pass
    points = ((0.3, 1.7, -1.2, 0.8), (2.1, 0.6, 0.4, 2.5), (-1.5, 1.1, 1.5, 0.45))
    free = [s for s in symbols if isinstance(s, sympy.Symbol)]
    for values in points:
        subs = dict(zip(free, values, strict=False))
        try:
            x = complex(sympy.N(a.subs(subs), 40))
            y = complex(sympy.N(b.subs(subs), 40))
        except Exception:  # noqa: BLE001
            return False
        if not abs(x - y) <= 1e-12 + 1e-12 * abs(y):
            return False
    return True


def sympy_value(j: Judgement) -> Any:
    value = to_sympy(j.got, "kl_normal_sympy(...)")
    if isinstance(value, sympy.MatrixBase):
        raise CheckFailed("kl_normal_sympy should return a scalar sympy expression, not a Matrix.")
    return value


SYMPY_MOCK = (((0, 1, 1, 2), {
    "": math.log(2) - 0.25,
    "the KL has the wrong direction: KL is not symmetric, the expectation is under the FIRST "
    "distribution": 2 - math.log(2),
    "s1, s2 were used as variances instead of standard deviations (variance/std confusion)":
        0.5 * math.log(2),
    "the sign is flipped: KL = E_q[log q - log p], not E_q[log p - log q]": 0.25 - math.log(2),
    "a factor 1/2 is missing": 2 * math.log(2) - 0.5,
    "the factor 1/2 is missing in the Gaussian exponent -(x - mu)^2 / (2 s^2)":
        math.log(2) - 0.5,
}), ((2, 3, -1, 1), {"": 8.5 - math.log(3)}))
"""(mu1, s1, mu2, s2) and KL values worked by hand: the right one under "", then bugs."""


def judge_sympy_mock(j: Judgement) -> None:
    got = sympy_value(j)
    if any(str(v) == "x" for v in got.free_symbols):
        raise CheckFailed("the result still depends on the integration variable: integrate over "
                          "x from -oo to oo (sympy.integrate(..., (x, -sympy.oo, sympy.oo))).")
    for values, cases in SYMPY_MOCK:
        subs = dict(zip(sympy_symbols(), values, strict=True))
        try:
            number = complex(sympy.N(got.subs(subs), 30))
        except Exception:  # noqa: BLE001 - a form that does not evaluate to a number
            raise CheckFailed("kl_normal_sympy(mu1, s1, mu2, s2) does not evaluate to a number "
                              f"at mu1, s1, mu2, s2 = {values}.") from None
        if abs(number - cases[""]) <= 1e-9:
            continue
        for concept, wrong in cases.items():
            if concept and abs(number - wrong) <= 1e-9:
                raise CheckFailed(f"kl_normal_sympy is not the Gaussian KL. Likely cause: "
                                  f"{concept}.")
        raise CheckFailed(f"KL(N({values[0]}, {values[1]}^2) || N({values[2]}, {values[3]}^2)) "
                          f"should be {cases['']:.6f} (worked by hand), got {number.real:.6f}.")


def judge_sympy_equal(j: Judgement) -> None:
    got = sympy_value(j)
    mu, s = sympy.Symbol("mu", real=True), sympy.Symbol("s", positive=True)
    if not same_expression(got, sympy.Integer(0), (mu, s)):
        raise CheckFailed(f"KL(N(mu, s^2) || N(mu, s^2)) must be 0 (a distribution has zero "
                          f"divergence from itself), got {sympy.simplify(got)}.")


def confirm_sympy_mock(j: Judgement) -> None:
    """The grading process's own look at the hand-worked values."""
    names = [str(s) for s in sympy_symbols()]
    for values, cases in SYMPY_MOCK:
        confirm_values(j.got, dict(zip(names, values, strict=True)), [cases[""]],
                       "kl_normal_sympy(mu1, s1, mu2, s2)")


def confirm_sympy_equal(j: Judgement) -> None:
    """KL(N(mu, s^2) || N(mu, s^2)) is 0 at random points, by the grading process's count."""
    confirm_same(j.got, encode(sympy.Integer(0)), "KL(N(mu, s^2) || N(mu, s^2))", "kl.equal")


def judge_diag_mock(j: Judgement) -> None:
    """Worked by hand, per dimension ½(logvar_p - logvar_q + (var_q + (mu_q - mu_p)²)/var_p - 1):
    row 0: ½ + ¼ = 0.75; row 1: (½ log 2 - 1/8) + (½ log 2 + 3/4) = log 2 + 0.625."""
    l2 = math.log(2.0)
    expected = torch.tensor([0.75, l2 + 0.625], dtype=F64)
    r2 = math.sqrt(2.0)
    hints = {  # the same two rows under each classic bug, also by hand
        "the factor 1/2 is missing (KL = 1/2 [ ... ])": 2 * expected,
        "the KL has the wrong direction: this is KL(p || q), not KL(q || p) (KL is not "
        "symmetric)": torch.tensor([0.75, 3.25 - l2], dtype=F64),
        "the per-dimension terms were averaged (mean) instead of summed over the last "
        "dimension": expected / 2,
        "logvar was treated as a log standard deviation (variance = exp(logvar), not "
        "exp(2 logvar))": torch.tensor([0.625, 2 * l2 - 0.125], dtype=F64),
        "the standard deviation exp(logvar / 2) was used as the variance (variance/std "
        "confusion)": torch.tensor([0.5 + 0.5 / r2, l2 / 2 + 3 / r2 - 0.875], dtype=F64),
        "the '- 1' per dimension is missing": expected + 1.0,
        "the log-variance term has the wrong sign (it is logvar_p - logvar_q)":
            torch.tensor([0.75, 0.625 - l2], dtype=F64),
        "the variance ratio is inverted (it is var_q / var_p)": expected + torch.tensor(
            [0.0, 1.5], dtype=F64),
    }
    expect_tensor(j.got, "kl_diag_gaussians(...)", shape=(2,), dtype=F64, device=j.device)
    expect_close(j.got, expected, "KL(q || p) for the hand-checkable example", reveal=True,
                 hints=hints)


def judge_diag_properties(j: Judgement, *, zero_atol: float) -> None:
    """Properties every KL between diagonal Gaussians has; no closed form needed."""
    mu_q = j.inputs["mu_q"]
    batch = tuple(mu_q.shape[:-1])
    got = j.got if isinstance(j.got, dict) else {}

    def value(key: str, what: str, shape: tuple[int, ...] = batch) -> torch.Tensor:
        found = expect_tensor(got.get(key), what, shape=shape, dtype=mu_q.dtype, device=j.device)
        expect_finite(found, what)
        return found

    kl = value("kl", "kl_diag_gaussians(q [3, 4, 5], p [5])")
    expect_close(value("self", "kl_diag_gaussians(q, q)"), torch.zeros(batch, dtype=mu_q.dtype),
                 "KL(q || q) (it must be 0)", reveal=True, atol=zero_atol,
                 hints={"the '- 1' per dimension is missing": torch.full(batch, 2.5)})
    if (kl < -zero_atol).any():
        raise CheckFailed(f"the KL is negative (min {float(kl.min()):.4g}); KL(q || p) >= 0 "
                          "always. Check the signs of the log-variance and '- 1' terms.")
    expect_close(value("expanded", "kl_diag_gaussians(q, p expanded to q's shape)"), kl,
                 "the KL with p expanded to q's shape vs p broadcast (they must agree)",
                 reveal=True)
    per_dim = got.get("per_dim")
    if not isinstance(per_dim, list) or len(per_dim) != mu_q.shape[-1]:
        raise CheckFailed("could not evaluate the KL one dimension at a time.")
    total = sum(expect_tensor(d, "kl_diag_gaussians on one dimension [..., 1]", shape=batch,
                              device=j.device).to(kl.dtype) for d in per_dim)
    expect_close(kl, total, "the KL over 5 dimensions vs the sum of the 5 one-dimensional KLs "
                 "(independent dimensions add up)", reveal=True, hints={
                     "the per-dimension terms were averaged (mean) instead of summed over the "
                     "last dimension": total / mu_q.shape[-1]})
    expect_close(value("mapped", "kl_diag_gaussians after x -> 3x - 1"), kl,
                 "the KL after mapping both Gaussians by x -> 3x - 1 (KL does not change under "
                 "an invertible map; the variances grow by 9, so logvar by 2 log 3: a change "
                 "means logvar is not read as a log-variance, variance = exp(logvar))",
                 reveal=True)


def judge_std_mock(j: Judgement) -> None:
    # 1/2 sum(exp(logvar) + mu^2 - 1 - logvar) per row, worked by hand
    expected = torch.tensor([0.0, 3 - 0.5 * math.log(2) + 0.5 * math.exp(-1),
                             0.5 * math.e - 0.5], dtype=F64)
    expect_tensor(j.got, "kl_standard_normal(mu, logvar)", shape=(3,), dtype=F64,
                  device=j.device)
    reverse = torch.tensor([0.0, 0.5 * math.log(2) + 2.5 * math.e - 1,
                            0.5 * math.exp(-1) + 0.5], dtype=F64)
    hints = {"the KL has the wrong direction: this is KL(N(0, I) || q), not KL(q || N(0, I))":
             reverse, "the '- 1' per dimension is missing": expected + 1,
             "the sign is flipped: KL = E_q[log q - log p]": -expected,
             "the factor 1/2 is missing (KL = 1/2 [ ... ])": 2 * expected,
             "the standard deviation exp(logvar / 2) was used as the variance (variance/std "
             "confusion)": torch.tensor([0.0, 0.5 * math.sqrt(2) - 0.25 * math.log(2)
                                         + 0.5 * math.exp(-0.5) + 1.75,
                                         0.5 * math.exp(0.5) - 0.25], dtype=F64)}
    expect_close(j.got, expected, "KL(q || N(0, I)) for the hand-checkable example",
                 reveal=True, hints=hints)


def judge_std_zero(j: Judgement) -> None:
    got = expect_tensor(j.got, "kl_standard_normal(mu [4, 6, 8], logvar [4, 6, 8])", shape=(4, 6),
                        dtype=torch.float32, device=j.device)
    expect_close(got, torch.zeros(4, 6), "KL(N(0, I) || N(0, I)) (it must be 0)", reveal=True,
                 hints={"the '- 1' per dimension is missing": torch.full((4, 6), 4.0)})


def judge_mvn_mock(j: Judgement) -> None:
    """Worked by hand: cov1⁻¹ = diag(1, 1/4), tr(cov1⁻¹ cov0) = 2.25, mu1 - mu0 = (-1, -1) so
    the Mahalanobis term is 1.25, det cov0 = 1.75, det cov1 = 4:
    KL = ½(2.25 + 1.25 - 2 + log(4 / 1.75)) = 0.75 + ½ log(16/7)."""
    logdet = math.log(16.0 / 7.0)
    expected = torch.tensor(0.75 + 0.5 * logdet, dtype=F64)
    expect_tensor(j.got, "kl_mvn(...) for unbatched inputs", shape=(), dtype=F64,
                  device=j.device)
    expect_close(j.got, expected, "KL(N0 || N1) for the 2-D example", reveal=True, hints={
        "the factor 1/2 is missing": 2 * expected,
        # KL(N1 || N0): tr(cov0⁻¹ cov1) = 36/7, Mahalanobis 8/7, log det ratio log(7/16)
        "the KL has the wrong direction: this is KL(N1 || N0), not KL(N0 || N1) (KL is not "
        "symmetric)": torch.tensor(15.0 / 7.0 - 0.5 * logdet, dtype=F64),
        "the log-determinant term has the wrong sign (it is log det cov1 - log det cov0)":
            expected - logdet,
        "the dimension D is not subtracted": expected + 1.0,
    })


def stable_kl_d40(value: Any, what: str, device: str) -> torch.Tensor:
    """Three float32 KLs of 40-D Gaussians, all finite (a failure names the Cholesky log det)."""
    got = expect_tensor(value, what, shape=(3,), dtype=torch.float32, device=device)
    if not torch.isfinite(got).all():
        raise CheckFailed(
            "kl_mvn returned inf/NaN in float32 for 40-D covariances with eigenvalues around "
            "0.01 (or 100): det(cov) underflows to 0 (or overflows) in float32. Compute log det "
            "from a Cholesky factor, log det S = 2 sum(log diag(L)), never log(det(S)).")
    return got


def judge_mvn_scaled(j: Judgement, *, self_atol: float, rtol: float, atol: float) -> None:
    """For cov1 = c cov0 and mu1 - mu0 = t v: KL = ½(D/c - D + D log c + t²/(c e))."""
    kl, self_kl = expect_sequence(j.got, 2, "the probe")
    kl = stable_kl_d40(kl, "kl_mvn(...) in float32 with D = 40, batch [3]", j.device)
    self_kl = expect_tensor(self_kl, "kl_mvn(N0, N0)", shape=(3,), device=j.device)
    expect_close(self_kl, torch.zeros(3), "KL(N0 || N0) in float32 with D = 40 (it must be 0)",
                 reveal=True, atol=self_atol, check_dtype=False)
    d, c, t, e = 40, j.inputs["scale"], j.inputs["shift"], j.inputs["eig0"]
    expected = 0.5 * (d / c - d + d * c.log() + t**2 / (c * e))
    expect_close(kl, expected.float(), "the float32 KL for tiny, huge and ill-conditioned "
                 "(cond 1e4) covariances with cov1 = c cov0", reveal=True, rtol=rtol, atol=atol,
                 check_dtype=False, hints={"the factor 1/2 is missing": 2 * expected,
                                           "the dimension D is not subtracted": expected + d / 2})


CLT_MARGIN = 1.25


def mc_normal_exact() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(q || p), KL(p || q) and Var_q[log q - log p] for ``mc_normal_inputs``, worked by
    hand per element (the variance is the exam-practice question ``kl.exam_log_ratio_variance``,
    so its derivation is not spelled out here)."""
    l2, l15 = math.log(2.0), math.log(1.5)
    kl = torch.tensor([l2 - 0.375, l2 + 0.125, 3.5 - l2, 1.125 - l15], dtype=F64)
    reverse = torch.tensor([1.5 - l2, 3.5 - l2, l2 + 0.125, l15 - 1.0 / 18.0], dtype=F64)
    var = torch.tensor([9.0 / 32.0, 17.0 / 32.0, 20.5, 97.0 / 32.0], dtype=F64)
    return kl, reverse, var


def judge_mc_normal(j: Judgement) -> None:
    judge_mc_against(j, *mc_normal_exact())


def judge_mc_against(j: Judgement, kl: torch.Tensor, reverse: torch.Tensor, var: torch.Tensor
                      ) -> None:
    """The estimates within the CLT bound of the exact ``kl`` (per-sample variance ``var``),
    different for different seeds, and 0 for q = p; ``reverse`` = KL(p || q) names a bug."""
    batch = tuple(kl.shape)
    dtype = j.inputs["mq"].dtype
    first, second, self_kl = expect_sequence(j.got, 3, "the probe")
    first = expect_tensor(first, "kl_monte_carlo(q, p, n)", shape=batch, dtype=dtype,
                          device=j.device)
    expect_finite(first, "the estimate")
    self_kl = expect_tensor(self_kl, "kl_monte_carlo(q, q, n)", shape=batch, device=j.device)
    expect_close(self_kl, torch.zeros(batch, dtype=dtype), "KL(q || q) (log q - log q is 0 for "
                 "every sample)", reveal=j.inputs["kind"] == "normal", atol=1e-5)
    se = (var / MC_SAMPLES).sqrt()
    bound = CLT_MARGIN * normal_threshold(FALSE_FAILURE_RATE / (2 * len(kl)))
    for estimate in (first, expect_tensor(second, "kl_monte_carlo(q, p, n)", shape=batch)):
        z = ((estimate.to(F64) - kl) / se).abs()
        if (z <= bound).all():
            continue
        diagnosis = ""
        if (((estimate.to(F64) + kl) / se).abs() <= bound).all():
            diagnosis = " The sign is flipped: average log q(x) - log p(x), not log p - log q."
        elif (((estimate.to(F64) - reverse) / (reverse.abs() * 0.05 + se)).abs() <= bound).all():
            diagnosis = (" It matches KL(p || q): sample from q and average log q(x) - log p(x)"
                         " (the KL is not symmetric).")
        elif ((estimate.to(F64) / MC_SAMPLES - kl).abs() <= bound * se).all():
            diagnosis = " The log-ratios were summed over samples instead of averaged."
        worst = int(z.argmax())
        detail = (f"batch element {worst}: estimate {float(estimate[worst]):.4g}, exact KL "
                  f"{float(kl[worst]):.4g}, " if j.inputs["kind"] == "normal" and not j.hidden
                  else "")
        raise CheckFailed(
            f"the estimate is further from the exact KL than Monte Carlo noise allows ({detail}"
            f"|z| = {float(z.max()):.1f} > {bound:.1f}, false-failure rate "
            f"{FALSE_FAILURE_RATE:g} with n = {MC_SAMPLES}).{diagnosis}")
    if torch.equal(first, second):
        raise CheckFailed("two different seeds gave exactly the same estimate: kl_monte_carlo "
                          "must average log q(x) - log p(x) over samples x ~ q drawn with "
                          "torch's generator (q.rsample or q.sample), not use the closed form.")


def scalar_or_tensor(value: Any, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    t = as_tensor(value, what)
    if tuple(t.shape) != shape and not (shape == () and t.numel() == 1):
        raise CheckFailed(f"{what} has shape {list(t.shape)}, expected {list(shape)} "
                          "(statistics over the first dimension, the samples).")
    return t.reshape(shape).to(F64)


def judge_forward(j: Judgement, *, mean_rtol: float, mean_atol: float, std_rtol: float,
                  std_atol: float) -> None:
    """mu is the sample mean; sigma the standard deviation, with 1/N or 1/(N - 1) (each
    within ``std_rtol`` relative and ``std_atol`` absolute)."""
    x = j.inputs["samples"]
    mu, sigma = expect_sequence(j.got, 2, "fit_gaussian_forward_kl")
    shape = tuple(x.shape[1:])
    for value, what in ((mu, "mu"), (sigma, "sigma")):
        if isinstance(value, torch.Tensor):
            expect_tensor(value, what, dtype=x.dtype, device=j.device)
    mu = scalar_or_tensor(mu, "mu", shape)
    sigma = scalar_or_tensor(sigma, "sigma", shape)
    x64 = x.to(F64)
    expect_close(mu, x64.mean(0), "mu (forward KL is minimised by matching the mean)",
                 reveal=True, rtol=mean_rtol, atol=mean_atol)
    std = x64.std(0, correction=0)
    n = x.shape[0]
    ok_low, ok_high = std * (1 - std_rtol), std * math.sqrt(n / (n - 1)) * (1 + std_rtol)
    if ((sigma >= ok_low - std_atol) & (sigma <= ok_high + std_atol)).all():
        return
    hint = ""
    if torch.allclose(sigma, std**2, rtol=1e-3):
        hint = " It equals the variance: return the standard deviation sigma = sqrt(variance)."
    elif torch.allclose(sigma, std.log(), rtol=1e-3, atol=1e-4):
        hint = " It equals log sigma: return sigma itself."
    got, want = sigma.flatten()[:3].tolist(), std.flatten()[:3].tolist()
    raise CheckFailed("sigma should be the standard deviation of the samples (forward KL is "
                      f"minimised by matching mean and variance), got {got} instead of "
                      f"{want}.{hint}")


def fitted(j: Judgement) -> tuple[float, float]:
    fit, _ = j.got
    mu, sigma = expect_sequence(fit, 2, "fit_gaussian_reverse_kl")
    mu, sigma = as_tensor(mu, "mu"), as_tensor(sigma, "sigma")
    for t, what in ((mu, "mu"), (sigma, "sigma")):
        if t.numel() != 1:
            raise CheckFailed(f"{what} should be a number or a 1-element tensor, got shape "
                              f"{list(t.shape)}.")
        if not torch.isfinite(t).all():
            raise CheckFailed(f"the fitted {what} is not finite: the optimisation diverged "
                              "(are you maximising the KL instead of minimising it?).")
    return float(mu), float(sigma)


def reverse_diagnosis(mu: float, sigma: float, j: Judgement, target_mu: float,
                       target_sigma: float) -> str:
    mu0, sigma0 = j.inputs["mu0"], j.inputs["sigma0"]
    if not j.got[1]:
        return (" log_p was never evaluated at points that carry gradients, so the log p term "
                "gives no gradient: draw x = mu + sigma * eps with q.rsample() (the "
                "reparameterisation trick), not q.sample() or detached samples.")
    if abs(mu - mu0) < 0.05 and abs(sigma - sigma0) < 0.05:
        return (" mu and sigma barely moved from where they started: no gradient reaches them. "
                "Draw x = mu + sigma * eps (q.rsample(), the reparameterisation trick), not "
                "q.sample(), and take `steps` optimiser steps.")
    if sigma <= 0:
        return " sigma must be positive (optimise log sigma, or pass it through softplus)."
    if sigma < 0.4 * target_sigma:
        return (" sigma collapsed towards 0: the entropy part E_q[log q(x)] of the reverse KL is "
                "missing (minimising -E_q[log p(x)] alone puts all mass on the mode).")
    if abs(mu - target_mu) > abs(mu0 - target_mu) + 0.5 or sigma > 4 * max(target_sigma, sigma0):
        return (" mu/sigma moved away from the target: are you maximising E_q[log q - log p] "
                "instead of minimising it (gradient ascent)?")
    return ""


def judge_reverse_gauss(j: Judgement, *, mu_atol: float, sigma_atol: float) -> None:
    """The fit ends within ``mu_atol``/``sigma_atol`` of the single Gaussian target."""
    mu, sigma = fitted(j)
    t_mu, t_sigma = GAUSS_TARGET
    if abs(mu - t_mu) <= mu_atol and abs(sigma - t_sigma) <= sigma_atol:
        return
    raise CheckFailed(f"on the target N({t_mu}, {t_sigma}^2) the reverse-KL fit should end near "
                      f"mu = {t_mu}, sigma = {t_sigma} (KL = 0 there), got mu = {mu:.3f}, "
                      f"sigma = {sigma:.3f}." + reverse_diagnosis(mu, sigma, j, t_mu, t_sigma))


def judge_reverse_mixture(j: Judgement, *, mu_atol: float, sigma_atol: float) -> None:
    """The fit ends within ``mu_atol``/``sigma_atol`` of one of the mixture's modes."""
    mu, sigma = fitted(j)
    centre, scale = MIXTURE
    if abs(abs(mu) - centre) <= mu_atol and abs(sigma - scale) <= sigma_atol:
        return
    message = (f"on the well-separated mixture 1/2 N(-{centre}, {scale}^2) + 1/2 N({centre}, "
               f"{scale}^2), reverse KL is mode-seeking: the fit should lock onto one mode "
               f"(|mu| near {centre}, sigma near {scale}), got mu = {mu:.3f}, sigma = "
               f"{sigma:.3f}.")
    if sigma > 2.0:
        message += (" sigma is large enough to cover both modes: that is what FORWARD KL does "
                    "(mass-covering); minimise E_q[log q(x) - log p(x)] with x ~ q.")
    else:
        nearest = centre if j.inputs["mu0"] > 0 else -centre
        message += reverse_diagnosis(mu, sigma, j, nearest, scale)
    raise CheckFailed(message)
