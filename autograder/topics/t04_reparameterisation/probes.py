"""Topic 04's probes: what runs next to the notebook's code (torch, sympy and the API only).

A probe that several checks share with different settings takes them as keyword parameters;
the rows bind them with ``functools.partial`` (a probe must pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy
import torch

from autograder.checks.api import ProbeContext

REPS = 40
"""How many times a gradient-estimator check calls the estimator."""
SAMPLES = 4000
"""The samples per call a gradient-estimator check asks for."""


def leaf(t: torch.Tensor) -> torch.Tensor:
    """A fresh leaf copy of ``t`` that records gradients."""
    return t.detach().clone().requires_grad_(True)


def seed(seed: int, ctx: ProbeContext) -> None:
    torch.manual_seed(seed)
    if ctx.device.type == "cuda":
        torch.cuda.manual_seed_all(seed)


def probe_reparam_explicit(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                           ) -> dict[str, Any]:
    """z for the given eps, and the gradients of sum(w * z) w.r.t. mu and logvar."""
    mu, logvar = leaf(inputs["mu"]), leaf(inputs["logvar"])
    z = ns["reparameterize"](mu, logvar, inputs["eps"])
    out: dict[str, Any] = {"z": z, "grad_mu": None, "grad_logvar": None}
    if isinstance(z, torch.Tensor) and z.requires_grad:
        grads = torch.autograd.grad((z * inputs["w"]).sum(), (mu, logvar), allow_unused=True)
        out["grad_mu"], out["grad_logvar"] = grads
    return out


def probe_reparam_random(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext
                         ) -> dict[str, Any]:
    """eps=None: a big sample with gradients of sum(z), plus two draws after the same seed."""
    fn = ns["reparameterize"]
    again = []
    for _ in range(2):
        seed(5, ctx)
        again.append(fn(inputs["mu"][:4], inputs["logvar"][:4]))
    seed(6, ctx)
    mu, logvar = leaf(inputs["mu"]), leaf(inputs["logvar"])
    z = fn(mu, logvar)
    out: dict[str, Any] = {"z": z, "again": again, "grad_mu": None, "grad_logvar": None}
    if isinstance(z, torch.Tensor) and z.requires_grad:
        out["grad_mu"], out["grad_logvar"] = torch.autograd.grad(z.sum(), (mu, logvar),
                                                                 allow_unused=True)
    return out


def f_quadratic(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    a, c = inputs["a"], inputs["c"]
    return lambda z: (a * z + c * z**2).sum(-1)


def f_step(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A black box: a step function whose output carries no gradient."""
    b = inputs["b"]
    return lambda z: ((z.detach() > 0).to(z.dtype) * b).sum(-1)


def f_mixed(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Differentiable output, but autograd misses the step part of its true derivative."""
    quad, step = f_quadratic(inputs), f_step(inputs)
    return lambda z: quad(z) + step(z)


def f_sine(inputs: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    a = inputs["a"]
    return lambda z: (a * torch.sin(z)).sum(-1)


F_MAKERS = {"quadratic": f_quadratic, "step": f_step, "mixed": f_mixed, "sine": f_sine}


def error_record(exc: BaseException) -> dict[str, str]:
    """An exception raised by student code, as data for the judge."""
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return {"error": type(exc).__name__, "message": text}


def probe_estimator(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
                    symbol: str, kind: str, reps: int = REPS, samples: int = SAMPLES) -> Any:
    """Call the estimator ``reps`` times on f of the given kind; errors are reported, not raised."""
    f = F_MAKERS[kind](inputs)
    seen: list[bool] = []

    def watched(z: torch.Tensor) -> torch.Tensor:
        seen.append(bool(getattr(z, "requires_grad", False)))
        return f(z)

    calls = []
    try:
        for _ in range(reps):
            calls.append(ns[symbol](watched, inputs["mu"].clone(),
                                    inputs["log_sigma"].clone(), samples))
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the judge explains the failure
        return {**error_record(exc), "f_saw_grad": any(seen)}
    return {"calls": calls, "f_saw_grad": any(seen)}


def probe_linear(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Three calls with linear f(z) = sum(a z): the pathwise grad_mu is exactly a every time."""
    a = inputs["a"]
    try:
        return [ns["pathwise_gradient"](lambda z: (a * z).sum(-1), inputs["mu"].clone(),
                                        inputs["log_sigma"].clone(), 64) for _ in range(3)]
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the judge explains the failure
        return error_record(exc)


def probe_gumbel(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
                 hard: bool = False) -> Any:
    """gumbel_softmax_sample(logits, tau, hard=hard)."""
    return ns["gumbel_softmax_sample"](inputs["logits"], inputs["tau"], hard=hard)


def probe_gumbel_hard(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext) -> Any:
    """Soft and hard samples after the same seed, with gradients of sum(w * y) w.r.t. logits."""
    fn, out = ns["gumbel_softmax_sample"], {}
    for hard in (False, True):
        seed(11, ctx)
        logits = leaf(inputs["logits"])
        y = fn(logits, inputs["tau"], hard=hard)
        grad = None
        if isinstance(y, torch.Tensor) and y.requires_grad:
            (grad,) = torch.autograd.grad((y * inputs["w"]).sum(), (logits,), allow_unused=True)
        out["hard" if hard else "soft"] = {"y": y, "grad": grad}
    return out


# ------------------------------------------------------------------ exam practice (sympy)
def mu_sigma_symbols() -> tuple[Any, Any]:
    """mu (real) and sigma (positive): q = N(mu, sigma²)."""
    return sympy.Symbol("mu", real=True), sympy.Symbol("sigma", positive=True)


def probe_exam(ns: dict[str, Any], inputs: dict[str, Any], ctx: ProbeContext, *,
               symbol: str, numbers: bool = False) -> Any:
    """symbol(mu, sigma) with symbols, or with the numbers mu = -3/2, sigma = 3."""
    args = (sympy.Rational(-3, 2), sympy.Integer(3)) if numbers else mu_sigma_symbols()
    return ns[symbol](*args)
