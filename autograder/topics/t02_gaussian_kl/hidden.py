"""Topic 02's hidden checks: they compare with the reference solution's results or with the
grader's closed forms (``autograder.trusted.gaussian_kl``). Never shipped to students and
unreadable from the sandbox; attached to the rows of ``tasks.py`` by ``autograder.checks.rows``.
"""

from __future__ import annotations

from fractions import Fraction
from functools import partial
from typing import Any

import sympy
import torch

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_sequence, expect_tensor
from autograder.checks.exam import confirm_entries, sympy_entries
from autograder.symbolic import confirm_same, encode, is_zero, to_sympy
from autograder.topics.t02_gaussian_kl import inputs, probes
from autograder.topics.t02_gaussian_kl.probes import diag_args, mvn_args, sympy_symbols
from autograder.topics.t02_gaussian_kl.public import (
    judge_mc_against,
    same_expression,
    stable_kl_d40,
    sympy_value,
)
from autograder.trusted import gaussian_kl

F64 = torch.float64


def diag_hints(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
               ) -> dict[str, torch.Tensor]:
    """Values produced by the classic bugs of a diagonal-Gaussian KL (summed over dims)."""
    ok = gaussian_kl.diag_kl(mu_q, lv_q, mu_p, lv_p)
    dq, dp = lv_q.to(F64), lv_p.to(F64)
    var_ratio = (dq - dp).exp()
    return {
        "the factor 1/2 is missing (KL = 1/2 [ ... ])": 2 * ok.sum(-1),
        "the KL has the wrong direction: this is KL(p || q), not KL(q || p) (KL is not "
        "symmetric)": gaussian_kl.diag_kl(mu_p, lv_p, mu_q, lv_q).expand_as(ok).sum(-1),
        "the per-dimension terms were averaged (mean) instead of summed over the last "
        "dimension": ok.mean(-1),
        "logvar was treated as a log standard deviation (variance = exp(logvar), not "
        "exp(2 logvar))": gaussian_kl.diag_kl(mu_q, 2 * dq, mu_p, 2 * dp).sum(-1),
        "the standard deviation exp(logvar / 2) was used as the variance (variance/std "
        "confusion)": gaussian_kl.diag_kl(mu_q, dq / 2, mu_p, dp / 2).sum(-1),
        "the '- 1' per dimension is missing": (ok + 0.5).sum(-1),
        "the log-variance term has the wrong sign (it is logvar_p - logvar_q)":
            (ok + (dq - dp)).sum(-1),
        "the variance ratio is inverted (it is var_q / var_p)":
            (ok - 0.5 * var_ratio + 0.5 / var_ratio).sum(-1),
    }


def mvn_hints(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor
              ) -> dict[str, torch.Tensor]:
    """Values produced by the classic bugs of a full-covariance KL."""
    ok = gaussian_kl.mvn_kl(mu0, cov0, mu1, cov1)
    logdet = torch.logdet(cov1.to(F64)) - torch.logdet(cov0.to(F64))
    return {
        "the factor 1/2 is missing": 2 * ok,
        "the KL has the wrong direction: this is KL(N1 || N0), not KL(N0 || N1) (KL is not "
        "symmetric)": gaussian_kl.mvn_kl(mu1, cov1, mu0, cov0),
        "the log-determinant term has the wrong sign (it is log det cov1 - log det cov0)":
            ok - logdet,
        "the dimension D is not subtracted": ok + 0.5 * mu0.shape[-1],
    }


def judge_sympy_general(j: Judgement) -> None:
    got = sympy_value(j)
    mu1, s1, mu2, s2 = syms = sympy_symbols()
    expected = gaussian_kl.sympy_closed_form(mu1, s1, mu2, s2)
    if same_expression(got, expected, syms):
        return
    if any(str(s) == "x" for s in got.free_symbols):
        raise CheckFailed("the result still depends on the integration variable: integrate over "
                          "x from -oo to oo (sympy.integrate(..., (x, -sympy.oo, sympy.oo))).")
    hints = {
        "the KL has the wrong direction: this is KL(N(mu2, s2^2) || N(mu1, s1^2)) (KL is not "
        "symmetric: the expectation is under the FIRST distribution)":
            gaussian_kl.sympy_closed_form(mu2, s2, mu1, s1),
        "s1, s2 were used as variances instead of standard deviations (variance/std confusion)":
            gaussian_kl.sympy_closed_form(mu1, sympy.sqrt(s1), mu2, sympy.sqrt(s2)),
        "the sign is flipped: KL = E_q[log q - log p], not E_q[log p - log q]": -expected,
        "a factor 1/2 is missing": 2 * expected,
        "the factor 1/2 is missing in the Gaussian exponent -(x - mu)^2 / (2 s^2)":
            sympy.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / s2**2 - 1,
    }
    for concept, wrong in hints.items():
        if same_expression(got, wrong, syms):
            raise CheckFailed(f"kl_normal_sympy is not the Gaussian KL. Likely cause: {concept}.")
    raise CheckFailed("kl_normal_sympy(mu1, s1, mu2, s2) does not simplify to the Gaussian KL "
                      "for general symbols.")


def judge_sympy_reference(j: Judgement) -> None:
    got = sympy_value(j)
    ref = to_sympy(j.ref, "the reference")
    if got.free_symbols:
        raise CheckFailed("with numeric arguments the KL should be a number, but the result "
                          f"still has symbols {sorted(map(str, got.free_symbols))}.")
    if not same_expression(got, ref, ()):
        raise CheckFailed("kl_normal_sympy with numeric arguments (1, 2, -1/2, 3/2) differs from "
                          "the reference solution.")


def confirm_sympy_general(j: Judgement) -> None:
    """The grading process's own comparison with the closed form, at random points."""
    expected = encode(gaussian_kl.sympy_closed_form(*sympy_symbols()))
    confirm_same(j.got, expected, "kl_normal_sympy(mu1, s1, mu2, s2)", "kl.general")


def confirm_sympy_reference(j: Judgement) -> None:
    """The grading process's own comparison with the reference's number."""
    confirm_same(j.got, j.ref, "kl_normal_sympy(1, 2, -1/2, 3/2)", "kl.reference")


def judge_diag_invariants(j: Judgement) -> None:
    mu_q, lv_q, mu_p, lv_p = diag_args(j.inputs)
    kl, self_kl = expect_sequence(j.got, 2, "the probe")
    batch = tuple(mu_q.shape[:-1])
    kl = expect_tensor(kl, "kl_diag_gaussians(q [3, 4, 5], p [5])", shape=batch,
                       dtype=mu_q.dtype, device=j.device)
    expect_finite(kl, "the KL")
    self_kl = expect_tensor(self_kl, "kl_diag_gaussians(q, q)", shape=batch, device=j.device)
    expect_close(self_kl, torch.zeros(batch, dtype=mu_q.dtype), "KL(q || q) (it must be 0)",
                 reveal=True, atol=1e-5)
    if (kl < -1e-5).any():
        raise CheckFailed(f"the KL is negative (min {float(kl.min()):.4g}); KL(q || p) >= 0 "
                          "always. Check the signs of the log-variance and '- 1' terms.")
    expect_close(kl, gaussian_kl.diag_kl(mu_q, lv_q, mu_p, lv_p).sum(-1).to(kl.dtype),
                 "the float32 KL with p broadcast over q's batch dimensions", reveal=True,
                 hints=diag_hints(mu_q, lv_q, mu_p, lv_p))


def judge_diag_reference(j: Judgement) -> None:
    args = diag_args(j.inputs)
    expect_tensor(j.got, "kl_diag_gaussians(...)", shape=tuple(j.ref.shape), dtype=j.ref.dtype,
                  device=j.device)
    expect_close(j.got, j.ref, "kl_diag_gaussians", reveal=False, hints=diag_hints(*args))


def std_hints(mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    zeros = torch.zeros_like(mu)
    hints = diag_hints(mu, logvar, zeros, zeros)
    for key in list(hints):
        if key.startswith("the KL has the wrong direction"):
            value = hints.pop(key)
            hints["the KL has the wrong direction: this is KL(N(0, I) || q), not "
                  "KL(q || N(0, I))"] = value
    return hints


def judge_std_reference(j: Judgement) -> None:
    mu, logvar = j.inputs["mu"], j.inputs["logvar"]
    expect_tensor(j.got, "kl_standard_normal(mu, logvar)", shape=tuple(mu.shape[:-1]),
                  dtype=mu.dtype, device=j.device)
    expect_finite(j.got, "kl_standard_normal(mu, logvar)")
    expect_close(j.got, j.ref, "kl_standard_normal", reveal=False, hints=std_hints(mu, logvar))


def judge_mvn_batch(j: Judgement) -> None:
    mu0, cov0, mu1, cov1 = mvn_args(j.inputs)
    kl, self_kl, var, diag = expect_sequence(j.got, 4, "the probe")
    batch = tuple(mu0.shape[:-1])
    kl = expect_tensor(kl, "kl_mvn(mu0 [B, D], cov0 [B, D, D], ...)", shape=batch,
                       dtype=mu0.dtype, device=j.device)
    expect_finite(kl, "the KL")
    expect_close(expect_tensor(self_kl, "kl_mvn(N0, N0)", shape=batch, device=j.device),
                 torch.zeros(batch, dtype=mu0.dtype), "KL(N0 || N0) (it must be 0)",
                 reveal=True, atol=1e-4)
    lv = var.to(F64).log()
    expect_close(diag, gaussian_kl.diag_kl(mu0, lv, mu1, -lv).sum(-1).to(mu0.dtype),
                 "kl_mvn with diagonal covariances (it must equal the diagonal formula)",
                 reveal=True, hints=diag_hints(mu0, lv, mu1, -lv))
    expect_close(kl, gaussian_kl.mvn_kl(mu0, cov0, mu1, cov1).to(mu0.dtype),
                 "the batched float32 KL", reveal=True, hints=mvn_hints(mu0, cov0, mu1, cov1))


def judge_mvn_hard(j: Judgement, *, rtol: float, atol: float) -> None:
    args = mvn_args(j.inputs)
    got = stable_kl_d40(j.got, "kl_mvn(...) in float32 with D = 40", j.device)
    expect_close(got, gaussian_kl.mvn_kl(*args).to(torch.float32),
                 "the float32 KL for tiny, huge and ill-conditioned (cond 1e4) covariances, "
                 "against a float64 computation", reveal=True, rtol=rtol, atol=atol,
                 check_dtype=False)


def judge_mvn_reference(j: Judgement) -> None:
    args = mvn_args(j.inputs)
    expect_tensor(j.got, "kl_mvn(...)", shape=tuple(j.ref.shape), dtype=j.ref.dtype,
                  device=j.device)
    expect_close(j.got, j.ref, "kl_mvn", reveal=False, hints=mvn_hints(*args))


def as_gaussian(inputs: dict[str, Any], which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [B, D], cov [B, D, D]) in float64 for q or p."""
    m, s = inputs[f"m{which}"].to(F64), inputs[f"s{which}"].to(F64)
    if inputs["kind"] == "mvn":
        return m, s
    if inputs["kind"] == "normal":
        m, s = m.unsqueeze(-1), s.unsqueeze(-1)
    return m, torch.diag_embed(s**2)


def log_ratio_stats(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(q||p), KL(p||q) and Var_q[log q(x) - log p(x)] (exact for Gaussians)."""
    mq, cq = as_gaussian(inputs, "q")
    mp, cp = as_gaussian(inputs, "p")
    lq = torch.linalg.cholesky(cq)
    prec = torch.linalg.inv(cp)
    a = 0.5 * (lq.transpose(-1, -2) @ prec @ lq - torch.eye(mq.shape[-1], dtype=F64))
    b = (lq.transpose(-1, -2) @ prec @ (mq - mp).unsqueeze(-1)).squeeze(-1)
    var = 2 * (a @ a).diagonal(dim1=-2, dim2=-1).sum(-1) + (b**2).sum(-1)
    return gaussian_kl.mvn_kl(mq, cq, mp, cp), gaussian_kl.mvn_kl(mp, cp, mq, cq), var


def judge_mc(j: Judgement) -> None:
    judge_mc_against(j, *log_ratio_stats(j.inputs))


def mean_field_closed_form(names: tuple[str, str, str]) -> list[Any]:
    """The factor variances of the mean-field fits to N(0, [[s1², ρ s1 s2], [ρ s1 s2, s2²]]):
    forward KL (the marginals), then reverse KL (one over the precision's diagonal)."""
    s1, s2, rho = probes.mean_field_symbols(names)
    return [s1**2, s2**2, s1**2 * (1 - rho**2), s2**2 * (1 - rho**2)]


def judge_exam_mean_field_symbolic(j: Judgement) -> None:
    names = j.inputs["names"]
    got = sympy_entries(j.got, "mean_field_variances(a, b, r)", count=4)
    expected = mean_field_closed_form(names)
    extra = sorted({str(v) for g in got for v in g.free_symbols} - set(names))
    if extra:
        raise CheckFailed(f"the answer contains the symbol(s) {', '.join(extra)}, which are not "
                          "the arguments passed: build the variances from the arguments "
                          "s1, s2, rho, not from symbols created inside the function.")
    if all(is_zero(g - e) for g, e in zip(got, expected, strict=True)):
        return
    if all(is_zero(g - e) for g, e in zip(got, expected[2:] + expected[:2], strict=True)):
        raise CheckFailed("the answer is not right. Likely cause: forward and reverse are "
                          "swapped (the forward KL matches the marginal variances).")
    raise CheckFailed(f"for the symbols {', '.join(names)} the four variances are not "
                      "symbolically equal to the expected ones.")


MEAN_FIELD_HIDDEN_POINTS = ({"a": 3, "b": Fraction(1, 3), "r": Fraction(2, 3)},
                            {"a": Fraction(5, 4), "b": 2, "r": Fraction(-1, 5)})


def confirm_exam_mean_field_symbolic(j: Judgement) -> None:
    """The grading process's own evaluation of the four variances at two points."""
    for point in MEAN_FIELD_HIDDEN_POINTS:
        a, b, r = (float(point[k]) for k in ("a", "b", "r"))
        confirm_entries(j.got, point, [a * a, b * b, a * a * (1 - r * r), b * b * (1 - r * r)],
                        "mean_field_variances(a, b, r)")


def log_ratio_variance(mu1: Any, s1: Any, mu2: Any, s2: Any) -> Any:
    """Var_{x~q}[log q(x) - log p(x)] for q = N(mu1, s1²), p = N(mu2, s2²): with
    x = mu1 + s1 eps the log-ratio is ((s1/s2)² - 1) eps²/2 + s1 (mu1 - mu2) eps / s2² + c."""
    return ((s1**2 / s2**2 - 1) ** 2 / 2 + s1**2 * (mu1 - mu2) ** 2 / s2**4)


def judge_exam_log_ratio_variance_symbolic(j: Judgement) -> None:
    got = sympy_entries(j.got, "kl_log_ratio_variance(mu1, s1, mu2, s2)", count=1)[0]
    mu1, s1, mu2, s2 = syms = sympy_symbols()
    if same_expression(got, log_ratio_variance(*syms), syms):
        return
    hints = {
        "the variance was taken under p; the samples x come from q":
            log_ratio_variance(mu2, s2, mu1, s1),
        "Var[eps^2] of a standard normal eps is 2, not 1":
            (s1**2 / s2**2 - 1) ** 2 / 4 + s1**2 * (mu1 - mu2) ** 2 / s2**4,
        "this is the second moment E_q[(log q - log p)^2]: the variance subtracts the square "
        "of the mean, which is the KL":
            log_ratio_variance(*syms) + gaussian_kl.sympy_closed_form(*syms) ** 2,
    }
    for concept, wrong in hints.items():
        if same_expression(got, wrong, syms):
            raise CheckFailed(f"Var_q[log q - log p] is not right. Likely cause: {concept}.")
    raise CheckFailed("kl_log_ratio_variance(mu1, s1, mu2, s2) does not simplify to the "
                      "variance of the log-ratio for general symbols.")


def confirm_exam_log_ratio_variance_symbolic(j: Judgement) -> None:
    """The grading process's own comparison with the closed form, at random points."""
    expected = encode(log_ratio_variance(*sympy_symbols()))
    confirm_same(j.got, expected, "kl_log_ratio_variance(mu1, s1, mu2, s2)", "kl.exam_var")


LOG_RATIO_NUMBERS = sympy.Rational(337, 162)
"""log_ratio_variance(1, 2, -1/2, 3/2), the numbers of the hidden check."""


def judge_exam_log_ratio_variance_numbers(j: Judgement) -> None:
    got = sympy_entries(j.got, "kl_log_ratio_variance(1, 2, -1/2, 3/2)", count=1)[0]
    if got.free_symbols:
        raise CheckFailed("with numeric arguments the variance should be a number, but it still "
                          f"has the symbols {sorted(map(str, got.free_symbols))}.")
    if not is_zero(got - LOG_RATIO_NUMBERS):
        raise CheckFailed("kl_log_ratio_variance with the numeric arguments (1, 2, -1/2, 3/2) "
                          "is not the expected number.")


def confirm_exam_log_ratio_variance_numbers(j: Judgement) -> None:
    confirm_entries(j.got, {}, [float(LOG_RATIO_NUMBERS)], "kl_log_ratio_variance(1, 2, -1/2, 3/2)")


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "kl.sympy": (
        Check("KL(N(mu1, s1^2) || N(mu2, s2^2)) equals the closed form, symbolically",
              probes.probe_sympy_general, judge_sympy_general, id="general", hidden=True,
              confirm=confirm_sympy_general),
        Check("matches the reference for numeric arguments", probes.probe_sympy_numbers,
              judge_sympy_reference, id="reference", hidden=True, confirm=confirm_sympy_reference),
    ),
    "kl.diag": (
        Check("float32 shapes, broadcasting, KL(q||q) = 0 and KL >= 0",
              probes.probe_diag_invariants, judge_diag_invariants,
              partial(inputs.diag_random, dtype=torch.float32), id="invariants", hidden=True),
        Check("matches the reference (float64)", probes.diag, judge_diag_reference,
              partial(inputs.diag_random, (6, 7), (6, 7)), id="reference", hidden=True),
        Check("matches the reference when q [2, 1, D] and p [3, D] broadcast", probes.diag,
              judge_diag_reference, partial(inputs.diag_random, (2, 1, 4), (3, 4)),
              id="reference_hidden", hidden=True, seed=5),
        Check("kl_standard_normal matches the reference (float32, batch [4, 6])",
              probes.standard_normal, judge_std_reference, inputs.std_random,
              id="std_reference", hidden=True),
    ),
    "kl.mvn": (
        Check("batched float32: values, KL(N0||N0) = 0, agrees with the diagonal formula",
              probes.probe_mvn_batch, judge_mvn_batch,
              partial(inputs.mvn_random, 4, 3, torch.float32), id="batch", hidden=True),
        Check("numerically stable in float32 (D = 40, tiny/huge/ill-conditioned covariances)",
              probes.mvn, partial(judge_mvn_hard, rtol=2e-3, atol=1e-3), inputs.mvn_hard,
              id="hard", hidden=True),
        Check("matches the reference (float64, batch of 3, D = 5)", probes.mvn,
              judge_mvn_reference, inputs.mvn_random, id="reference", hidden=True),
    ),
    "kl.monte_carlo": (
        Check("Independent(Normal) with event shape [3]: one KL per batch element",
              probes.probe_mc, judge_mc, inputs.mc_independent_inputs, id="mc", hidden=True),
        Check("MultivariateNormal q, p in float64", probes.probe_mc, judge_mc,
              inputs.mc_mvn_inputs, id="mc_hidden", seed=3, hidden=True),
    ),
    "kl.exam_log_ratio_variance": (
        Check("the closed form, symbolically, for general mu1, s1, mu2, s2",
              probes.probe_exam_log_ratio_variance, judge_exam_log_ratio_variance_symbolic,
              id="symbolic", hidden=True, confirm=confirm_exam_log_ratio_variance_symbolic),
        Check("numeric arguments (1, 2, -1/2, 3/2) give the exact number",
              probes.probe_exam_log_ratio_variance_numbers,
              judge_exam_log_ratio_variance_numbers, id="numbers", hidden=True,
              confirm=confirm_exam_log_ratio_variance_numbers),
    ),
    "kl.exam_mean_field": (
        Check("the closed forms, symbolically, for symbols named a, b, r",
              probes.probe_exam_mean_field, judge_exam_mean_field_symbolic,
              partial(inputs.symbol_names, "a", "b", "r"), id="symbolic", hidden=True,
              confirm=confirm_exam_mean_field_symbolic),
    ),
}
"""Topic 02's hidden checks, by task (see ``autograder.checks.rows``)."""
