"""Sympy answers for judges: rebuilt from their trees, and evaluated numerically by the parent.

``to_sympy`` rebuilds an answer from its structural tree (``autograder.sympy_tree``: class
constructors on built children, never a parser). Judges that simplify run in a sandboxed judge
child. The grading process itself never simplifies a student's expression: it only
*evaluates* trees numerically (:func:`values_at`), node by node with mpmath at fixed precision,
with a bound on magnitudes and a deadline, which is how it confirms a judge child's verdict
(:func:`confirm_same`, :func:`confirm_values`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import sympy
from mpmath.ctx_mp import MPContext

from autograder import sympy_tree
from autograder.checks.api import CheckFailed
from autograder.payload import Symbolic

DIGITS = 30
MAX_MAGNITUDE_BITS = 4000
MAX_EXPONENT = 10**6
EVALUATION_TIME_S = 5.0
TOLERANCE = 1e-9


def to_sympy(value: Any, what: str) -> Any:
    """Decoded payload value to a sympy object, or CheckFailed naming what was wrong."""
    if not isinstance(value, Symbolic):
        raise CheckFailed(f"{what} should be a sympy expression or Matrix, "
                          f"but it is {type(value).__name__}.")
    if value.tree is None:
        raise CheckFailed(f"{what} could not be read as a sympy expression ({value.problem}).")
    try:
        return sympy_tree.rebuild(value.tree)
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"{what} could not be read as a sympy expression ({exc}).") from None


def is_zero(expr: Any) -> bool:
    """Symbolic zero test (matrices: every entry), with simplification."""
    if isinstance(expr, sympy.MatrixBase):
        return all(is_zero(e) for e in expr)
    return sympy.simplify(sympy.expand(expr)) == 0


def encode(expr: Any) -> Symbolic:
    """A grader-built sympy object as the parent holds answers (to evaluate it alike)."""
    return Symbolic(sympy_tree.encode(expr))


# -------------------------------------------------------------- numeric evaluation of trees
class NotNumeric(Exception):
    """A tree that does not evaluate to finite numbers at the given point."""


def symbol_names(value: Any) -> set[str]:
    """The names of the symbols in a decoded sympy answer."""
    names: set[str] = set()
    stack = [value.tree] if isinstance(value, Symbolic) and value.tree is not None else []
    while stack:
        node = stack.pop()
        if node[0] == "Symbol":
            names.add(node[1])
        elif node[0] == "Matrix":
            stack.extend(node[3])
        elif node[0] == "Function":
            stack.extend(node[2:])
        elif node[0] in sympy_tree.CLASSES:
            stack.extend(node[1:])
    return names


def values_at(value: Any, point: dict[str, float], what: str
              ) -> tuple[tuple[int, int] | None, list[complex]]:
    """(shape or None for a scalar, entries) of a sympy answer at ``point`` (symbol name ->
    value); CheckFailed when it is not a sympy answer or does not evaluate to finite numbers."""
    if not isinstance(value, Symbolic):
        raise CheckFailed(f"{what} should be a sympy expression or Matrix, "
                          f"but it is {type(value).__name__}.")
    if value.tree is None:
        raise CheckFailed(f"{what} could not be read as a sympy expression ({value.problem}).")
    evaluator = _Evaluator(point, time.monotonic() + EVALUATION_TIME_S)
    try:
        node = value.tree
        if node[0] == "Matrix":
            entries = [complex(evaluator.number(e)) for e in node[3]]
            return (node[1], node[2]), entries
        return None, [complex(evaluator.number(node))]
    except NotNumeric as exc:
        raise CheckFailed(f"{what} does not evaluate to a finite number ({exc}).") from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise CheckFailed(f"{what} does not evaluate to a finite number "
                          f"({type(exc).__name__}).") from None


def close(got: Iterable[complex], expected: Iterable[complex],
          tolerance: float = TOLERANCE) -> bool:
    """Whether two lists of numbers agree entry by entry (relative and absolute tolerance)."""
    got, expected = list(got), list(expected)
    return len(got) == len(expected) and all(
        abs(a - b) <= tolerance * (1 + abs(b)) for a, b in zip(got, expected, strict=True))


def sample_points(names: Iterable[str], seed: str, count: int = 3) -> list[dict[str, float]]:
    """``count`` reproducible points with every named symbol in [0.5, 2.5] (positive, real)."""
    rng = random.Random(seed)
    ordered = sorted(set(names))
    return [{name: rng.uniform(0.5, 2.5) for name in ordered} for _ in range(count)]


def confirm_same(got: Any, expected: Any, what: str, seed: str, same_shape: bool = True
                 ) -> None:
    """CheckFailed unless ``got`` and ``expected`` (sympy answers) have the same values (and,
    with ``same_shape``, the same shape) at a few points drawn for the symbols of both."""
    names = symbol_names(got) | symbol_names(expected)
    for point in sample_points(names, seed):
        shape, values = values_at(got, point, what)
        ref_shape, ref_values = values_at(expected, point, "the expected value")
        if (same_shape and shape != ref_shape) or not close(values, ref_values):
            raise CheckFailed(f"{what} does not have the expected value at a test point.")


def confirm_values(got: Any, point: dict[str, float], expected: list[complex], what: str
                   ) -> None:
    """CheckFailed unless ``got`` evaluates to ``expected`` (flattened) at ``point``."""
    _, values = values_at(got, point, what)
    if not close(values, expected):
        raise CheckFailed(f"{what} does not have the expected value at a test point.")


_UNARY = {"exp": "exp", "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec",
          "csc": "csc", "asin": "asin", "acos": "acos", "atan": "atan", "acot": "acot",
          "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "coth": "coth", "asinh": "asinh",
          "acosh": "acosh", "atanh": "atanh", "re": "re", "im": "im", "conjugate": "conj",
          "arg": "arg", "erf": "erf", "erfc": "erfc", "gamma": "gamma",
          "loggamma": "loggamma", "factorial": "factorial", "floor": "floor",
          "ceiling": "ceil", "LambertW": "lambertw", "exp_polar": "exp"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equality": lambda a, b: a == b, "Unequality": lambda a, b: a != b,
    "StrictLessThan": lambda a, b: a < b, "LessThan": lambda a, b: a <= b,
    "StrictGreaterThan": lambda a, b: a > b, "GreaterThan": lambda a, b: a >= b}
_CONSTANTS = {"pi": "pi", "E": "e", "I": "j", "EulerGamma": "euler", "Catalan": "catalan",
              "GoldenRatio": "phi"}


class _Evaluator:
    """Numbers of tree nodes at one point; every operation bounded in size and time."""

    def __init__(self, point: dict[str, float], deadline: float) -> None:
        self.ctx = MPContext()  # a private context: precision settings stay per evaluation
        self.ctx.dps = DIGITS
        self.point = point
        self.deadline = deadline

    def number(self, node: list[Any]) -> Any:
        if time.monotonic() > self.deadline:
            raise NotNumeric("evaluating it took too long")
        value = self._number(node)
        if not self.ctx.isfinite(value):
            raise NotNumeric("it is infinite or undefined at the test point")
        if value and self.ctx.mag(value) > MAX_MAGNITUDE_BITS:
            raise NotNumeric("it is astronomically large at the test point")
        return value

    def _number(self, node: list[Any]) -> Any:
        ctx, kind, rest = self.ctx, node[0], node[1:]
        if kind == "Integer":
            return ctx.mpf(int(rest[0]))
        if kind == "Rational":
            return ctx.mpf(int(rest[0])) / int(rest[1])
        if kind == "Float":
            return ctx.mpf(rest[0])
        if kind == "Symbol":
            if rest[0] not in self.point:
                raise NotNumeric(f"it depends on the symbol {rest[0]}")
            return ctx.mpf(self.point[rest[0]])
        if kind == "Const" and rest[0] in _CONSTANTS:
            return ctx.mpmathify(getattr(ctx, _CONSTANTS[rest[0]]))
        if kind == "Piecewise":
            for pair in rest:
                if pair[0] == "ExprCondPair" and len(pair) == 3 and self.truth(pair[2]):
                    return self.number(pair[1])
            raise NotNumeric("no piece of the Piecewise applies")
        args = [self.number(child) for child in rest] if kind in _NUMERIC_KINDS else None
        if args is None:
            raise NotNumeric(f"it contains {kind}, which the grader does not evaluate")
        return _apply(ctx, kind, args)

    def truth(self, node: list[Any]) -> bool:
        kind, rest = node[0], node[1:]
        if kind == "Const" and rest[0] in ("true", "false"):
            return rest[0] == "true"
        if kind in _COMPARE and len(rest) == 2:
            a, b = (self.number(child) for child in rest)
            if self.ctx.im(a) or self.ctx.im(b):
                raise NotNumeric("a condition compares complex numbers")
            return _COMPARE[kind](self.ctx.re(a), self.ctx.re(b))
        if kind in ("And", "Or"):
            results = (self.truth(child) for child in rest)
            return all(results) if kind == "And" else any(results)
        if kind == "Not" and len(rest) == 1:
            return not self.truth(rest[0])
        raise NotNumeric(f"a condition contains {kind}")


_NUMERIC_KINDS = frozenset((*_UNARY, "Add", "Mul", "Pow", "log", "atan2", "Abs", "sign",
                            "binomial", "Heaviside", "Max", "Min", "Mod", "polar_lift"))


def _apply(ctx: Any, kind: str, args: list[Any]) -> Any:
    """One operation on already-evaluated (finite, bounded) arguments."""
    if kind == "Add":
        return ctx.fsum(args)
    if kind == "Mul":
        return ctx.fprod(args)
    if kind in _UNARY and len(args) == 1:
        return getattr(ctx, _UNARY[kind])(args[0])
    if kind == "Pow" and len(args) == 2:
        base, exponent = args
        if abs(exponent) > MAX_EXPONENT and abs(base) != 1 and base != 0:
            raise NotNumeric("it raises a number to an astronomically large power")
        return ctx.power(base, exponent)
    if kind == "log" and len(args) in (1, 2):
        return ctx.log(args[0]) if len(args) == 1 else ctx.log(args[0]) / ctx.log(args[1])
    real = [_real(ctx, a) for a in args]
    if kind == "atan2" and len(args) == 2:
        return ctx.atan2(*real)
    if kind == "Abs" and len(args) == 1:
        return abs(args[0])
    if kind == "sign" and len(args) == 1:
        return args[0] / abs(args[0]) if args[0] else ctx.mpf(0)
    if kind == "binomial" and len(args) == 2:
        return ctx.binomial(*args)
    if kind == "Heaviside" and len(args) in (1, 2):
        if real[0] == 0:
            return args[1] if len(args) == 2 else ctx.mpf(0.5)
        return ctx.mpf(1 if real[0] > 0 else 0)
    if kind in ("Max", "Min") and args:
        return max(real) if kind == "Max" else min(real)
    if kind == "Mod" and len(args) == 2 and real[1] != 0:
        return real[0] - real[1] * ctx.floor(real[0] / real[1])
    if kind == "polar_lift" and len(args) == 1:
        return args[0]
    raise NotNumeric(f"{kind} with {len(args)} arguments")


def _real(ctx: Any, value: Any) -> Any:
    if ctx.im(value) and not math.isclose(float(abs(ctx.im(value))), 0.0, abs_tol=1e-25):
        return value  # complex: comparisons below raise TypeError, reported as not numeric
    return ctx.re(value)
