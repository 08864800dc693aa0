"""Judging written (exam-practice) answers: scalar sympy expressions, alone or in a tuple.

A written question's function takes sympy symbols (or numbers) and returns its answer as sympy
expressions. An answer is right when every part has the expected value at every test point of
the question's domain, evaluated to ``DIGITS`` digits: two expressions that agree at random
points of their domain are the same function, whatever their algebraic form. (``simplify``
would reject forms that are equal on the domain only, such as ``log((1 - rho**2)**2) / 2`` for
``log(1 - rho**2)`` with ``|rho| < 1``.) A wrong part is matched against the values of the
classic mistakes, to name the concept.

* :func:`judge_answer` runs in the sandboxed judge child: it may evaluate with sympy.
* :func:`confirm_answer` is the grading process's own check of an answer the child passed:
  numeric evaluation of the answer's tree only (``autograder.symbolic.values_at``).

An expected value (or a mistake's value) is a sympy expression of the question's symbols,
evaluated at each point, or a sequence of numbers, one per point, worked out by hand.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import sympy

from autograder.checks.api import CheckFailed
from autograder.checks.compare import expect_sequence
from autograder.symbolic import close, encode, to_sympy, values_at

DIGITS = 30
Point = Mapping[str, float]
Value = Any
"""A sympy expression of the question's symbols, or one number per point."""


def random_points(ranges: Mapping[str, tuple[float, float]], seed: str, count: int = 4
                  ) -> list[dict[str, float]]:
    """``count`` reproducible points, each symbol uniform in its range."""
    rng = random.Random(seed)
    return [{name: rng.uniform(low, high) for name, (low, high) in ranges.items()}
            for _ in range(count)]


def answer_parts(got: Any, names: Sequence[str], function: str) -> list[Any]:
    """The answer's parts as scalar sympy expressions (one part: the answer itself)."""
    values = (got,) if len(names) == 1 else expect_sequence(got, len(names), function)
    parts = []
    for value, name in zip(values, names, strict=True):
        expr = to_sympy(value, f"{name} ({function})")
        if isinstance(expr, sympy.MatrixBase) or not isinstance(expr, sympy.Expr):
            raise CheckFailed(f"{name} ({function}) should be a scalar sympy expression, got "
                              f"{type(expr).__name__}.")
        parts.append(expr)
    return parts


def numbers(expr: Any, points: Sequence[Point], what: str) -> list[complex]:
    """``expr`` at each point (its symbols matched by name); CheckFailed when it has other
    symbols or is not a finite number there."""
    unknown = sorted(s.name for s in expr.free_symbols if s.name not in points[0])
    if unknown:
        raise CheckFailed(f"{what} depends on {', '.join(unknown)}, which the function was not "
                          f"given: build the answer from the arguments "
                          f"({', '.join(sorted(points[0]))}).")
    out = []
    for point in points:
        subs = {s: sympy.Float(point[s.name], DIGITS) for s in expr.free_symbols}
        try:
            value = complex(sympy.N(expr.subs(subs), DIGITS))
        except (TypeError, ValueError, ArithmeticError):
            raise CheckFailed(f"{what} does not evaluate to a number at "
                              f"{describe_point(point)}.") from None
        if value != value or abs(value) == float("inf"):
            raise CheckFailed(f"{what} is not finite at {describe_point(point)}.")
        out.append(value)
    return out


def expected_numbers(value: Value, points: Sequence[Point]) -> list[complex]:
    """A grader-side expected value at each point."""
    if isinstance(value, sympy.Basic):
        return numbers(value, points, "the expected value")
    return [complex(v) for v in value]


def describe_point(point: Point) -> str:
    return ", ".join(f"{name} = {value:.4g}" for name, value in point.items())


def describe_number(value: complex) -> str:
    if abs(value.imag) > 1e-12 * (1 + abs(value.real)):
        return f"{value:.6g} (complex: a log or square root of a negative number?)"
    return f"{value.real:.6g}"


def judge_answer(got: Any, *, function: str, names: Sequence[str], expected: Sequence[Value],
                 points: Sequence[Point], hints: Sequence[Mapping[str, Value]] = (),
                 reveal: bool) -> None:
    """CheckFailed unless each part of ``got`` has its expected value at every point.

    ``hints[i]`` maps a mistake to the value it gives part ``i``; with two or more parts, a
    swapped order is named too. ``reveal`` puts the expected value in the message (public
    checks, whose values are worked by hand in the open).
    """
    parts = answer_parts(got, names, function)
    got_values = [numbers(p, points, f"{n} ({function})") for p, n in zip(parts, names,
                                                                          strict=True)]
    want = [expected_numbers(v, points) for v in expected]
    wrong = [i for i in range(len(names)) if not close(got_values[i], want[i])]
    if not wrong:
        return
    if len(names) > 1 and all(close(got_values[i], want[-1 - i]) for i in range(len(names))):
        raise CheckFailed(f"{function} returns its answers in the wrong order: return "
                          f"({', '.join(names)}).")
    i = wrong[0]
    for concept, value in (hints[i] if i < len(hints) else {}).items():
        if close(got_values[i], expected_numbers(value, points)):
            raise CheckFailed(f"{names[i]} ({function}) is wrong. Likely cause: {concept}.")
    worst = max(range(len(points)), key=lambda k: abs(got_values[i][k] - want[i][k]))
    at = describe_point(points[worst])
    if reveal:
        raise CheckFailed(f"{names[i]} ({function}) at {at} should be "
                          f"{describe_number(want[i][worst])} (worked by hand), got "
                          f"{describe_number(got_values[i][worst])}.")
    raise CheckFailed(f"{names[i]} ({function}) is not the expected expression: at {at} it is "
                      f"{describe_number(got_values[i][worst])}.")


def confirm_answer(got: Any, *, function: str, names: Sequence[str],
                   expected: Sequence[Value], points: Sequence[Point]) -> None:
    """The grading process's own check: each part's tree, evaluated numerically at every
    point, has the expected value."""
    values = (got,) if len(names) == 1 else expect_sequence(got, len(names), function)
    for value, name, want in zip(values, names, expected, strict=True):
        what = f"{name} ({function})"
        if isinstance(want, sympy.Basic):
            want = [values_at(encode(want), dict(point), "the expected value")[1][0]
                    for point in points]
        for point, number in zip(points, want, strict=True):
            shape, got_values = values_at(value, dict(point), what)
            if shape is not None or not close(got_values, [complex(number)]):
                raise CheckFailed(f"{what} does not have the expected value at a test point.")
