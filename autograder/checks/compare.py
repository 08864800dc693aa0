"""Comparisons that explain themselves.

Every helper raises ``CheckFailed`` with a message a student can act on. Shape, dtype and
device are checked before values; tolerances depend on the dtype. With ``reveal=False``
(hidden checks) messages give error sizes and positions but never expected values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from autograder.checks.api import CheckFailed
from autograder.feedback import sentence
from autograder.payload import DistributionInfo, Opaque, Symbolic, tensor_info

TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-9),
    torch.float32: (1e-4, 1e-5),
    torch.float16: (1e-2, 1e-3),
    torch.bfloat16: (2e-2, 1e-2),
}


def describe(value: Any) -> str:
    """A short human description of a decoded value's type."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)}"
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if isinstance(value, Symbolic):
        return "a sympy expression"
    if isinstance(value, DistributionInfo):
        return f"a {value.type_name} distribution"
    return f"a {type(value).__name__}"


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) used for a floating dtype."""
    return TOLERANCES.get(dtype, (1e-4, 1e-5))


def as_tensor(value: Any, what: str) -> torch.Tensor:
    """Accept a tensor, or a Python number as a 0-dim float64 tensor; refuse anything else."""
    if isinstance(value, torch.Tensor):
        return value
    if type(value) in (int, float) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=torch.float64)
    raise CheckFailed(f"{what} should be a torch.Tensor, but it is {describe(value)}.")


def expect_tensor(
    value: Any,
    what: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
    device: str | None = None,
) -> torch.Tensor:
    """Check type, shape, dtype and device, in that order; return the tensor."""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} should be a torch.Tensor, but it is {describe(value)}.")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {list(value.shape)}, expected {list(shape)} "
                          "(check which dimensions you sum or average over).")
    if dtype is not None and value.dtype != dtype:
        raise CheckFailed(f"{what} has dtype {value.dtype}, expected {dtype}: results should "
                          "keep the dtype of the inputs.")
    if device is not None:
        origin = tensor_info(value).device
        if origin.split(":")[0] != device.split(":")[0]:
            raise CheckFailed(f"{what} is on device '{origin}', expected '{device}': results "
                              "should live on the inputs' device.")
    return value


def expect_finite(value: torch.Tensor, what: str) -> None:
    """Refuse NaN and infinite entries."""
    if value.is_floating_point() and not torch.isfinite(value).all():
        bad = (~torch.isfinite(value)).nonzero()[0].tolist()
        kind = "NaN" if torch.isnan(value).any() else "infinite"
        raise CheckFailed(f"{what} contains {kind} values (first at index {bad}).")


def mismatch(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float
             ) -> tuple[bool, float, list[int]]:
    """Whether the tensors differ beyond tolerance, the max abs error and the first bad index."""
    got64 = got.detach().to(torch.float64)
    exp64 = expected.detach().to(torch.float64)
    diff = (got64 - exp64).abs()
    bad = ~(diff <= atol + rtol * exp64.abs())
    bad |= torch.isnan(got64) != torch.isnan(exp64)
    if not bad.any():
        return False, float(diff.nan_to_num(0.0).max()) if diff.numel() else 0.0, []
    first = bad.nonzero()[0].tolist()
    max_err = float(diff.nan_to_num(float("inf")).max())
    return True, max_err, first


def is_close(got: Any, expected: torch.Tensor, rtol: float | None = None,
             atol: float | None = None) -> bool:
    """Quiet version of ``expect_close``: True when shapes agree and values match."""
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        return False
    d_rtol, d_atol = tolerances(expected.dtype)
    bad, _, _ = mismatch(got, expected, rtol if rtol is not None else d_rtol,
                         atol if atol is not None else d_atol)
    return not bad


def expect_close(
    got: Any,
    expected: torch.Tensor,
    what: str,
    *,
    reveal: bool,
    rtol: float | None = None,
    atol: float | None = None,
    hints: Mapping[str, torch.Tensor] | None = None,
    check_dtype: bool = True,
) -> None:
    """Values of ``got`` match ``expected`` within dtype-dependent tolerances.

    ``hints`` maps a diagnosis (e.g. "sigma2 was used as a standard deviation") to the
    value that bug would produce; the first one that matches is named in the message.
    """
    got = expect_tensor(got, what, shape=tuple(expected.shape),
                        dtype=expected.dtype if check_dtype else None)
    d_rtol, d_atol = tolerances(expected.dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    bad, max_err, first = mismatch(got, expected, rtol, atol)
    if not bad:
        return
    hint = diagnose(got, hints or {}, rtol, atol)
    if not first:  # a scalar: no index to point at
        if reveal:
            detail = (f"expected {expected.detach().to(torch.float64).item():.6g}, got "
                      f"{got.detach().to(torch.float64).item():.6g} (abs error {max_err:.3g})")
            message = f"{what} is wrong: {detail}."
        else:
            message = f"{what} differs from the reference solution (abs error {max_err:.3g})."
    elif reveal:
        where = f"[{', '.join(map(str, first))}]"
        g = got.detach().to(torch.float64)[tuple(first)].item()
        e = expected.detach().to(torch.float64)[tuple(first)].item()
        message = (f"{what} is wrong: first difference at index {where}, expected {e:.6g}, "
                   f"got {g:.6g} (max abs error {max_err:.3g}).")
    else:
        message = (f"{what} differs from the reference solution (max abs error {max_err:.3g}, "
                   f"first at index [{', '.join(map(str, first))}]).")
    if hint:
        message = f"Likely cause: {hint}. {sentence(message)}"
    raise CheckFailed(message)


def diagnose(got: torch.Tensor, hints: Mapping[str, torch.Tensor], rtol: float = 1e-4,
             atol: float = 1e-5) -> str | None:
    """The first diagnosis whose predicted (buggy) value matches ``got``, if any."""
    for concept, predicted in hints.items():
        if is_close(got, predicted.to(got.dtype) if got.is_floating_point() else predicted,
                    max(rtol, 1e-4), max(atol, 1e-5)):
            return concept
    return None


def expect_sequence(value: Any, length: int, what: str) -> tuple[Any, ...]:
    """A tuple or list of exactly ``length`` items."""
    if not isinstance(value, (tuple, list)):
        raise CheckFailed(f"{what} should return a tuple of {length} items, but returned "
                          f"{describe(value)}.")
    if len(value) != length:
        raise CheckFailed(f"{what} should return {length} items, but returned {len(value)}.")
    return tuple(value)
