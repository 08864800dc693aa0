"""Judging exam-practice answers: sympy expressions (or tuples and Matrices of them) that a
student's function returns, evaluated at points worked by hand.

A public check of a written question substitutes numbers for the symbols it passed, compares
the entries with the numbers worked by hand and, when they match the numbers a classic wrong
step gives, names that step. The judge runs in the judge child (``to_sympy``, ``sympy.N``);
``confirm_entries`` is the grading process's own evaluation of the same entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy

from autograder.checks.api import CheckFailed
from autograder.payload import Symbolic
from autograder.symbolic import close, to_sympy, values_at

Point = Mapping[str, int | Fraction]
"""Symbol name -> exact number (an int or a Fraction)."""


def sympy_entries(value: Any, what: str, count: int | None = None) -> list[Any]:
    """The scalar entries of a decoded answer (a sympy expression or Matrix, or a tuple/list of
    them, nested), in order; CheckFailed when there are not ``count`` of them."""
    if isinstance(value, (list, tuple)):
        entries = [e for item in value for e in sympy_entries(item, what)]
    else:
        expr = to_sympy(value, what)
        entries = list(expr) if isinstance(expr, sympy.MatrixBase) else [expr]
    if count is not None and len(entries) != count:
        raise CheckFailed(f"{what} should have {count} entries, got {len(entries)}.")
    return entries


def numbers_at(entries: Sequence[Any], point: Point, what: str) -> list[complex]:
    """Each entry with the point's numbers substituted for its symbols (by name), to 30
    digits; CheckFailed when a symbol is not one of the arguments, or a value is not a number."""
    exact = {name: sympy.Rational(value.numerator, value.denominator)
             if isinstance(value, Fraction) else sympy.Integer(value)
             for name, value in point.items()}
    numbers = []
    for entry in entries:
        extra = sorted(str(s) for s in entry.free_symbols if str(s) not in exact)
        if extra:
            raise CheckFailed(f"{what} contains the symbol(s) {', '.join(extra)}, which are not "
                              "among the function's arguments: build the answer from the "
                              "arguments only.")
        try:
            numbers.append(complex(sympy.N(entry.subs(
                {s: exact[str(s)] for s in entry.free_symbols}), 30)))
        except (TypeError, ValueError, ArithmeticError):
            raise CheckFailed(f"{what} does not evaluate to a number at "
                              f"{shown(point)}.") from None
    return numbers


def shown(point: Point) -> str:
    """``a = 1, b = 1/2`` for a point."""
    return ", ".join(f"{name} = {value}" for name, value in point.items())


def expect_numbers(entries: Sequence[Any], point: Point, expected: Sequence[complex],
                   what: str, bugs: Mapping[str, Sequence[complex]] | None = None) -> None:
    """The entries at ``point`` equal ``expected`` (relative/absolute 1e-9); if they equal the
    numbers of a classic wrong step (``bugs``: concept -> numbers), the message names it."""
    got = numbers_at(entries, point, what)
    if close(got, expected):
        return
    for concept, wrong in (bugs or {}).items():
        if close(got, wrong):
            raise CheckFailed(f"{what} is not right. Likely cause: {concept}.")
    raise CheckFailed(f"{what} at {shown(point)} should be {fmt(expected)}, got {fmt(got)}.")


def fmt(numbers: Sequence[complex]) -> str:
    """Numbers as a short list (real parts when the imaginary parts vanish)."""
    parts = [f"{z.real:.6g}" if abs(z.imag) <= 1e-12 * (1 + abs(z)) else f"{z:.6g}"
             for z in numbers]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def confirm_entries(got: Any, point: Point, expected: Sequence[complex], what: str) -> None:
    """The grading process's own evaluation: the answer's entries (Symbolic values, nested in
    tuples/lists) at ``point`` equal ``expected``."""
    floats = {name: float(value) for name, value in point.items()}
    values: list[complex] = []
    stack = [got]
    while stack:
        item = stack.pop(0)
        if isinstance(item, (list, tuple)):
            stack[:0] = list(item)
            continue
        if not isinstance(item, Symbolic):
            raise CheckFailed(f"{what} should be made of sympy expressions.")
        values.extend(values_at(item, floats, what)[1])
    if not close(values, expected):
        raise CheckFailed(f"{what} does not have the expected value at a test point.")

