"""Judges of topic 01's public checks: known values and invariants, no reference, nothing
grader-only. Tolerances are keyword parameters, set in the rows of ``tasks.py``."""

from __future__ import annotations

import math
from fractions import Fraction
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
from autograder.checks.exam import confirm_entries, expect_numbers, sympy_entries
from autograder.checks.stats import (
    chi2_threshold,
    evidence,
    gaussian_cov_statistic,
    gaussian_mean_statistic,
)
from autograder.symbolic import confirm_same, confirm_values, encode, is_zero, to_sympy

F64 = torch.float64


def model_cov(inputs: dict[str, Any]) -> torch.Tensor:
    """W Wᵀ + σ² I: the definition of the model's marginal covariance."""
    w = inputs["W"].to(F64)
    s2 = float(as_tensor(inputs["sigma2"], "sigma2"))
    return w @ w.T + s2 * torch.eye(w.shape[0], dtype=F64)


def sigma2_of(inputs: dict[str, Any]) -> float:
    return float(as_tensor(inputs["sigma2"], "sigma2"))


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


def judge_marginal_invariants(j: Judgement, *, noise_floor_rtol: float,
                              noise_floor_atol: float) -> None:
    """Mean b, a symmetric covariance, and its D - M smallest eigenvalues equal to sigma2."""
    w, b, s2 = j.inputs["W"], j.inputs["b"], sigma2_of(j.inputs)
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
    if not torch.allclose(smallest, torch.full_like(smallest, s2), rtol=noise_floor_rtol,
                          atol=noise_floor_atol):
        raise CheckFailed(
            f"the covariance's {d - m} smallest eigenvalues should all equal sigma2 = {s2:.4g} "
            f"(the noise variance), got {[round(v, 4) for v in smallest.tolist()]}: check how "
            "sigma2 enters (variance, not standard deviation) and that W Wᵀ (not Wᵀ W) is used.")


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


def judge_log_marginal_sums_to_one(j: Judgement, *, mass_tolerance: float) -> None:
    """∫ p(x) dx = 1 on a 1-D model, by quadrature of exp(log p)."""
    values = expect_tensor(j.got, "ppca_log_marginal on a grid", shape=(4001,), device=j.device)
    expect_finite(values, "ppca_log_marginal on a grid")
    grid = j.inputs["x"][:, 0].to(F64)
    mass = float(torch.trapezoid(values.to(F64).exp(), grid))
    if abs(mass - 1.0) > mass_tolerance:
        raise CheckFailed(f"exp(log p(x)) should integrate to 1 over x, but integrates to "
                          f"{mass:.4f}: check the normalising constant and the log-determinant.")


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


def sympy_pair(j: Judgement) -> tuple[sympy.Matrix, sympy.Matrix]:
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    mean = sympy.Matrix(to_sympy(mean, "the symbolic mean"))
    cov = sympy.Matrix(to_sympy(cov, "the symbolic covariance"))
    return mean.reshape(len(mean), 1), cov


def judge_sympy_mock(j: Judgement) -> None:
    mean, cov = sympy_pair(j)
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


def confirm_sympy_mock(j: Judgement) -> None:
    """The grading process's own look at the mock exam: the entries' numbers."""
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    confirm_values(mean, {}, [1, -1], "the symbolic mean")
    confirm_same(cov, encode(sympy.Matrix([[3, 2], [2, 6]])), "the symbolic covariance", "")


def mle_parts(j: Judgement) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


def judge_mle_closed_form_parts(j: Judgement, *, rtol: float, atol: float) -> None:
    """b is the sample mean, sigma2 the mean discarded eigenvalue, W Wᵀ + sigma2 I keeps the
    top-M eigenvalues of the 1/N sample covariance."""
    x, m = j.inputs["X"], j.inputs["M"]
    w, b, s2 = mle_parts(j)
    expect_close(b, x.mean(0), "b (the ML estimate is the sample mean)", reveal=True)
    s = torch.cov(x.T, correction=0)
    eig = torch.linalg.eigvalsh(s)
    expected = eig[: x.shape[1] - m].mean()
    expect_close(s2.reshape(()).to(F64), expected, "sigma2 (the mean of the discarded "
                 "eigenvalues of the 1/N sample covariance)", reveal=True, rtol=rtol, atol=atol,
                 check_dtype=False, hints={
                     "the sample covariance was normalised by 1/(N-1) instead of 1/N":
                         expected * x.shape[0] / (x.shape[0] - 1),
                 })
    model = w.to(F64) @ w.to(F64).T + float(s2) * torch.eye(x.shape[1], dtype=F64)
    top_model = torch.linalg.eigvalsh(model)[-m:]
    top_data = eig[-m:]
    expect_close(top_model, top_data, "the top-M eigenvalues of W Wᵀ + sigma2 I (they must equal"
                 " those of the sample covariance: W = U (Λ - sigma2 I)^1/2)", reveal=True,
                 rtol=rtol, atol=atol, check_dtype=False)


def judge_sample_distribution(j: Judgement) -> None:
    """Mean and covariance tests, each at the stated false-failure rate."""
    w, b = j.inputs["W"], j.inputs["b"]
    d = w.shape[0]
    samples = expect_tensor(j.got, "ppca_sample(n, ...)", shape=(j.inputs["n"], d), dtype=w.dtype,
                            device=j.device)
    expect_finite(samples, "the samples")
    cov = model_cov(j.inputs)
    t_mean = gaussian_mean_statistic(samples, b, cov)
    if t_mean > chi2_threshold(d):
        raise CheckFailed("the sample mean is not b: is b added to Wz? "
                          + evidence("chi-squared statistic", t_mean, chi2_threshold(d)))
    t_cov = gaussian_cov_statistic(samples, b, cov)
    dof = d * (d + 1) // 2
    if math.isinf(t_cov):
        raise CheckFailed("the samples lie in a lower-dimensional subspace (their covariance is "
                          "singular), but W Wᵀ + sigma2 I has full rank: is the isotropic noise "
                          "term, with variance sigma2, added to every sample?")
    if t_cov > chi2_threshold(dof):
        s = torch.cov(samples.to(F64).T)
        ratio = float(torch.trace(s) / torch.trace(cov))
        raise CheckFailed(f"the sample covariance does not match W Wᵀ + sigma2 I (its total "
                          f"variance is {ratio:.2f}x the model's): is the noise standard "
                          "deviation sqrt(sigma2), and z drawn from N(0, I)? "
                          + evidence("likelihood-ratio statistic", t_cov,
                                     chi2_threshold(dof)))


# ------------------------------------------------ exam practice (answers in sympy)
POSTERIOR_POINTS = (
    ({"w00": 1, "w10": 2, "sigma2": 2}, Fraction(2, 7), {
        "the factor sigma2 in front of the inverse is missing": [1 / 7],
        "the noise term sigma2 I is missing from the matrix that is inverted": [2 / 5],
        "(Wᵀ W)^-1 alone: both the noise term and the factor sigma2 are missing": [1 / 5],
        "sigma2 was used as a standard deviation (variance/std confusion)": [4 / 9],
        "this is the posterior precision (the inverse covariance), not the covariance":
            [7 / 2],
        "the matrix was not inverted (sigma2 (Wᵀ W + sigma2 I) instead of its inverse times "
        "sigma2)": [14.0],
    }),
    ({"w00": 1, "w10": -1, "sigma2": Fraction(1, 2)}, Fraction(1, 5), {}),
)
"""W = (w00, w10)ᵀ (D = 2, M = 1) and sigma2 worked by hand: the covariance, then the numbers
of the classic wrong steps."""


def posterior_cov_matrix(j: Judgement, m: int) -> Any:
    """The answer as an (m, m) Matrix; a D x D answer is named (W Wᵀ instead of Wᵀ W)."""
    cov = to_sympy(j.got, "ppca_posterior_cov_symbolic(W, sigma2)")
    if not isinstance(cov, sympy.MatrixBase):
        cov = sympy.Matrix([[cov]])
    d = j.inputs["D"]
    if cov.shape == (d, d) and d != m:
        raise CheckFailed(f"the posterior covariance has shape {cov.shape}, but z has M = {m} "
                          f"dimensions, so it must be ({m}, {m}): it is built from Wᵀ W "
                          "(M x M), not W Wᵀ (D x D).")
    if cov.shape != (m, m):
        raise CheckFailed(f"the posterior covariance has shape {cov.shape}, expected ({m}, {m}) "
                          "(M x M, the latent dimension).")
    return cov


def judge_exam_posterior_cov(j: Judgement) -> None:
    """A 2 x 1 symbolic W: the covariance at two points worked by hand."""
    cov = posterior_cov_matrix(j, 1)
    for point, expected, bugs in POSTERIOR_POINTS:
        expect_numbers(list(cov), point, [float(expected)],
                       "the posterior covariance for W = (w00, w10)ᵀ", bugs)


def confirm_exam_posterior_cov(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in POSTERIOR_POINTS:
        confirm_entries(j.got, point, [float(expected)], "ppca_posterior_cov_symbolic(W, sigma2)")


SHRINKAGE_POINTS = (
    ({"lambda1": 8, "lambda2": 4, "lambda3": 2, "lambda4": 1}, (13 / 16, 5 / 8), {
        "sigma2 was not subtracted from the eigenvalue: at the ML solution the squared "
        "singular values of W are lambda_j - sigma2": (16 / 19, 8 / 11),
        "this is the part that is lost (1 minus the factor), not the factor": (3 / 16, 3 / 8),
        "the factor is inverted: the posterior mean is shrunk, so the factor is below 1":
            (16 / 13, 8 / 5),
        "sigma2 is the mean, not the sum, of the discarded eigenvalues": (5 / 8, 1 / 4),
        "sigma2 is the mean of the discarded eigenvalues only, not of all of them":
            (17 / 32, 1 / 16),
        "the singular values of W are the square roots (lambda_j - sigma2)^1/2, not "
        "lambda_j - sigma2": (169 / 175, 25 / 31),
    }),
    ({"lambda1": 5, "lambda2": 4, "lambda3": 1, "lambda4": Fraction(1, 2)}, (17 / 20, 13 / 16),
     {}),
)
"""Eigenvalues (largest first; D = 4, M = 2) worked by hand: the two factors, then the numbers
of the classic wrong steps (first point only)."""


def judge_exam_ml_shrinkage(j: Judgement) -> None:
    """D = 4, M = 2, symbolic eigenvalues: the factors at two points worked by hand."""
    entries = sympy_entries(j.got, "ppca_ml_shrinkage(eigenvalues, M)", count=j.inputs["M"])
    for point, expected, bugs in SHRINKAGE_POINTS:
        expect_numbers(entries, point, expected, "the shrinkage factors of the ML model", bugs)


def confirm_exam_ml_shrinkage(j: Judgement) -> None:
    """The grading process's own evaluation at the same points."""
    for point, expected, _ in SHRINKAGE_POINTS:
        confirm_entries(j.got, point, expected, "ppca_ml_shrinkage(eigenvalues, M)")
