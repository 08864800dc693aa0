"""Rebuild sympy expressions from ``srepr`` strings without ``eval``.

Student code produces the strings, so they are parsed with ``ast`` and only calls to sympy
classes with literal arguments are allowed: nothing else can execute.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

import sympy

from autograder.checks.api import CheckFailed
from autograder.payload import Symbolic

_ALLOWED: dict[str, Any] = {
    name: obj for name, obj in vars(sympy).items()
    if inspect.isclass(obj) and issubclass(obj, (sympy.Basic, sympy.MatrixBase))
}
_ALLOWED.update({"Integer": sympy.Integer, "Rational": sympy.Rational, "Float": sympy.Float,
                 "Symbol": sympy.Symbol, "Dummy": sympy.Dummy,
                 "ImmutableDenseMatrix": sympy.ImmutableDenseMatrix,
                 "MutableDenseMatrix": sympy.MutableDenseMatrix})
_CONSTANTS: dict[str, Any] = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo,
                              "zoo": sympy.zoo, "nan": sympy.nan,
                              "EulerGamma": sympy.EulerGamma, "Catalan": sympy.Catalan,
                              "GoldenRatio": sympy.GoldenRatio, "true": sympy.true,
                              "false": sympy.false}
MAX_LENGTH = 2_000_000


def parse_srepr(text: str) -> Any:
    """A sympy object from its ``srepr``; raises ValueError on anything not plain sympy."""
    if len(text) > MAX_LENGTH:
        raise ValueError("expression too large")
    tree = ast.parse(text, mode="eval")
    return _build(tree.body)


def _build(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, str, bool,
                                                                 type(None)):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:  # srepr's bare singletons (pi, oo)
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_build(node.operand)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_build(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _ALLOWED:
        args = [_build(a) for a in node.args]
        kwargs = {k.arg: _build(k.value) for k in node.keywords if k.arg}
        return _ALLOWED[node.func.id](*args, **kwargs)
    raise ValueError(f"unexpected syntax in expression: {ast.dump(node)[:80]}")


def to_sympy(value: Any, what: str) -> Any:
    """Decoded payload value to a sympy object, or CheckFailed naming what was wrong."""
    if not isinstance(value, Symbolic):
        raise CheckFailed(f"{what} should be a sympy expression or Matrix, "
                          f"but it is {type(value).__name__}.")
    try:
        return parse_srepr(value.srepr)
    except Exception as exc:  # noqa: BLE001
        raise CheckFailed(f"{what} could not be read as a sympy expression ({exc}).") from None


def is_zero(expr: Any) -> bool:
    """Symbolic zero test (matrices: every entry), with simplification."""
    if isinstance(expr, sympy.MatrixBase):
        return all(is_zero(e) for e in expr)
    return sympy.simplify(sympy.expand(expr)) == 0
