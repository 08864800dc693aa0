"""Topic 01: probabilistic PCA. Checks for the six graded symbols.

Model: p(z) = N(0, I_M), p(x|z) = N(Wz + b, sigma2 I_D); W [D, M], b [D].
"""

from __future__ import annotations

import math
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
from autograder.checks.stats import (
    FALSE_FAILURE_RATE,
    chi2_threshold,
    evidence,
    gaussian_cov_statistic,
    gaussian_mean_statistic,
)
from autograder.symbolic import confirm_same, confirm_values, encode, is_zero, to_sympy

TOPIC = "01_ppca"
F64 = torch.float64

# ---------------------------------------------------------------------------- inputs


def mock_exam() -> dict[str, Any]:
    """The course's mock-exam model: z in R, x in R^2, W = [1, 2]^T, b = [1, -1], sigma2 = 2."""
    return {"W": torch.tensor([[1.0], [2.0]], dtype=F64), "b": torch.tensor([1.0, -1.0], dtype=F64),
            "sigma2": 2.0,
            "x": torch.tensor([[1.0, -1.0], [2.0, 1.0], [0.0, 3.0]], dtype=F64)}


def random_model(d: int = 5, m: int = 3, n: int = 7, dtype: torch.dtype = F64,
                 tensor_sigma2: bool = False) -> dict[str, Any]:
    """A random PPCA model and data points (seeded by the caller)."""
    sigma2 = 0.25 + torch.rand(()).item()
    return {"W": torch.randn(d, m, dtype=dtype), "b": torch.randn(d, dtype=dtype),
            "sigma2": torch.tensor(sigma2, dtype=dtype) if tensor_sigma2 else sigma2,
            "x": 2.0 * torch.randn(n, d, dtype=dtype)}


def model_cov(inputs: dict[str, Any]) -> torch.Tensor:
    """W Wᵀ + σ² I: the definition of the model's marginal covariance."""
    w = inputs["W"].to(F64)
    s2 = float(as_tensor(inputs["sigma2"], "sigma2"))
    return w @ w.T + s2 * torch.eye(w.shape[0], dtype=F64)


def _s2(inputs: dict[str, Any]) -> float:
    return float(as_tensor(inputs["sigma2"], "sigma2"))


# ------------------------------------------------------------------- ppca_marginal


def judge_marginal_mock(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal")
    expect_close(mean, torch.tensor([1.0, -1.0], dtype=F64), "the marginal mean", reveal=True)
    expect_close(cov, torch.tensor([[3.0, 2.0], [2.0, 6.0]], dtype=F64), "the marginal covariance",
                 reveal=True, hints={
                     "sigma2 was used as a standard deviation (variance/std confusion): the "
                     "noise covariance is sigma2 * I": torch.tensor([[5.0, 2.0], [2.0, 8.0]]),
                     "sqrt(sigma2) was used as the noise variance (variance/std confusion)":
                         torch.tensor([[1 + 2**0.5, 2.0], [2.0, 4 + 2**0.5]]),
                     "the observation noise sigma2 * I is missing from the covariance":
                         torch.tensor([[1.0, 2.0], [2.0, 4.0]]),
                 })


def judge_marginal_invariants(j: Judgement) -> None:
    w, b, s2 = j.inputs["W"], j.inputs["b"], _s2(j.inputs)
    d, m = w.shape
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal")
    mean = expect_tensor(mean, "the marginal mean", shape=(d,), dtype=w.dtype, device=j.device)
    cov = expect_tensor(cov, "the marginal covariance", shape=(d, d), dtype=w.dtype,
                        device=j.device)
    if (d, d) == (m, m):
        raise CheckFailed("test set-up error")  # pragma: no cover
    expect_finite(cov, "the marginal covariance")
    expect_close(mean, b, "the marginal mean (it should be b)", reveal=True)
    expect_close(cov, cov.T, "the marginal covariance vs its transpose (it must be symmetric)",
                 reveal=True)
    eig = torch.linalg.eigvalsh(cov.to(F64))
    smallest = eig[: d - m]
    if not torch.allclose(smallest, torch.full_like(smallest, s2), rtol=1e-3, atol=1e-4):
        raise CheckFailed(
            f"the covariance's {d - m} smallest eigenvalues should all equal sigma2 = {s2:.4g} "
            f"(the noise variance), got {[round(v, 4) for v in smallest.tolist()]}: check how "
            "sigma2 enters (variance, not standard deviation) and that W Wᵀ (not Wᵀ W) is used.")


def judge_marginal_reference(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal")
    ref_mean, ref_cov = j.ref
    s2 = _s2(j.inputs)
    eye = torch.eye(ref_cov.shape[0], dtype=ref_cov.dtype)
    expect_tensor(mean, "the marginal mean", device=j.device)
    expect_close(mean, ref_mean, "the marginal mean", reveal=False)
    expect_tensor(cov, "the marginal covariance", device=j.device)
    expect_close(cov, ref_cov, "the marginal covariance", reveal=False, hints={
        "sigma2 was used as a standard deviation (variance/std confusion)":
            ref_cov + (s2**2 - s2) * eye,
        "the noise sigma2 * I is missing": ref_cov - s2 * eye,
    })


# ------------------------------------------------------------------ ppca_posterior


def judge_posterior_mock(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_posterior")
    # A = WᵀW + σ²I = 7; posterior cov = σ² A⁻¹ = 2/7; mean = A⁻¹ Wᵀ (x - b).
    expect_close(cov, torch.tensor([[2.0 / 7.0]], dtype=F64), "the posterior covariance",
                 reveal=True, hints={
                     "the factor sigma2 is missing: the posterior covariance is sigma2 A^-1 "
                     "with A = WᵀW + sigma2 I":
                         torch.tensor([[1.0 / 7.0]]),
                     "sigma2 was used as a standard deviation": torch.tensor([[4.0 / 9.0]]),
                 })
    expect_close(mean, torch.tensor([[0.0], [5.0 / 7.0], [1.0]], dtype=F64),
                 "the posterior means", reveal=True, hints={
                     "b was not subtracted from x": torch.tensor([[-1 / 7], [4 / 7], [6 / 7]]),
                     "sigma2 is missing from A = WᵀW + sigma2 I":
                         torch.tensor([[0.0], [1.0], [1.4]]),
                 })


def judge_posterior_invariants(j: Judgement) -> None:
    w, x = j.inputs["W"], j.inputs["x"]
    n, m = x.shape[0], w.shape[1]
    mean, cov = expect_sequence(j.got, 2, "ppca_posterior")
    mean = expect_tensor(mean, "the posterior means", shape=(n, m), dtype=w.dtype,
                         device=j.device)
    cov = expect_tensor(cov, "the posterior covariance", shape=(m, m), dtype=w.dtype,
                        device=j.device)
    expect_finite(mean, "the posterior means")
    expect_close(cov, cov.T, "the posterior covariance vs its transpose (it must be symmetric)",
                 reveal=True)
    if torch.linalg.eigvalsh(cov.to(F64)).min() <= 0:
        raise CheckFailed("the posterior covariance is not positive definite.")


def judge_posterior_reference(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_posterior")
    ref_mean, ref_cov = j.ref
    s2 = _s2(j.inputs)
    expect_tensor(cov, "the posterior covariance", device=j.device)
    expect_close(cov, ref_cov, "the posterior covariance", reveal=False, hints={
        "the factor sigma2 is missing (posterior covariance = sigma2 A^-1)": ref_cov / s2,
    })
    expect_tensor(mean, "the posterior means", device=j.device)
    expect_close(mean, ref_mean, "the posterior means", reveal=False)


# -------------------------------------------------------------- ppca_log_marginal


def judge_log_marginal_mock(j: Judgement) -> None:
    got = j.got
    # C = [[3, 2], [2, 6]], det C = 14, C⁻¹ = [[6, -2], [-2, 3]] / 14.
    x = j.inputs["x"] - torch.tensor([1.0, -1.0], dtype=F64)
    cinv = torch.tensor([[6.0, -2.0], [-2.0, 3.0]], dtype=F64) / 14.0
    quad = ((x @ cinv) * x).sum(1)
    expected = -math.log(2 * math.pi) - 0.5 * math.log(14.0) - 0.5 * quad
    expect_tensor(got, "ppca_log_marginal(x)", shape=(3,), dtype=F64, device=j.device)
    expect_close(got, expected, "log p(x) for the mock-exam model", reveal=True, hints={
        "the normalising constant -D/2 log(2 pi) is missing": expected + math.log(2 * math.pi),
        "the -1/2 log det C term is missing": expected + 0.5 * math.log(14.0),
        "a factor 1/2 is missing on the quadratic form": expected - 0.5 * quad,
    })


def judge_log_marginal_reference(j: Judgement) -> None:
    x = j.inputs["x"]
    expect_tensor(j.got, "ppca_log_marginal(x)", shape=(x.shape[0],), dtype=x.dtype,
                  device=j.device)
    expect_finite(j.got, "ppca_log_marginal(x)")
    d = x.shape[1]
    expect_close(j.got, j.ref, "log p(x)", reveal=False, hints={
        "the normalising constant -D/2 log(2 pi) is missing":
            j.ref + 0.5 * d * math.log(2 * math.pi),
    })


def judge_log_marginal_sums_to_one(j: Judgement) -> None:
    """∫ p(x) dx = 1 on a 1-D model, by quadrature of exp(log p)."""
    values = expect_tensor(j.got, "ppca_log_marginal on a grid", shape=(4001,), device=j.device)
    expect_finite(values, "ppca_log_marginal on a grid")
    grid = j.inputs["x"][:, 0].to(F64)
    mass = float(torch.trapezoid(values.to(F64).exp(), grid))
    if abs(mass - 1.0) > 1e-3:
        raise CheckFailed(f"exp(log p(x)) should integrate to 1 over x, but integrates to "
                          f"{mass:.4f}: check the normalising constant and the log-determinant.")


def grid_1d() -> dict[str, Any]:
    return {"W": torch.tensor([[1.5]], dtype=F64), "b": torch.tensor([0.5], dtype=F64),
            "sigma2": 0.5, "x": torch.linspace(-20, 20, 4001, dtype=F64)[:, None]}


# ------------------------------------------------------------------- ppca_sample
SAMPLE_N = 40_000


def sample_inputs(dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    model = random_model(d=3, m=2, dtype=dtype)
    return {**model, "n": SAMPLE_N}


def judge_sample_distribution(j: Judgement) -> None:
    """Mean and covariance tests, each at the stated false-failure rate."""
    w, b = j.inputs["W"], j.inputs["b"]
    d = w.shape[0]
    samples = expect_tensor(j.got, "ppca_sample(n, ...)", shape=(SAMPLE_N, d), dtype=w.dtype,
                            device=j.device)
    expect_finite(samples, "the samples")
    cov = model_cov(j.inputs)
    t_mean = gaussian_mean_statistic(samples, b, cov)
    if t_mean > chi2_threshold(d):
        raise CheckFailed("the sample mean is not b: is b added to Wz? "
                          + evidence("chi-squared statistic", t_mean, chi2_threshold(d)))
    t_cov = gaussian_cov_statistic(samples, b, cov)
    dof = d * (d + 1) // 2
    if t_cov > chi2_threshold(dof):
        s = torch.cov(samples.to(F64).T)
        ratio = float(torch.trace(s) / torch.trace(cov))
        raise CheckFailed(f"the sample covariance does not match W Wᵀ + sigma2 I (its total "
                          f"variance is {ratio:.2f}x the model's): is the noise standard "
                          "deviation sqrt(sigma2), and z drawn from N(0, I)? "
                          + evidence("likelihood-ratio statistic", t_cov,
                                     chi2_threshold(dof)))


def probe_sample_rng(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Draw three times: seeds 1, 1, 2 of torch's global generator."""
    fn = ns["ppca_sample"]
    out = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        if ctx.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)
        out.append(fn(5, inputs["W"], inputs["b"], inputs["sigma2"]))
    return out


def judge_sample_rng(j: Judgement) -> None:
    shape = (5, j.inputs["W"].shape[0])
    first, again, other = (expect_tensor(v, "ppca_sample(5, ...)", shape=shape, device=j.device)
                           for v in j.got)
    if not torch.equal(first, again):
        raise CheckFailed("two calls after torch.manual_seed(1) gave different samples: draw all "
                          "randomness from torch's global generator (torch.randn), not NumPy or "
                          "a private Generator.")
    if torch.equal(first, other):
        raise CheckFailed("different seeds gave identical samples: the samples must be random.")


# -------------------------------------------------------------- ppca_marginal_sympy


def probe_sympy_mock(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W = sympy.Matrix([[1], [2]])
    b = sympy.Matrix([1, -1])
    return ns["ppca_marginal_sympy"](W, b, sympy.Integer(2))


def probe_sympy_symbolic(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W = sympy.Matrix(3, 2, lambda i, k: sympy.Symbol(f"w{i}{k}", real=True))
    b = sympy.Matrix(3, 1, lambda i, _: sympy.Symbol(f"b{i}", real=True))
    s2 = sympy.Symbol("sigma2", positive=True)
    return ns["ppca_marginal_sympy"](W, b, s2)


def _sympy_pair(j: Judgement) -> tuple[sympy.Matrix, sympy.Matrix]:
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    mean = sympy.Matrix(to_sympy(mean, "the symbolic mean"))
    cov = sympy.Matrix(to_sympy(cov, "the symbolic covariance"))
    return mean.reshape(len(mean), 1), cov


def judge_sympy_mock(j: Judgement) -> None:
    mean, cov = _sympy_pair(j)
    if not is_zero(mean - sympy.Matrix([1, -1])):
        raise CheckFailed(f"the symbolic mean for the mock exam should be Matrix([1, -1]), got "
                          f"{list(mean)}.")
    expected = sympy.Matrix([[3, 2], [2, 6]])
    if cov.shape != (2, 2):
        raise CheckFailed(f"the symbolic covariance has shape {cov.shape}, expected (2, 2): use "
                          "E[(x - mu)(x - mu)ᵀ], an outer product (W Wᵀ, not Wᵀ W).")
    if not is_zero(cov - expected):
        hint = ""
        if is_zero(cov - sympy.Matrix([[5, 2], [2, 8]])):
            hint = " sigma2 was used as a standard deviation (variance/std confusion)."
        elif is_zero(cov - sympy.Matrix([[1, 2], [2, 4]])):
            hint = " The noise term sigma2 * I is missing."
        raise CheckFailed(f"the symbolic covariance for the mock exam should be "
                          f"Matrix([[3, 2], [2, 6]]), got {cov.tolist()}.{hint}")


def judge_sympy_symbolic(j: Judgement) -> None:
    mean, cov = _sympy_pair(j)
    ref_mean, ref_cov = (sympy.Matrix(to_sympy(v, "reference")) for v in j.ref)
    ref_mean = ref_mean.reshape(len(ref_mean), 1)
    if mean.shape != ref_mean.shape or not is_zero(mean - ref_mean):
        raise CheckFailed("the symbolic mean is not symbolically equal to the reference for a "
                          "general 3x2 W, b and sigma2.")
    if cov.shape != ref_cov.shape:
        raise CheckFailed(f"the symbolic covariance has shape {cov.shape}; for W of shape (3, 2) "
                          "it must be (3, 3).")
    if not is_zero(cov - ref_cov):
        s2 = sympy.Symbol("sigma2", positive=True)
        hint = ""
        if is_zero(cov - ref_cov.subs(s2, s2**2)):
            hint = " It matches the answer with sigma2 used as a standard deviation."
        raise CheckFailed("the symbolic covariance is not symbolically equal to the reference for"
                          f" a general 3x2 W, b and sigma2 (simplify(got - expected) != 0).{hint}")


def confirm_sympy_mock(j: Judgement) -> None:
    """The grading process's own look at the mock exam: the entries' numbers."""
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    confirm_values(mean, {}, [1, -1], "the symbolic mean")
    confirm_same(cov, encode(sympy.Matrix([[3, 2], [2, 6]])), "the symbolic covariance", "")


def confirm_sympy_symbolic(j: Judgement) -> None:
    """The grading process's own comparison with the reference, at random points."""
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    ref_mean, ref_cov = expect_sequence(j.ref, 2, "the reference")
    confirm_same(mean, ref_mean, "the symbolic mean", "ppca.mean", same_shape=False)
    confirm_same(cov, ref_cov, "the symbolic covariance", "ppca.cov")


# ----------------------------------------------------------------------- ppca_mle


def mle_data() -> dict[str, Any]:
    d, m_true, n = 6, 2, 400
    w = torch.randn(d, m_true, dtype=F64) * 2.0
    z = torch.randn(n, m_true, dtype=F64)
    x = z @ w.T + torch.randn(d, dtype=F64) + 0.5 * torch.randn(n, d, dtype=F64)
    return {"X": x, "M": 2}


def _mle_parts(j: Judgement) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, m = j.inputs["X"], j.inputs["M"]
    w, b, s2 = expect_sequence(j.got, 3, "ppca_mle")
    w = expect_tensor(w, "W", shape=(x.shape[1], m), device=j.device)
    b = expect_tensor(b, "b", shape=(x.shape[1],), device=j.device)
    s2 = as_tensor(s2, "sigma2")
    if s2.numel() != 1:
        raise CheckFailed(f"sigma2 should be a scalar, got shape {list(s2.shape)}.")
    expect_finite(w, "W")
    if not float(s2) > 0:
        raise CheckFailed(f"sigma2 must be positive, got {float(s2):.4g}.")
    return w, b, s2


def judge_mle_closed_form_parts(j: Judgement) -> None:
    x, m = j.inputs["X"], j.inputs["M"]
    w, b, s2 = _mle_parts(j)
    expect_close(b, x.mean(0), "b (the ML estimate is the sample mean)", reveal=True)
    s = torch.cov(x.T, correction=0)
    eig = torch.linalg.eigvalsh(s)
    expected = eig[: x.shape[1] - m].mean()
    expect_close(s2.reshape(()).to(F64), expected, "sigma2 (the mean of the discarded "
                 "eigenvalues of the 1/N sample covariance)", reveal=True, rtol=1e-5, atol=1e-8,
                 check_dtype=False, hints={
                     "the sample covariance was normalised by 1/(N-1) instead of 1/N":
                         expected * x.shape[0] / (x.shape[0] - 1),
                 })
    model = w.to(F64) @ w.to(F64).T + float(s2) * torch.eye(x.shape[1], dtype=F64)
    top_model = torch.linalg.eigvalsh(model)[-m:]
    top_data = eig[-m:]
    expect_close(top_model, top_data, "the top-M eigenvalues of W Wᵀ + sigma2 I (they must equal"
                 " those of the sample covariance: W = U (Λ - sigma2 I)^1/2)", reveal=True,
                 rtol=1e-5, atol=1e-8, check_dtype=False)


def judge_mle_likelihood(j: Judgement) -> None:
    x = j.inputs["X"]
    w, b, s2 = _mle_parts(j)
    from autograder.trusted.ppca_likelihood import log_likelihood

    got = log_likelihood(x, w, b, s2)
    ref = log_likelihood(x, *j.ref)
    if got < ref - 1e-6 * abs(ref) - 1e-6:
        raise CheckFailed(f"the fitted model's log-likelihood is {ref - got:.4g} nats below the "
                          "maximum: the estimate is not the ML solution (check the scaling "
                          "W = U_M (Λ_M - sigma2 I)^1/2 R and that sigma2 is the mean of the "
                          "discarded eigenvalues).")


# ---------------------------------------------------------------------------- tasks
TASKS = (
    Task("ppca.sample", TOPIC, ("ppca_sample",), 2.0, (
        Check("uses torch's global random generator", probe_sample_rng, judge_sample_rng,
              lambda: random_model(d=3, m=2), id="rng"),
        Check(f"samples have mean b and covariance W Wᵀ + sigma2 I (float32; false-failure "
              f"rate {FALSE_FAILURE_RATE:g} per test)",
              call("ppca_sample", "n", "W", "b", "sigma2"), judge_sample_distribution,
              sample_inputs, id="distribution"),
        Check("samples have the model's distribution (float64, other seed)",
              call("ppca_sample", "n", "W", "b", "sigma2"), judge_sample_distribution,
              lambda: sample_inputs(F64), id="distribution_f64", hidden=True, seed=99),
    ), description="ancestral sampling"),
    Task("ppca.marginal_sympy", TOPIC, ("ppca_marginal_sympy",), 2.0, (
        Check("mock-exam marginal, symbolically", probe_sympy_mock, judge_sympy_mock, id="mock",
              confirm=confirm_sympy_mock),
        Check("symbolically equal to the reference for general W, b, sigma2",
              probe_sympy_symbolic, judge_sympy_symbolic, id="symbolic", hidden=True,
              confirm=confirm_sympy_symbolic),
    ), timeout_s=120.0, description="marginal derived with sympy"),
    Task("ppca.marginal", TOPIC, ("ppca_marginal",), 2.0, (
        Check("mock-exam marginal", call("ppca_marginal", "W", "b", "sigma2"),
              judge_marginal_mock, mock_exam, id="mock"),
        Check("mean = b, symmetric covariance with noise floor sigma2 (float32)",
              call("ppca_marginal", "W", "b", "sigma2"), judge_marginal_invariants,
              lambda: random_model(dtype=torch.float32), id="invariants"),
        Check("matches the reference on a random float64 model",
              call("ppca_marginal", "W", "b", "sigma2"), judge_marginal_reference,
              random_model, id="reference", hidden=True),
        Check("matches the reference with a 0-dim tensor sigma2",
              call("ppca_marginal", "W", "b", "sigma2"), judge_marginal_reference,
              lambda: random_model(d=4, m=1, tensor_sigma2=True),
              id="reference_tensor_sigma2", hidden=True, seed=7),
    ), description="marginal p(x) = N(b, W Wᵀ + sigma2 I)"),
    Task("ppca.posterior", TOPIC, ("ppca_posterior",), 2.0, (
        Check("mock-exam posterior", call("ppca_posterior", "x", "W", "b", "sigma2"),
              judge_posterior_mock, mock_exam, id="mock"),
        Check("shapes, symmetry and positive definiteness",
              call("ppca_posterior", "x", "W", "b", "sigma2"), judge_posterior_invariants,
              lambda: random_model(dtype=torch.float32), id="invariants"),
        Check("matches the reference on a random float64 model",
              call("ppca_posterior", "x", "W", "b", "sigma2"), judge_posterior_reference,
              random_model, id="reference", hidden=True),
    ), description="posterior p(z|x)"),
    Task("ppca.log_marginal", TOPIC, ("ppca_log_marginal",), 2.0, (
        Check("mock-exam log-density", call("ppca_log_marginal", "x", "W", "b", "sigma2"),
              judge_log_marginal_mock, mock_exam, id="mock"),
        Check("the density integrates to one (1-D model)",
              call("ppca_log_marginal", "x", "W", "b", "sigma2"),
              judge_log_marginal_sums_to_one, grid_1d, id="normalised"),
        Check("matches the reference on a random float64 model",
              call("ppca_log_marginal", "x", "W", "b", "sigma2"),
              judge_log_marginal_reference, random_model, id="reference", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2",
              call("ppca_log_marginal", "x", "W", "b", "sigma2"),
              judge_log_marginal_reference,
              lambda: random_model(d=8, m=2, n=16, dtype=torch.float32, tensor_sigma2=True),
              id="reference_f32",
              hidden=True, seed=3),
    ), description="exact log p(x)"),
    Task("ppca.mle", TOPIC, ("ppca_mle",), 2.0, (
        Check("b, sigma2 and the top eigenvalues of the closed-form MLE",
              call("ppca_mle", "X", "M"), judge_mle_closed_form_parts, mle_data, id="closed_form"),
        Check("attains the maximum log-likelihood", call("ppca_mle", "X", "M"),
              judge_mle_likelihood, mle_data, id="likelihood", hidden=True),
    ), description="closed-form maximum likelihood (Tipping & Bishop 1999)"),
)
