"""Topic 01's hidden checks: they compare with the reference solution's results or use the
grader-only maths of ``autograder.trusted``. Never shipped to students and unreadable from the
sandbox; attached to the rows of ``tasks.py`` by ``autograder.checks.rows``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial
from typing import Any

import sympy
import torch

from autograder.checks.api import Check, CheckFailed, Judgement
from autograder.checks.compare import expect_close, expect_finite, expect_sequence, expect_tensor
from autograder.checks.exam import confirm_entries, sympy_entries
from autograder.symbolic import confirm_same, encode, is_zero, to_sympy
from autograder.topics.t01_ppca import inputs, probes, public
from autograder.topics.t01_ppca.public import mle_parts, sigma2_of, sympy_pair
from autograder.trusted.ppca_likelihood import log_likelihood

F64 = torch.float64


def judge_marginal_reference(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal")
    ref_mean, ref_cov = j.ref
    s2 = sigma2_of(j.inputs)
    eye = torch.eye(ref_cov.shape[0], dtype=ref_cov.dtype)
    expect_tensor(mean, "the marginal mean", device=j.device)
    expect_close(mean, ref_mean, "the marginal mean", reveal=False)
    expect_tensor(cov, "the marginal covariance", device=j.device)
    expect_close(cov, ref_cov, "the marginal covariance", reveal=False, hints={
        "sigma2 was used as a standard deviation (variance/std confusion)":
            ref_cov + (s2**2 - s2) * eye,
        "the noise sigma2 * I is missing": ref_cov - s2 * eye,
    })


def judge_posterior_reference(j: Judgement) -> None:
    mean, cov = expect_sequence(j.got, 2, "ppca_posterior")
    ref_mean, ref_cov = j.ref
    s2 = sigma2_of(j.inputs)
    expect_tensor(cov, "the posterior covariance", device=j.device)
    expect_close(cov, ref_cov, "the posterior covariance", reveal=False, hints={
        "the factor sigma2 is missing (posterior covariance = sigma2 A^-1)": ref_cov / s2,
    })
    expect_tensor(mean, "the posterior means", device=j.device)
    expect_close(mean, ref_mean, "the posterior means", reveal=False)


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


def judge_sympy_symbolic(j: Judgement) -> None:
    mean, cov = sympy_pair(j)
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


def confirm_sympy_symbolic(j: Judgement) -> None:
    """The grading process's own comparison with the reference, at random points."""
    mean, cov = expect_sequence(j.got, 2, "ppca_marginal_sympy")
    ref_mean, ref_cov = expect_sequence(j.ref, 2, "the reference")
    confirm_same(mean, ref_mean, "the symbolic mean", "ppca.mean", same_shape=False)
    confirm_same(cov, ref_cov, "the symbolic covariance", "ppca.cov")


def judge_mle_likelihood(j: Judgement, *, rtol: float, atol: float) -> None:
    """The fitted model's log-likelihood is the reference's maximum (within the tolerance)."""
    x = j.inputs["X"]
    w, b, s2 = mle_parts(j)
    got = log_likelihood(x, w, b, s2)
    ref = log_likelihood(x, *j.ref)
    if got < ref - rtol * abs(ref) - atol:
        raise CheckFailed(f"the fitted model's log-likelihood is {ref - got:.4g} nats below the "
                          "maximum: the estimate is not the ML solution (check the scaling "
                          "W = U_M (Λ_M - sigma2 I)^1/2 R and that sigma2 is the mean of the "
                          "discarded eigenvalues).")


def judge_exam_posterior_cov_symbolic(j: Judgement) -> None:
    """For a general symbolic W: cov (Wᵀ W + sigma2 I) = sigma2 I, by simplification (a
    polynomial identity, so no symbolic inverse is needed)."""
    d, m = j.inputs["D"], j.inputs["M"]
    cov = public.posterior_cov_matrix(j, m)
    w, s2, eye = probes.symbolic_w(d, m), sympy.Symbol("sigma2", positive=True), sympy.eye(m)
    gram = w.T * w
    if is_zero(cov * (gram + s2 * eye) - s2 * eye):
        return
    wrong = {
        "the factor sigma2 in front of the inverse is missing": cov * (gram + s2 * eye) - eye,
        "the noise term sigma2 I is missing from the matrix that is inverted":
            cov * gram - s2 * eye,
        "(Wᵀ W)^-1 alone: both the noise term and the factor sigma2 are missing":
            cov * gram - eye,
        "sigma2 was used as a standard deviation (variance/std confusion)":
            cov * (gram + s2**2 * eye) - s2**2 * eye,
        "this is the posterior precision (the inverse covariance), not the covariance":
            cov * s2 - (gram + s2 * eye),
        "the matrix was not inverted": cov - s2 * (gram + s2 * eye),
    }
    for concept, residual in wrong.items():
        if is_zero(residual):
            raise CheckFailed(f"the posterior covariance is not right. Likely cause: {concept}.")
    raise CheckFailed(f"the posterior covariance for a general {d}x{m} W and sigma2 is not "
                      "symbolically equal to the expected one.")


def exam_posterior_cov(d: int, m: int) -> sympy.Matrix:
    """sigma2 (Wᵀ W + sigma2 I)^-1 for the symbolic W of ``probes.symbolic_w``."""
    w, s2 = probes.symbolic_w(d, m), sympy.Symbol("sigma2", positive=True)
    return s2 * (w.T * w + s2 * sympy.eye(m)).inv()


def confirm_exam_posterior_cov_symbolic(j: Judgement) -> None:
    """The grading process's own comparison with the closed form, at random points."""
    expected = encode(exam_posterior_cov(j.inputs["D"], j.inputs["M"]))
    confirm_same(j.got, expected, "ppca_posterior_cov_symbolic(W, sigma2)", "ppca.exam_cov")


def exam_ml_shrinkage(d: int, m: int) -> list[Any]:
    """At the ML solution W = U_M (Λ_M - σ² I)^1/2 R, W E[z|x] + b - b = U_M F U_Mᵀ (x - b) with
    F = diag(1 - σ²/λ_j), σ² the mean of the discarded eigenvalues: the M factors."""
    lams = probes.eigenvalue_symbols(d)
    s2 = sum(lams[m:]) / (d - m)
    return [1 - s2 / v for v in lams[:m]]


def judge_exam_ml_shrinkage_symbolic(j: Judgement) -> None:
    d, m = j.inputs["D"], j.inputs["M"]
    got = sympy_entries(j.got, "ppca_ml_shrinkage(eigenvalues, M)", count=m)
    if all(is_zero(g - e) for g, e in zip(got, exam_ml_shrinkage(d, m), strict=True)):
        return
    raise CheckFailed(f"the shrinkage factors for D = {d}, M = {m} (symbolic eigenvalues) are "
                      "not symbolically equal to the expected ones.")


EXAM_POINTS = ({"lambda1": 9, "lambda2": 7, "lambda3": 4, "lambda4": 2, "lambda5": 1},
               {"lambda1": 5, "lambda2": Fraction(9, 2), "lambda3": 3, "lambda4": 1,
                "lambda5": Fraction(1, 3)})
"""Points at which the grading process evaluates the answer (D = 5)."""


def confirm_exam_ml_shrinkage_symbolic(j: Judgement) -> None:
    """The grading process's own evaluation of the factors at two points."""
    d, m = j.inputs["D"], j.inputs["M"]
    for point in EXAM_POINTS:
        lams = [float(point[f"lambda{k}"]) for k in range(1, d + 1)]
        s2 = sum(lams[m:]) / (d - m)
        confirm_entries(j.got, point, [1 - s2 / v for v in lams[:m]],
                        "ppca_ml_shrinkage(eigenvalues, M)")


GRADER_ONLY_CHECKS: dict[str, tuple[Check, ...]] = {
    "ppca.sample": (
        Check("samples have the model's distribution (float64, other seed)", probes.sample,
              public.judge_sample_distribution, partial(inputs.sample_inputs, F64),
              id="distribution_f64", hidden=True, seed=99),
    ),
    "ppca.marginal_sympy": (
        Check("symbolically equal to the reference for general W, b, sigma2",
              probes.probe_sympy_symbolic, judge_sympy_symbolic, id="symbolic", hidden=True,
              confirm=confirm_sympy_symbolic),
    ),
    "ppca.marginal": (
        Check("matches the reference on a random float64 model", probes.marginal,
              judge_marginal_reference, inputs.random_model, id="reference", hidden=True),
        Check("matches the reference with a 0-dim tensor sigma2", probes.marginal,
              judge_marginal_reference,
              partial(inputs.random_model, d=4, m=1, tensor_sigma2=True),
              id="reference_tensor_sigma2", hidden=True, seed=7),
    ),
    "ppca.posterior": (
        Check("matches the reference on a random float64 model", probes.posterior,
              judge_posterior_reference, inputs.random_model, id="reference", hidden=True),
    ),
    "ppca.log_marginal": (
        Check("matches the reference on a random float64 model", probes.log_marginal,
              judge_log_marginal_reference, inputs.random_model, id="reference", hidden=True),
        Check("matches the reference in float32 with a 0-dim tensor sigma2", probes.log_marginal,
              judge_log_marginal_reference,
              partial(inputs.random_model, d=8, m=2, n=16, dtype=torch.float32,
                      tensor_sigma2=True),
              id="reference_f32", hidden=True, seed=3),
    ),
    "ppca.mle": (
        Check("attains the maximum log-likelihood", probes.mle,
              partial(judge_mle_likelihood, rtol=1e-6, atol=1e-6), inputs.mle_data,
              id="likelihood", hidden=True),
    ),
    "ppca.exam_posterior_cov": (
        Check("sigma2 (Wᵀ W + sigma2 I)^-1, symbolically, for a general 3x2 W",
              probes.probe_exam_posterior_cov, judge_exam_posterior_cov_symbolic,
              partial(inputs.exam_shape, 3, 2), id="symbolic", hidden=True,
              confirm=confirm_exam_posterior_cov_symbolic),
    ),
    "ppca.exam_ml_shrinkage": (
        Check("the closed form, symbolically, for D = 5, M = 3",
              probes.probe_exam_ml_shrinkage, judge_exam_ml_shrinkage_symbolic,
              partial(inputs.exam_shape, 5, 3), id="symbolic", hidden=True,
              confirm=confirm_exam_ml_shrinkage_symbolic),
    ),
}
"""Topic 01's hidden checks, by task (see ``autograder.checks.rows``)."""
