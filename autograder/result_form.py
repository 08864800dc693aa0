"""The *form* of a probe's result, to tell a student's odd result from a judge's bug.

When a judge raises an exception other than ``CheckFailed``, either the student's result has
a form no correct answer has (``None`` from a forgotten ``return``, a tensor of another
shape), or the judge itself is wrong. Comparing the form of the student's result with the
reference solution's result on the same inputs tells which.
"""

from __future__ import annotations

from typing import Any

import torch

from autograder.checks import compare
from autograder.payload import DistributionInfo, Opaque, Symbolic


def describe(value: Any) -> str:
    """A short description of a decoded value's form."""
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return "None" if value is None else compare.describe(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (list, tuple)):
        return "sequence"
    if isinstance(value, Opaque):
        return f"object {value.type_name}"
    for kind in (torch.Tensor, dict, Symbolic, DistributionInfo, str):
        if isinstance(value, kind):
            return kind.__name__
    return "None" if value is None else type(value).__name__


def form_difference(got: Any, ref: Any, where: str = "") -> str | None:
    """Where and how ``got``'s form differs from ``ref``'s; None when the forms agree."""
    place = f" at {where}" if where else ""
    if _kind(got) != _kind(ref):
        return f"expected {describe(ref)}{place}, got {describe(got)}"
    if isinstance(ref, torch.Tensor) and tuple(got.shape) != tuple(ref.shape):
        return f"expected {describe(ref)}{place}, got {describe(got)}"
    if isinstance(ref, (list, tuple)):
        if len(got) != len(ref):
            return f"expected {describe(ref)}{place}, got {describe(got)}"
        for n, (g, r) in enumerate(zip(got, ref, strict=True)):
            found = form_difference(g, r, f"{where}[{n}]")
            if found:
                return found
    if isinstance(ref, dict):
        if set(got) != set(ref):
            return f"expected the keys {sorted(map(str, ref))}{place}, got {sorted(map(str, got))}"
        for key in ref:
            found = form_difference(got[key], ref[key], f"{where}[{key!r}]")
            if found:
                return found
    return None
