"""Topic 01's probes: what runs next to the notebook's code (torch, sympy and the API only)."""

from __future__ import annotations

from typing import Any

import sympy
import torch

from autograder.checks.api import ProbeContext, call

sample = call("ppca_sample", "n", "W", "b", "sigma2")
marginal = call("ppca_marginal", "W", "b", "sigma2")
posterior = call("ppca_posterior", "x", "W", "b", "sigma2")
log_marginal = call("ppca_log_marginal", "x", "W", "b", "sigma2")
mle = call("ppca_mle", "X", "M")


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


def probe_sympy_mock(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W = sympy.Matrix([[1], [2]])
    b = sympy.Matrix([1, -1])
    return ns["ppca_marginal_sympy"](W, b, sympy.Integer(2))


def probe_sympy_symbolic(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    W = sympy.Matrix(3, 2, lambda i, k: sympy.Symbol(f"w{i}{k}", real=True))
    b = sympy.Matrix(3, 1, lambda i, _: sympy.Symbol(f"b{i}", real=True))
    s2 = sympy.Symbol("sigma2", positive=True)
    return ns["ppca_marginal_sympy"](W, b, s2)


def symbolic_w(d: int, m: int) -> Any:
    """A (d, m) Matrix of real symbols w<i><k>."""
    return sympy.Matrix(d, m, lambda i, k: sympy.Symbol(f"w{i}{k}", real=True))


def probe_exam_posterior_cov(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                             ) -> Any:
    """The posterior covariance for a symbolic W of the inputs' shape and a positive sigma2."""
    return ns["ppca_posterior_cov_symbolic"](symbolic_w(inputs["D"], inputs["M"]),
                                             sympy.Symbol("sigma2", positive=True))


def eigenvalue_symbols(d: int) -> list[Any]:
    """lambda1, ..., lambda<d>: positive symbols (the eigenvalues, largest first)."""
    return [sympy.Symbol(f"lambda{j}", positive=True) for j in range(1, d + 1)]


def probe_exam_ml_shrinkage(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                            ) -> Any:
    """The ML model's shrinkage factors for symbolic eigenvalues and the inputs' M."""
    return ns["ppca_ml_shrinkage"](eigenvalue_symbols(inputs["D"]), inputs["M"])
