"""Topic 02: KL divergences between Gaussians. Checks for the seven graded symbols.

Gaussians are given by mean and log-variance (``logvar``) unless a name says ``cov`` or
``std``/``sigma``. ``KL(q || p) = E_q[log q - log p]``; the first argument is always q.
Public checks (the student kit's) use values worked by hand and properties every KL has
(zero at equality, non-negative, additive over independent dimensions, invariant under an
invertible map); checks comparing with the grader's closed forms are hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy
import torch

from autograder.checks.api import Check, CheckFailed, Judgement, ProbeContext, Task, call
from autograder.checks.compare import (
    as_tensor,
    expect_close,
    expect_finite,
    expect_sequence,
    expect_tensor,
)
from autograder.checks.stats import FALSE_FAILURE_RATE, normal_threshold
from autograder.symbolic import confirm_same, confirm_values, encode, is_zero, to_sympy

TOPIC = "02_gaussian_kl"
F64 = torch.float64
SEEDS = (11, 12)

# ------------------------------------------------------------- closed forms (float64)


def _kl() -> Any:
    """The grader's closed-form KLs, imported on use (judges only)."""
    from autograder.trusted import gaussian_kl

    return gaussian_kl



def diag_hints(mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
               ) -> dict[str, torch.Tensor]:
    """Values produced by the classic bugs of a diagonal-Gaussian KL (summed over dims)."""
    ok = _kl().diag_kl(mu_q, lv_q, mu_p, lv_p)
    dq, dp = lv_q.to(F64), lv_p.to(F64)
    var_ratio = (dq - dp).exp()
    return {
        "the factor 1/2 is missing (KL = 1/2 [ ... ])": 2 * ok.sum(-1),
        "the KL has the wrong direction: this is KL(p || q), not KL(q || p) (KL is not "
        "symmetric)": _kl().diag_kl(mu_p, lv_p, mu_q, lv_q).expand_as(ok).sum(-1),
        "the per-dimension terms were averaged (mean) instead of summed over the last "
        "dimension": ok.mean(-1),
        "logvar was treated as a log standard deviation (variance = exp(logvar), not "
        "exp(2 logvar))": _kl().diag_kl(mu_q, 2 * dq, mu_p, 2 * dp).sum(-1),
        "the standard deviation exp(logvar / 2) was used as the variance (variance/std "
        "confusion)": _kl().diag_kl(mu_q, dq / 2, mu_p, dp / 2).sum(-1),
        "the '- 1' per dimension is missing": (ok + 0.5).sum(-1),
        "the log-variance term has the wrong sign (it is logvar_p - logvar_q)":
            (ok + (dq - dp)).sum(-1),
        "the variance ratio is inverted (it is var_q / var_p)":
            (ok - 0.5 * var_ratio + 0.5 / var_ratio).sum(-1),
    }


def mvn_hints(mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor
              ) -> dict[str, torch.Tensor]:
    """Values produced by the classic bugs of a full-covariance KL."""
    ok = _kl().mvn_kl(mu0, cov0, mu1, cov1)
    logdet = torch.logdet(cov1.to(F64)) - torch.logdet(cov0.to(F64))
    return {
        "the factor 1/2 is missing": 2 * ok,
        "the KL has the wrong direction: this is KL(N1 || N0), not KL(N0 || N1) (KL is not "
        "symmetric)": _kl().mvn_kl(mu1, cov1, mu0, cov0),
        "the log-determinant term has the wrong sign (it is log det cov1 - log det cov0)":
            ok - logdet,
        "the dimension D is not subtracted": ok + 0.5 * mu0.shape[-1],
    }


# ------------------------------------------------------------------- kl_normal_sympy


def sympy_symbols() -> tuple[Any, Any, Any, Any]:
    mu1, mu2 = sympy.symbols("mu1 mu2", real=True)
    s1, s2 = sympy.symbols("s1 s2", positive=True)
    return mu1, s1, mu2, s2


def probe_sympy_general(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return ns["kl_normal_sympy"](*sympy_symbols())


def probe_sympy_equal(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mu = sympy.Symbol("mu", real=True)
    s = sympy.Symbol("s", positive=True)
    return ns["kl_normal_sympy"](mu, s, mu, s)


def probe_sympy_numbers(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    return ns["kl_normal_sympy"](sympy.Integer(1), sympy.Integer(2), sympy.Rational(-1, 2),
                                 sympy.Rational(3, 2))


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


def _sympy_value(j: Judgement) -> Any:
    value = to_sympy(j.got, "kl_normal_sympy(...)")
    if isinstance(value, sympy.MatrixBase):
        raise CheckFailed("kl_normal_sympy should return a scalar sympy expression, not a Matrix.")
    return value


def judge_sympy_general(j: Judgement) -> None:
    got = _sympy_value(j)
    mu1, s1, mu2, s2 = syms = sympy_symbols()
    expected = _kl().sympy_closed_form(mu1, s1, mu2, s2)
    if same_expression(got, expected, syms):
        return
    if any(str(s) == "x" for s in got.free_symbols):
        raise CheckFailed("the result still depends on the integration variable: integrate over "
                          "x from -oo to oo (sympy.integrate(..., (x, -sympy.oo, sympy.oo))).")
    hints = {
        "the KL has the wrong direction: this is KL(N(mu2, s2^2) || N(mu1, s1^2)) (KL is not "
        "symmetric: the expectation is under the FIRST distribution)":
            _kl().sympy_closed_form(mu2, s2, mu1, s1),
        "s1, s2 were used as variances instead of standard deviations (variance/std confusion)":
            _kl().sympy_closed_form(mu1, sympy.sqrt(s1), mu2, sympy.sqrt(s2)),
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
    got = _sympy_value(j)
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
    got = _sympy_value(j)
    mu, s = sympy.Symbol("mu", real=True), sympy.Symbol("s", positive=True)
    if not same_expression(got, sympy.Integer(0), (mu, s)):
        raise CheckFailed(f"KL(N(mu, s^2) || N(mu, s^2)) must be 0 (a distribution has zero "
                          f"divergence from itself), got {sympy.simplify(got)}.")


def judge_sympy_reference(j: Judgement) -> None:
    got = _sympy_value(j)
    ref = to_sympy(j.ref, "the reference")
    if got.free_symbols:
        raise CheckFailed("with numeric arguments the KL should be a number, but the result "
                          f"still has symbols {sorted(map(str, got.free_symbols))}.")
    if not same_expression(got, ref, ()):
        raise CheckFailed("kl_normal_sympy with numeric arguments (1, 2, -1/2, 3/2) differs from "
                          "the reference solution.")


def confirm_sympy_mock(j: Judgement) -> None:
    """The grading process's own look at the hand-worked values."""
    names = [str(s) for s in sympy_symbols()]
    for values, cases in SYMPY_MOCK:
        confirm_values(j.got, dict(zip(names, values, strict=True)), [cases[""]],
                       "kl_normal_sympy(mu1, s1, mu2, s2)")


def confirm_sympy_general(j: Judgement) -> None:
    """The grading process's own comparison with the closed form, at random points."""
    expected = encode(_kl().sympy_closed_form(*sympy_symbols()))
    confirm_same(j.got, expected, "kl_normal_sympy(mu1, s1, mu2, s2)", "kl.general")


def confirm_sympy_equal(j: Judgement) -> None:
    """KL(N(mu, s^2) || N(mu, s^2)) is 0 at random points, by the grading process's count."""
    confirm_same(j.got, encode(sympy.Integer(0)), "KL(N(mu, s^2) || N(mu, s^2))", "kl.equal")


def confirm_sympy_reference(j: Judgement) -> None:
    """The grading process's own comparison with the reference's number."""
    confirm_same(j.got, j.ref, "kl_normal_sympy(1, 2, -1/2, 3/2)", "kl.reference")


# ----------------------------------------------------------------- kl_diag_gaussians


def diag_mock() -> dict[str, Any]:
    """Hand-checkable diagonal Gaussians (q: [2, 2]; p: [2], broadcast over the batch)."""
    l2 = math.log(2.0)
    return {"mu_q": torch.tensor([[1.0, 0.0], [0.5, -1.0]], dtype=F64),
            "logvar_q": torch.tensor([[0.0, l2], [-l2, 0.0]], dtype=F64),
            "mu_p": torch.tensor([0.0, 1.0], dtype=F64),
            "logvar_p": torch.tensor([0.0, l2], dtype=F64)}


def diag_random(q_shape: tuple[int, ...] = (3, 4, 5), p_shape: tuple[int, ...] = (5,),
                dtype: torch.dtype = F64) -> dict[str, Any]:
    """Random diagonal Gaussians; p's shape broadcasts against q's."""
    return {"mu_q": torch.randn(q_shape, dtype=dtype),
            "logvar_q": torch.randn(q_shape, dtype=dtype).clamp(-2, 2),
            "mu_p": torch.randn(p_shape, dtype=dtype),
            "logvar_p": torch.randn(p_shape, dtype=dtype).clamp(-2, 2)}


def _diag_args(inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    return tuple(inputs[k] for k in ("mu_q", "logvar_q", "mu_p", "logvar_p"))


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


def probe_diag_properties(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                          ) -> Any:
    """KL(q || p) with p broadcast, with p expanded, of q with itself, of each dimension alone,
    and after mapping both Gaussians by x -> 3x - 1 (logvar + 2 log 3)."""
    fn = ns["kl_diag_gaussians"]
    mu_q, lv_q, mu_p, lv_p = _diag_args(inputs)
    shift = 2 * math.log(3.0)
    return {"kl": fn(mu_q, lv_q, mu_p, lv_p),
            "expanded": fn(mu_q, lv_q, mu_p.expand_as(mu_q).clone(), lv_p.expand_as(lv_q).clone()),
            "self": fn(mu_q, lv_q, mu_q.clone(), lv_q.clone()),
            "per_dim": [fn(mu_q[..., k:k + 1], lv_q[..., k:k + 1], mu_p[k:k + 1], lv_p[k:k + 1])
                        for k in range(mu_q.shape[-1])],
            "mapped": fn(3 * mu_q - 1, lv_q + shift, 3 * mu_p - 1, lv_p + shift)}


def judge_diag_properties(j: Judgement) -> None:
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
                 "KL(q || q) (it must be 0)", reveal=True, atol=1e-5,
                 hints={"the '- 1' per dimension is missing": torch.full(batch, 2.5)})
    if (kl < -1e-5).any():
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


def probe_diag_invariants(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    fn = ns["kl_diag_gaussians"]
    mu_q, lv_q, mu_p, lv_p = _diag_args(inputs)
    return fn(mu_q, lv_q, mu_p, lv_p), fn(mu_q, lv_q, mu_q.clone(), lv_q.clone())


def judge_diag_invariants(j: Judgement) -> None:
    mu_q, lv_q, mu_p, lv_p = _diag_args(j.inputs)
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
    expect_close(kl, _kl().diag_kl(mu_q, lv_q, mu_p, lv_p).sum(-1).to(kl.dtype),
                 "the float32 KL with p broadcast over q's batch dimensions", reveal=True,
                 hints=diag_hints(mu_q, lv_q, mu_p, lv_p))


def judge_diag_reference(j: Judgement) -> None:
    args = _diag_args(j.inputs)
    expect_tensor(j.got, "kl_diag_gaussians(...)", shape=tuple(j.ref.shape), dtype=j.ref.dtype,
                  device=j.device)
    expect_close(j.got, j.ref, "kl_diag_gaussians", reveal=False, hints=diag_hints(*args))


# ---------------------------------------------------------------- kl_standard_normal


def std_mock() -> dict[str, Any]:
    return {"mu": torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, -1.0]], dtype=F64),
            "logvar": torch.tensor([[0.0, 0.0], [math.log(2.0), -1.0], [1.0, 0.0]], dtype=F64)}


def std_random(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    return {"mu": torch.randn(4, 6, 8, dtype=dtype),
            "logvar": torch.randn(4, 6, 8, dtype=dtype).clamp(-3, 3)}


def _std_hints(mu: torch.Tensor, logvar: torch.Tensor) -> dict[str, torch.Tensor]:
    zeros = torch.zeros_like(mu)
    hints = diag_hints(mu, logvar, zeros, zeros)
    for key in list(hints):
        if key.startswith("the KL has the wrong direction"):
            value = hints.pop(key)
            hints["the KL has the wrong direction: this is KL(N(0, I) || q), not "
                  "KL(q || N(0, I))"] = value
    return hints


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


def probe_std_zero(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    zeros = torch.zeros(4, 6, 8, device=ctx.device)
    return ns["kl_standard_normal"](zeros, zeros.clone())


def judge_std_zero(j: Judgement) -> None:
    got = expect_tensor(j.got, "kl_standard_normal(mu [4, 6, 8], logvar [4, 6, 8])", shape=(4, 6),
                        dtype=torch.float32, device=j.device)
    expect_close(got, torch.zeros(4, 6), "KL(N(0, I) || N(0, I)) (it must be 0)", reveal=True,
                 hints={"the '- 1' per dimension is missing": torch.full((4, 6), 4.0)})


def judge_std_reference(j: Judgement) -> None:
    mu, logvar = j.inputs["mu"], j.inputs["logvar"]
    expect_tensor(j.got, "kl_standard_normal(mu, logvar)", shape=tuple(mu.shape[:-1]),
                  dtype=mu.dtype, device=j.device)
    expect_finite(j.got, "kl_standard_normal(mu, logvar)")
    expect_close(j.got, j.ref, "kl_standard_normal", reveal=False, hints=_std_hints(mu, logvar))


# --------------------------------------------------------------------------- kl_mvn


def mvn_mock() -> dict[str, Any]:
    """2-D example: KL = 1/2 (tr + maha - 2 + log det ratio), all by hand."""
    return {"mu0": torch.tensor([1.0, 0.0], dtype=F64),
            "cov0": torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64),
            "mu1": torch.tensor([0.0, -1.0], dtype=F64),
            "cov1": torch.tensor([[1.0, 0.0], [0.0, 4.0]], dtype=F64)}


def random_cov(batch: int, d: int, low: float, high: float, dtype: torch.dtype = F64
               ) -> torch.Tensor:
    """Random SPD matrices with eigenvalues log-spaced in [10^low, 10^high]."""
    q, _ = torch.linalg.qr(torch.randn(batch, d, d, dtype=F64))
    eig = torch.logspace(low, high, d, dtype=F64)
    cov = q @ torch.diag_embed(eig.expand(batch, d)) @ q.transpose(-1, -2)
    return (0.5 * (cov + cov.transpose(-1, -2))).to(dtype)


def mvn_random(batch: int = 3, d: int = 5, dtype: torch.dtype = F64) -> dict[str, Any]:
    return {"mu0": torch.randn(batch, d, dtype=dtype), "cov0": random_cov(batch, d, -1, 1, dtype),
            "mu1": torch.randn(batch, d, dtype=dtype), "cov1": random_cov(batch, d, -1, 1, dtype)}


def mvn_hard() -> dict[str, Any]:
    """float32, D = 40: tiny (det underflows), huge (det overflows), ill-conditioned (1e4)."""
    d = 40
    cov0 = torch.cat([random_cov(1, d, -2.3, -1.3), random_cov(1, d, 1.2, 2.0),
                      random_cov(1, d, -2, 2)]).to(torch.float32)
    cov1 = torch.cat([random_cov(1, d, -2.0, -1.0), random_cov(1, d, 1.0, 2.2),
                      random_cov(1, d, -2, 2)]).to(torch.float32)
    return {"mu0": 0.1 * torch.randn(3, d), "cov0": cov0, "mu1": 0.1 * torch.randn(3, d),
            "cov1": cov1}


def _mvn_args(inputs: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    return tuple(inputs[k] for k in ("mu0", "cov0", "mu1", "cov1"))


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


def probe_mvn_batch(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    fn = ns["kl_mvn"]
    mu0, cov0, mu1, cov1 = _mvn_args(inputs)
    diag_var = torch.rand(mu0.shape, dtype=mu0.dtype, device=ctx.device) + 0.5
    return (fn(mu0, cov0, mu1, cov1), fn(mu0, cov0, mu0.clone(), cov0.clone()),
            diag_var, fn(mu0, torch.diag_embed(diag_var), mu1, torch.diag_embed(1 / diag_var)))


def judge_mvn_batch(j: Judgement) -> None:
    mu0, cov0, mu1, cov1 = _mvn_args(j.inputs)
    kl, self_kl, var, diag = expect_sequence(j.got, 4, "the probe")
    batch = tuple(mu0.shape[:-1])
    kl = expect_tensor(kl, "kl_mvn(mu0 [B, D], cov0 [B, D, D], ...)", shape=batch,
                       dtype=mu0.dtype, device=j.device)
    expect_finite(kl, "the KL")
    expect_close(expect_tensor(self_kl, "kl_mvn(N0, N0)", shape=batch, device=j.device),
                 torch.zeros(batch, dtype=mu0.dtype), "KL(N0 || N0) (it must be 0)",
                 reveal=True, atol=1e-4)
    lv = var.to(F64).log()
    expect_close(diag, _kl().diag_kl(mu0, lv, mu1, -lv).sum(-1).to(mu0.dtype),
                 "kl_mvn with diagonal covariances (it must equal the diagonal formula)",
                 reveal=True, hints=diag_hints(mu0, lv, mu1, -lv))
    expect_close(kl, _kl().mvn_kl(mu0, cov0, mu1, cov1).to(mu0.dtype), "the batched float32 KL",
                 reveal=True, hints=mvn_hints(mu0, cov0, mu1, cov1))


def _stable_kl_d40(value: Any, what: str, device: str) -> torch.Tensor:
    """Three float32 KLs of 40-D Gaussians, all finite (a failure names the Cholesky log det)."""
    got = expect_tensor(value, what, shape=(3,), dtype=torch.float32, device=device)
    if not torch.isfinite(got).all():
        raise CheckFailed(
            "kl_mvn returned inf/NaN in float32 for 40-D covariances with eigenvalues around "
            "0.01 (or 100): det(cov) underflows to 0 (or overflows) in float32. Compute log det "
            "from a Cholesky factor, log det S = 2 sum(log diag(L)), never log(det(S)).")
    return got


def judge_mvn_hard(j: Judgement) -> None:
    args = _mvn_args(j.inputs)
    got = _stable_kl_d40(j.got, "kl_mvn(...) in float32 with D = 40", j.device)
    expect_close(got, _kl().mvn_kl(*args).to(torch.float32),
                 "the float32 KL for tiny, huge and ill-conditioned (cond 1e4) covariances, "
                 "against a float64 computation", reveal=True, rtol=2e-3, atol=1e-3,
                 check_dtype=False)


def mvn_scaled() -> dict[str, Any]:
    """float32, D = 40, N1 = N(mu0 + t v, c cov0) with v cov0's first eigenvector (eigenvalue
    e): tiny (det underflows), huge (det overflows) and ill-conditioned (1e4) covariances."""
    d = 40
    q, _ = torch.linalg.qr(torch.randn(3, d, d, dtype=F64))
    eig = torch.stack([torch.logspace(-2.3, -1.3, d, dtype=F64),
                       torch.logspace(1.2, 2.0, d, dtype=F64), torch.logspace(-2, 2, d, dtype=F64)])
    cov0 = q @ torch.diag_embed(eig) @ q.transpose(-1, -2)
    cov0 = 0.5 * (cov0 + cov0.transpose(-1, -2))
    scale = torch.tensor([2.0, 0.5, 1.5], dtype=F64)
    shift = torch.tensor([0.0, 3.0, 0.05], dtype=F64)
    mu0 = 0.1 * torch.randn(3, d, dtype=F64)
    mu1 = mu0 + shift[:, None] * q[..., 0]
    return {"mu0": mu0.float(), "cov0": cov0.float(), "mu1": mu1.float(),
            "cov1": (scale[:, None, None] * cov0).float(), "scale": scale, "shift": shift,
            "eig0": eig[:, 0]}


def probe_mvn_scaled(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    mu0, cov0, mu1, cov1 = _mvn_args(inputs)
    return ns["kl_mvn"](mu0, cov0, mu1, cov1), ns["kl_mvn"](mu0, cov0, mu0.clone(), cov0.clone())


def judge_mvn_scaled(j: Judgement) -> None:
    """For cov1 = c cov0 and mu1 - mu0 = t v: KL = ½(D/c - D + D log c + t²/(c e))."""
    kl, self_kl = expect_sequence(j.got, 2, "the probe")
    kl = _stable_kl_d40(kl, "kl_mvn(...) in float32 with D = 40, batch [3]", j.device)
    self_kl = expect_tensor(self_kl, "kl_mvn(N0, N0)", shape=(3,), device=j.device)
    expect_close(self_kl, torch.zeros(3), "KL(N0 || N0) in float32 with D = 40 (it must be 0)",
                 reveal=True, atol=1e-3, check_dtype=False)
    d, c, t, e = 40, j.inputs["scale"], j.inputs["shift"], j.inputs["eig0"]
    expected = 0.5 * (d / c - d + d * c.log() + t**2 / (c * e))
    expect_close(kl, expected.float(), "the float32 KL for tiny, huge and ill-conditioned "
                 "(cond 1e4) covariances with cov1 = c cov0", reveal=True, rtol=2e-3, atol=1e-3,
                 check_dtype=False, hints={"the factor 1/2 is missing": 2 * expected,
                                           "the dimension D is not subtracted": expected + d / 2})


def judge_mvn_reference(j: Judgement) -> None:
    args = _mvn_args(j.inputs)
    expect_tensor(j.got, "kl_mvn(...)", shape=tuple(j.ref.shape), dtype=j.ref.dtype,
                  device=j.device)
    expect_close(j.got, j.ref, "kl_mvn", reveal=False, hints=mvn_hints(*args))


# -------------------------------------------------------------------- kl_monte_carlo
MC_SAMPLES = 40_000
CLT_MARGIN = 1.25


def mc_normal_inputs() -> dict[str, Any]:
    return {"kind": "normal", "mq": torch.tensor([0.0, 1.0, -1.0, 0.5]),
            "sq": torch.tensor([1.0, 0.5, 2.0, 1.5]), "mp": torch.tensor([0.0, 0.0, 1.0, -0.5]),
            "sp": torch.tensor([2.0, 1.0, 1.0, 1.0])}


def mc_independent_inputs() -> dict[str, Any]:
    return {"kind": "independent", "mq": torch.randn(2, 3), "sq": torch.rand(2, 3) + 0.5,
            "mp": torch.randn(2, 3), "sp": torch.rand(2, 3) + 0.7}


def mc_mvn_inputs() -> dict[str, Any]:
    return {"kind": "mvn", "mq": torch.randn(3, 2, dtype=F64),
            "sq": random_cov(3, 2, -0.3, 0.3), "mp": torch.randn(3, 2, dtype=F64),
            "sp": random_cov(3, 2, -0.1, 0.5)}


def make_dists(inputs: dict[str, Any]) -> tuple[Any, Any]:
    """q and p as torch.distributions objects (on the inputs' device)."""
    d = torch.distributions
    mq, sq, mp, sp = (inputs[k] for k in ("mq", "sq", "mp", "sp"))
    if inputs["kind"] == "normal":
        return d.Normal(mq, sq), d.Normal(mp, sp)
    if inputs["kind"] == "independent":
        return d.Independent(d.Normal(mq, sq), 1), d.Independent(d.Normal(mp, sp), 1)
    return d.MultivariateNormal(mq, covariance_matrix=sq), d.MultivariateNormal(mp,
                                                                                covariance_matrix=sp)


def _as_gaussian(inputs: dict[str, Any], which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [B, D], cov [B, D, D]) in float64 for q or p."""
    m, s = inputs[f"m{which}"].to(F64), inputs[f"s{which}"].to(F64)
    if inputs["kind"] == "mvn":
        return m, s
    if inputs["kind"] == "normal":
        m, s = m.unsqueeze(-1), s.unsqueeze(-1)
    return m, torch.diag_embed(s**2)


def log_ratio_stats(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(q||p), KL(p||q) and Var_q[log q(x) - log p(x)] (exact for Gaussians)."""
    mq, cq = _as_gaussian(inputs, "q")
    mp, cp = _as_gaussian(inputs, "p")
    lq = torch.linalg.cholesky(cq)
    prec = torch.linalg.inv(cp)
    a = 0.5 * (lq.transpose(-1, -2) @ prec @ lq - torch.eye(mq.shape[-1], dtype=F64))
    b = (lq.transpose(-1, -2) @ prec @ (mq - mp).unsqueeze(-1)).squeeze(-1)
    var = 2 * (a @ a).diagonal(dim1=-2, dim2=-1).sum(-1) + (b**2).sum(-1)
    return _kl().mvn_kl(mq, cq, mp, cp), _kl().mvn_kl(mp, cp, mq, cq), var


def probe_mc(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    q, p = make_dists(inputs)
    out = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        if ctx.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        out.append(ns["kl_monte_carlo"](q, p, MC_SAMPLES))
    out.append(ns["kl_monte_carlo"](q, q, 100))
    return out


def judge_mc(j: Judgement) -> None:
    _judge_mc_against(j, *log_ratio_stats(j.inputs))


def mc_normal_exact() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """KL(q || p), KL(p || q) and Var_q[log q - log p] for ``mc_normal_inputs``, by hand: per
    element KL(q || p) = log(sp/sq) + (sq² + (mq - mp)²)/(2 sp²) - ½ (KL(p || q) alike) and
    the variance is 2a² + b² with a = (sq²/sp² - 1)/2, b = sq (mq - mp)/sp²."""
    l2, l15 = math.log(2.0), math.log(1.5)
    kl = torch.tensor([l2 - 0.375, l2 + 0.125, 3.5 - l2, 1.125 - l15], dtype=F64)
    reverse = torch.tensor([1.5 - l2, 3.5 - l2, l2 + 0.125, l15 - 1.0 / 18.0], dtype=F64)
    var = torch.tensor([9.0 / 32.0, 17.0 / 32.0, 20.5, 97.0 / 32.0], dtype=F64)
    return kl, reverse, var


def judge_mc_normal(j: Judgement) -> None:
    _judge_mc_against(j, *mc_normal_exact())


def _judge_mc_against(j: Judgement, kl: torch.Tensor, reverse: torch.Tensor, var: torch.Tensor
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


# --------------------------------------------------------- fit_gaussian_forward_kl


def mixture_samples(n: int = 20_000, d: int | None = None, dtype: torch.dtype = torch.float32
                    ) -> dict[str, Any]:
    shape = (n,) if d is None else (n, d)
    sign = torch.where(torch.rand(shape) < 0.5, -1.0, 1.0)
    return {"samples": (3.0 * sign + 0.5 * torch.randn(shape)).to(dtype)}


def _scalar_or_tensor(value: Any, what: str, shape: tuple[int, ...]) -> torch.Tensor:
    t = as_tensor(value, what)
    if tuple(t.shape) != shape and not (shape == () and t.numel() == 1):
        raise CheckFailed(f"{what} has shape {list(t.shape)}, expected {list(shape)} "
                          "(statistics over the first dimension, the samples).")
    return t.reshape(shape).to(F64)


def judge_forward(j: Judgement) -> None:
    x = j.inputs["samples"]
    mu, sigma = expect_sequence(j.got, 2, "fit_gaussian_forward_kl")
    shape = tuple(x.shape[1:])
    for value, what in ((mu, "mu"), (sigma, "sigma")):
        if isinstance(value, torch.Tensor):
            expect_tensor(value, what, dtype=x.dtype, device=j.device)
    mu = _scalar_or_tensor(mu, "mu", shape)
    sigma = _scalar_or_tensor(sigma, "sigma", shape)
    x64 = x.to(F64)
    expect_close(mu, x64.mean(0), "mu (forward KL is minimised by matching the mean)",
                 reveal=True, rtol=1e-4, atol=1e-4)
    std = x64.std(0, correction=0)
    n = x.shape[0]
    ok_low, ok_high = std * (1 - 1e-4), std * math.sqrt(n / (n - 1)) * (1 + 1e-4)
    if ((sigma >= ok_low - 1e-5) & (sigma <= ok_high + 1e-5)).all():
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


# --------------------------------------------------------- fit_gaussian_reverse_kl
def reverse_inputs(kind: str, mu0: float, sigma0: float, steps: int = 600, lr: float = 0.05
                   ) -> Callable[[], dict[str, Any]]:
    """Inputs of a reverse-KL fit: the target's kind ('gauss' or 'mixture') and the start."""
    def make() -> dict[str, Any]:
        return {"kind": kind, "mu0": mu0, "sigma0": sigma0, "steps": steps, "lr": lr}
    return make


GAUSS_TARGET = (2.0, 0.5)
REVERSE_RATE = "measured false-failure rate 0/{}"
"""Correct fits that failed, of 4 ways of writing the fit x 25 or 15 seeds (docs/grading)."""
MIXTURE = (3.0, 0.5)


def make_log_p(kind: str, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """An elementwise log-density: N(2, 0.5^2), or the mixture 1/2 N(-3, .5^2) + 1/2 N(3, .5^2)."""
    if kind == "gauss":
        target = torch.distributions.Normal(torch.tensor(GAUSS_TARGET[0], device=device),
                                            torch.tensor(GAUSS_TARGET[1], device=device))
        return target.log_prob
    centre, scale = MIXTURE
    locs = torch.tensor([-centre, centre], device=device)
    comp = torch.distributions.Normal(locs, torch.full((2,), scale, device=device))

    def log_p(x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(comp.log_prob(x.unsqueeze(-1)), dim=-1) - math.log(2.0)

    return log_p


def probe_reverse(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """The fit, and whether log_p ever saw points that carry gradients (reparameterisation)."""
    log_p = make_log_p(inputs["kind"], ctx.device)
    seen = {"grad": False}

    def tracked_log_p(x: torch.Tensor) -> torch.Tensor:
        seen["grad"] = seen["grad"] or bool(getattr(x, "requires_grad", False))
        return log_p(x)

    mu0 = torch.tensor(inputs["mu0"], device=ctx.device)
    sigma0 = torch.tensor(inputs["sigma0"], device=ctx.device)
    fit = ns["fit_gaussian_reverse_kl"](tracked_log_p, mu0, sigma0, inputs["steps"],
                                        inputs["lr"])
    return fit, seen["grad"]


def _fitted(j: Judgement) -> tuple[float, float]:
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


def _reverse_diagnosis(mu: float, sigma: float, j: Judgement, target_mu: float,
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


def judge_reverse_gauss(j: Judgement) -> None:
    mu, sigma = _fitted(j)
    t_mu, t_sigma = GAUSS_TARGET
    if abs(mu - t_mu) <= 0.2 and abs(sigma - t_sigma) <= 0.15:
        return
    raise CheckFailed(f"on the target N({t_mu}, {t_sigma}^2) the reverse-KL fit should end near "
                      f"mu = {t_mu}, sigma = {t_sigma} (KL = 0 there), got mu = {mu:.3f}, "
                      f"sigma = {sigma:.3f}." + _reverse_diagnosis(mu, sigma, j, t_mu, t_sigma))


def judge_reverse_mixture(j: Judgement) -> None:
    mu, sigma = _fitted(j)
    centre, scale = MIXTURE
    if abs(abs(mu) - centre) <= 0.3 and abs(sigma - scale) <= 0.2:
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
        message += _reverse_diagnosis(mu, sigma, j, nearest, scale)
    raise CheckFailed(message)


# ---------------------------------------------------------------------------- tasks
TASKS = (
    Task("kl.sympy", TOPIC, ("kl_normal_sympy",), 2.0, (
        Check("KL(N(0, 1) || N(1, 2^2)) = log 2 - 1/4 and KL(N(2, 3^2) || N(-1, 1)) = "
              "17/2 - log 3", probe_sympy_general, judge_sympy_mock,
              confirm=confirm_sympy_mock),
        Check("KL(N(mu1, s1^2) || N(mu2, s2^2)) equals the closed form, symbolically",
              probe_sympy_general, judge_sympy_general, hidden=True,
              confirm=confirm_sympy_general),
        Check("KL of a Gaussian with itself is 0", probe_sympy_equal, judge_sympy_equal,
              confirm=confirm_sympy_equal),
        Check("matches the reference for numeric arguments", probe_sympy_numbers,
              judge_sympy_reference, hidden=True, confirm=confirm_sympy_reference),
    ), timeout_s=180.0, description="univariate Gaussian KL by symbolic integration"),
    Task("kl.diag", TOPIC, ("kl_diag_gaussians",), 2.0, (
        Check("hand-checkable values (p broadcast over q's batch)",
              call("kl_diag_gaussians", "mu_q", "logvar_q", "mu_p", "logvar_p"),
              judge_diag_mock, diag_mock),
        Check("float32: shape, KL(q||q) = 0, KL >= 0, broadcasting, sum over dimensions, "
              "invariance under x -> 3x - 1", probe_diag_properties, judge_diag_properties,
              lambda: diag_random(dtype=torch.float32)),
        Check("float32 shapes, broadcasting, KL(q||q) = 0 and KL >= 0", probe_diag_invariants,
              judge_diag_invariants, lambda: diag_random(dtype=torch.float32), hidden=True),
        Check("matches the reference (float64)",
              call("kl_diag_gaussians", "mu_q", "logvar_q", "mu_p", "logvar_p"),
              judge_diag_reference, lambda: diag_random((6, 7), (6, 7)), hidden=True),
        Check("matches the reference when q [2, 1, D] and p [3, D] broadcast",
              call("kl_diag_gaussians", "mu_q", "logvar_q", "mu_p", "logvar_p"),
              judge_diag_reference, lambda: diag_random((2, 1, 4), (3, 4)), hidden=True, seed=5),
    ), description="KL between diagonal Gaussians, summed over the last dimension"),
    Task("kl.standard_normal", TOPIC, ("kl_standard_normal",), 1.0, (
        Check("hand-checkable values", call("kl_standard_normal", "mu", "logvar"),
              judge_std_mock, std_mock),
        Check("KL is 0 for q = N(0, I); float32 shapes", probe_std_zero, judge_std_zero),
        Check("matches the reference (float32, batch [4, 6])",
              call("kl_standard_normal", "mu", "logvar"), judge_std_reference, std_random,
              hidden=True),
    ), description="KL(q || N(0, I)), the VAE regulariser"),
    Task("kl.mvn", TOPIC, ("kl_mvn",), 2.0, (
        Check("hand-checkable 2-D example (unbatched)", call("kl_mvn", "mu0", "cov0", "mu1",
                                                             "cov1"),
              judge_mvn_mock, mvn_mock),
        Check("stable in float32 (batch [3], D = 40, tiny/huge/ill-conditioned covariances): "
              "KL(N0||N0) = 0, the closed form for cov1 = c cov0", probe_mvn_scaled,
              judge_mvn_scaled, mvn_scaled),
        Check("batched float32: values, KL(N0||N0) = 0, agrees with the diagonal formula",
              probe_mvn_batch, judge_mvn_batch, lambda: mvn_random(4, 3, torch.float32),
              hidden=True),
        Check("numerically stable in float32 (D = 40, tiny/huge/ill-conditioned covariances)",
              call("kl_mvn", "mu0", "cov0", "mu1", "cov1"), judge_mvn_hard, mvn_hard,
              hidden=True),
        Check("matches the reference (float64, batch of 3, D = 5)",
              call("kl_mvn", "mu0", "cov0", "mu1", "cov1"), judge_mvn_reference, mvn_random,
              hidden=True),
    ), description="full-covariance KL via Cholesky factors"),
    Task("kl.monte_carlo", TOPIC, ("kl_monte_carlo",), 2.0, (
        Check(f"Normal q, p (batch [4]): within the CLT bound of the exact KL (false-failure "
              f"rate {FALSE_FAILURE_RATE:g}), random, and 0 for q = p", probe_mc, judge_mc_normal,
              mc_normal_inputs),
        Check("Independent(Normal) with event shape [3]: one KL per batch element", probe_mc,
              judge_mc, mc_independent_inputs, hidden=True),
        Check("MultivariateNormal q, p in float64", probe_mc, judge_mc, mc_mvn_inputs, seed=3,
              hidden=True),
    ), description="Monte Carlo estimate of KL(q || p)"),
    Task("kl.fit_forward", TOPIC, ("fit_gaussian_forward_kl",), 1.0, (
        Check("moment matching on 1-D samples of a two-mode mixture",
              call("fit_gaussian_forward_kl", "samples"), judge_forward, mixture_samples),
        Check("moment matching per dimension on [N, 3] float64 samples",
              call("fit_gaussian_forward_kl", "samples"), judge_forward,
              lambda: mixture_samples(5000, 3, F64)),
    ), description="forward-KL Gaussian fit: match the moments"),
    Task("kl.fit_reverse", TOPIC, ("fit_gaussian_reverse_kl",), 2.0, (
        Check(f"converges to a single Gaussian target N(2, 0.5^2) from (0, 1) "
              f"({REVERSE_RATE.format(100)})", probe_reverse, judge_reverse_gauss,
              reverse_inputs("gauss", 0.0, 1.0)),
        Check(f"locks onto one mode of a two-mode mixture (mode-seeking; "
              f"{REVERSE_RATE.format(60)})", probe_reverse, judge_reverse_mixture,
              reverse_inputs("mixture", 1.0, 1.0)),
        Check(f"converges to N(2, 0.5^2) from a far, wide start (4, 2) "
              f"({REVERSE_RATE.format(60)})", probe_reverse, judge_reverse_gauss,
              reverse_inputs("gauss", 4.0, 2.0), seed=8),
        Check(f"locks onto the left mode from mu0 = -1 ({REVERSE_RATE.format(60)})",
              probe_reverse, judge_reverse_mixture, reverse_inputs("mixture", -1.0, 1.5),
              seed=9),
    ), timeout_s=120.0, description="reverse-KL Gaussian fit by reparameterised gradient descent"),
)
